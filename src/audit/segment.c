/*
 * segment.c - the bytes on disk: frame encoding and parsing (see the
 * tables in audit.h), segment and checkpoint listings, the signing key
 * files, and the replaceable I/O hooks.
 */
#include "audit/audit_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ssize_t sys_write(int fd, const void *p, size_t n)
{
	return write(fd, p, n);
}

static int sys_fsync(int fd)
{
	return fdatasync(fd);
}

struct aud__io aud__io = { sys_write, sys_fsync };

void aud__io_reset(void)
{
	aud__io.write = sys_write;
	aud__io.fsync = sys_fsync;
}

void aud__put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void aud__put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t aud__get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t aud__get_u64(const uint8_t *p)
{
	return (uint64_t)aud__get_u32(p) | (uint64_t)aud__get_u32(p + 4) << 32;
}

static uint32_t frame_crc(const uint8_t hdr[AUD_FRAME_HDR], const void *payload, uint32_t n)
{
	uint32_t c = crc32c(0, hdr, 4);

	c = crc32c(c, hdr + 8, AUD_FRAME_HDR - 8);
	return crc32c(c, payload, n);
}

void aud__frame_header(uint8_t hdr[AUD_FRAME_HDR], uint8_t type, uint64_t seq,
		       uint64_t time_ns, const void *payload, uint32_t n)
{
	aud__put_u32(hdr, n);
	hdr[8] = type;
	aud__put_u64(hdr + 9, seq);
	aud__put_u64(hdr + 17, time_ns);
	aud__put_u32(hdr + 4, frame_crc(hdr, payload, n));
}

void aud__frame_leaf(const uint8_t hdr[AUD_FRAME_HDR], const void *payload, uint32_t n,
		     uint8_t out[AUD_HASH_LEN])
{
	struct sha256 h;
	uint8_t z = 0;

	if (hdr[8] == AUD_T_TOMBSTONE && n == 1 + AUD_HASH_LEN) {
		memcpy(out, (const uint8_t *)payload + 1, AUD_HASH_LEN);
		return;
	}
	sha256_begin(&h);
	sha256_add(&h, &z, 1);
	sha256_add(&h, hdr + 8, AUD_FRAME_HDR - 8);
	sha256_add(&h, payload, n);
	sha256_end(&h, out);
}

static int type_known(uint8_t t)
{
	return t == AUD_T_REQUEST || t == AUD_T_ADMIN || t == AUD_T_RECOVERY ||
	       t == AUD_T_EVENT || t == AUD_T_TOMBSTONE;
}

enum aud__parse aud__frame_parse(const uint8_t *p, size_t avail, uint64_t want_seq,
				 struct aud__frame *f, char *why, size_t why_n)
{
	uint32_t n;

	if (avail < AUD_FRAME_HDR) {
		snprintf(why, why_n, "record header cut short (%zu of %d bytes)", avail,
			 AUD_FRAME_HDR);
		return AUD__FRAME_SHORT;
	}
	n = aud__get_u32(p);
	if (n > AUD_MAX_PAYLOAD) {
		snprintf(why, why_n, "record length %u exceeds the limit %u", n, AUD_MAX_PAYLOAD);
		return AUD__FRAME_BAD;
	}
	if (avail - AUD_FRAME_HDR < n) {
		snprintf(why, why_n, "record of %u bytes cut short (%zu bytes left)", n,
			 avail - AUD_FRAME_HDR);
		return AUD__FRAME_SHORT;
	}
	if (frame_crc(p, p + AUD_FRAME_HDR, n) != aud__get_u32(p + 4)) {
		snprintf(why, why_n, "CRC mismatch: record bytes were altered");
		return AUD__FRAME_BAD;
	}
	f->type = p[8];
	f->seq = aud__get_u64(p + 9);
	f->time_ns = aud__get_u64(p + 17);
	f->payload = p + AUD_FRAME_HDR;
	f->n = n;
	f->total = AUD_FRAME_HDR + (size_t)n;
	if (!type_known(f->type)) {
		snprintf(why, why_n, "unknown record type %u", f->type);
		return AUD__FRAME_BAD;
	}
	if (f->type == AUD_T_TOMBSTONE && n != 1 + AUD_HASH_LEN) {
		snprintf(why, why_n, "tombstone of %u bytes, want %d", n, 1 + AUD_HASH_LEN);
		return AUD__FRAME_BAD;
	}
	if (f->seq != want_seq) {
		snprintf(why, why_n,
			 "record has seq %llu where seq %llu belongs: a record was deleted, "
			 "reordered or inserted",
			 (unsigned long long)f->seq, (unsigned long long)want_seq);
		return AUD__FRAME_BAD;
	}
	aud__frame_leaf(p, f->payload, n, f->leaf_hash);
	return AUD__FRAME_OK;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void aud__names_free(struct vec *names)
{
	for (size_t i = 0; i < names->len; i++)
		mem_free(VEC_AT(names, char *, i));
	vec_release(names);
}

/* Lists names in dir matching prefix + 20 digits + suffix, sorted. */
static status_t list_names(const char *dir, const char *prefix, const char *suffix,
			   struct vec *names, struct err *e)
{
	DIR *d;
	struct dirent *de;
	size_t pl = strlen(prefix), sl = strlen(suffix);

	vec_init(names, sizeof(char *));
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return ST_OK;
		return err_set(e, errno == EACCES ? ST_PERM : ST_IO, "%s: %s", dir,
			       strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), i;
		char *copy;

		if (l != pl + 20 + sl || strncmp(de->d_name, prefix, pl) != 0 ||
		    strcmp(de->d_name + pl + 20, suffix) != 0)
			continue;
		for (i = pl; i < pl + 20; i++)
			if (de->d_name[i] < '0' || de->d_name[i] > '9')
				break;
		if (i != pl + 20)
			continue;
		copy = mem_strdup(de->d_name);
		if (!copy || vec_push(names, &copy) != ST_OK) {
			mem_free(copy);
			closedir(d);
			aud__names_free(names);
			return err_set(e, ST_NOMEM, "listing %s: out of memory", dir);
		}
	}
	closedir(d);
	if (names->len)
		qsort(names->data, names->len, sizeof(char *), cmp_names);
	return ST_OK;
}

status_t aud__segments_list(const char *auddir, struct vec *names, struct err *e)
{
	return list_names(auddir, "seg-", ".log", names, e);
}

status_t aud__checkpoints_list(const char *auddir, struct vec *names, struct err *e)
{
	char d[4200];

	snprintf(d, sizeof d, "%s/checkpoints", auddir);
	return list_names(d, "", "", names, e);
}

status_t aud__vkey_load(const char *data_dir, struct aud_verifier *v, struct err *e)
{
	char path[4200], *text = NULL;
	size_t len;
	status_t st;

	snprintf(path, sizeof path, "%s/keys/audit.pub", data_dir);
	if ((st = file_read_all(path, 4096, &text, &len, e)) != ST_OK)
		return err_set(e, st, "%s: cannot read the audit verifier key", path);
	st = aud_verifier_parse(v, text, e);
	mem_free(text);
	return st;
}

status_t aud__key_load(const char *data_dir, const char *name, int create,
		       struct aud_signer *s, struct err *e)
{
	char dir[4200], path[4300], pubpath[4300], text[512], vtext[512];
	char *data = NULL;
	struct stat sb;
	size_t len;
	uint8_t seed[ED25519_KEY_LEN];
	status_t st;

	snprintf(dir, sizeof dir, "%s/keys", data_dir);
	snprintf(path, sizeof path, "%s/audit.key", dir);
	snprintf(pubpath, sizeof pubpath, "%s/audit.pub", dir);
	if (stat(path, &sb) == 0) {
		if (sb.st_mode & 077)
			return err_set(e, ST_PERM,
				       "%s: signing key is readable by others (mode %03o); "
				       "chmod 600 it", path, (unsigned)(sb.st_mode & 0777));
		if ((st = file_read_all(path, 4096, &data, &len, e)) != ST_OK)
			return st;
		st = aud_signer_parse(s, data, e);
		memset(data, 0, len);
		mem_free(data);
		if (st != ST_OK)
			return err_set(e, st, "%s: %s", path, e ? e->msg : "bad key");
		if (stat(pubpath, &sb) != 0) {
			aud_verifier_format(s, vtext, sizeof vtext);
			len = strlen(vtext);
			vtext[len] = '\n';
			return file_write_atomic(pubpath, vtext, len + 1, 0644, e);
		}
		return ST_OK;
	}
	if (errno != ENOENT)
		return err_set(e, ST_IO, "%s: %s", path, strerror(errno));
	if (!create)
		return err_set(e, ST_NOTFOUND, "%s: no audit signing key", path);
	if ((st = file_mkdirs(dir, 0700, e)) != ST_OK)
		return st;
	if ((st = random_bytes(seed, sizeof seed)) != ST_OK)
		return err_set(e, st, "no randomness for the audit key");
	if ((st = aud_signer_init(s, name, seed, e)) != ST_OK)
		return st;
	memset(seed, 0, sizeof seed);
	aud_signer_format(s, text, sizeof text);
	len = strlen(text);
	text[len++] = '\n';
	st = file_write_atomic(path, text, len, 0600, e);
	memset(text, 0, sizeof text);
	if (st != ST_OK)
		return st;
	aud_verifier_format(s, vtext, sizeof vtext);
	LOG_INFO("audit.key_created", LF_STR("path", path), LF_STR("verifier", vtext));
	len = strlen(vtext);
	vtext[len++] = '\n';
	if ((st = file_write_atomic(pubpath, vtext, len, 0644, e)) != ST_OK)
		return st;
	return ST_OK;
}
