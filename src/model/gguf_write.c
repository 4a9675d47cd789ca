/*
 * gguf_write.c - streamed GGUF v3 writer. Metadata and tensor infos are
 * gathered in memory (they are small); the first data write emits the
 * header, after which tensor bytes go straight to the file in declaration
 * order, each tensor aligned to 32 bytes. So a model of any size is
 * written with a few rows in memory. The file appears under its name only
 * when complete (temporary file, fsync, rename).
 */
#include "model/model_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WRITE_ALIGN 32

struct wtensor {
	char *name;
	uint32_t type, n_dims;
	int64_t ne[MDL_MAX_DIMS];
	uint64_t offset;	/* in the data section */
	uint64_t size;		/* bytes */
};

struct mdl_gguf_writer {
	char *path, *tmp;
	int fd;
	struct buf kv;		/* serialised metadata entries */
	uint64_t n_kv;
	struct hmap keys;	/* keys written, to refuse duplicates */
	struct vec tensors;	/* struct wtensor */
	uint64_t data_size;	/* next free offset in the data section */
	int started;		/* header written */
	size_t cur;		/* tensor being filled */
	uint64_t cur_done;	/* bytes of it written */
	status_t st;		/* first error of a setter, reported at finish */
};

status_t mdl_gguf_writer_new(const char *path, struct mdl_gguf_writer **out,
			     struct err *e)
{
	*out = NULL;
	struct mdl_gguf_writer *w = mem_calloc(1, sizeof *w);
	if (!w)
		return err_set(e, ST_NOMEM, "gguf write: out of memory");
	w->fd = -1;
	buf_init(&w->kv, 0);
	hmap_init(&w->keys);
	vec_init(&w->tensors, sizeof(struct wtensor));
	size_t n = strlen(path);
	w->path = mem_strdup(path);
	w->tmp = mem_alloc(n + 5);
	if (!w->path || !w->tmp) {
		mdl_gguf_writer_abort(w);
		return err_set(e, ST_NOMEM, "gguf write: out of memory");
	}
	snprintf(w->tmp, n + 5, "%s.tmp", path);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		int en = errno;
		mdl_gguf_writer_abort(w);
		return err_set(e, ST_IO, "gguf write: cannot create %s.tmp: %s", path, strerror(en));
	}
	*out = w;
	return ST_OK;
}

static void put_u32(struct mdl_gguf_writer *w, uint32_t v)
{
	if (!w->st)
		w->st = buf_append(&w->kv, &v, 4);
}

static void put_u64(struct mdl_gguf_writer *w, uint64_t v)
{
	if (!w->st)
		w->st = buf_append(&w->kv, &v, 8);
}

static void put_str(struct mdl_gguf_writer *w, const char *s, size_t n)
{
	put_u64(w, n);
	if (!w->st && n)
		w->st = buf_append(&w->kv, s, n);
}

/* Records key as written; ST_EXISTS (not sticky) if it already was. */
static status_t key_new(struct mdl_gguf_writer *w, const char *key)
{
	size_t n = strlen(key);
	if (w->started)
		return w->st = ST_INVAL;
	if (n == 0 || hmap_get(&w->keys, key, n, NULL) == ST_OK)
		return ST_EXISTS;
	if (hmap_put(&w->keys, key, n, NULL))
		return w->st = ST_NOMEM;
	return ST_OK;
}

static status_t kv_head(struct mdl_gguf_writer *w, const char *key, uint32_t type)
{
	status_t st = key_new(w, key);
	if (st)
		return st;
	put_str(w, key, strlen(key));
	put_u32(w, type);
	w->n_kv++;
	return w->st;
}

status_t mdl_gguf_writer_set_u32(struct mdl_gguf_writer *w, const char *key, uint32_t v)
{
	status_t st = kv_head(w, key, MDL_GGUF_U32);
	if (st)
		return st;
	put_u32(w, v);
	return w->st;
}

status_t mdl_gguf_writer_set_i32(struct mdl_gguf_writer *w, const char *key, int32_t v)
{
	status_t st = kv_head(w, key, MDL_GGUF_I32);
	if (st)
		return st;
	put_u32(w, (uint32_t)v);
	return w->st;
}

status_t mdl_gguf_writer_set_f32(struct mdl_gguf_writer *w, const char *key, float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	status_t st = kv_head(w, key, MDL_GGUF_F32);
	if (st)
		return st;
	put_u32(w, u);
	return w->st;
}

status_t mdl_gguf_writer_set_bool(struct mdl_gguf_writer *w, const char *key, int v)
{
	status_t st = kv_head(w, key, MDL_GGUF_BOOL);
	if (st)
		return st;
	if (!w->st)
		w->st = buf_putc(&w->kv, v ? 1 : 0);
	return w->st;
}

status_t mdl_gguf_writer_set_str(struct mdl_gguf_writer *w, const char *key,
				 const char *s, size_t len)
{
	status_t st = kv_head(w, key, MDL_GGUF_STRING);
	if (st)
		return st;
	put_str(w, s, len);
	return w->st;
}

status_t mdl_gguf_writer_copy_kv(struct mdl_gguf_writer *w,
				 const struct mdl_gguf *src, size_t i)
{
	const uint8_t *p;
	size_t n;
	const char *key = mdl_gguf_key(src, i);
	if (!key)
		return ST_INVAL;
	status_t st = key_new(w, key);
	if (st)
		return st;
	st = mdl__gguf_kv_raw(src, i, &p, &n);
	if (st)
		return w->st = st;
	if (!w->st)
		w->st = buf_append(&w->kv, p, n);
	w->n_kv++;
	return w->st;
}

status_t mdl_gguf_writer_add_tensor(struct mdl_gguf_writer *w, const char *name,
				    uint32_t type, uint32_t n_dims, const int64_t *ne)
{
	struct wtensor t = { .type = type, .n_dims = n_dims };
	/* Bad arguments are refused without spoiling the writer. */
	if (w->started)
		return w->st = ST_INVAL;
	if (n_dims < 1 || n_dims > MDL_MAX_DIMS || !mdl_ggml_type_known(type))
		return ST_INVAL;
	int64_t nel = 1;
	for (uint32_t d = 0; d < MDL_MAX_DIMS; d++) {
		t.ne[d] = d < n_dims ? ne[d] : 1;
		if (t.ne[d] <= 0 || nel > INT64_MAX / t.ne[d])
			return ST_INVAL;
		nel *= t.ne[d];
	}
	int64_t bs = mdl_ggml_type_block(type);
	if (t.ne[0] % bs)
		return ST_INVAL;
	t.size = (uint64_t)(nel / bs) * (uint64_t)mdl_ggml_type_size(type);
	t.offset = w->data_size;
	w->data_size += (t.size + WRITE_ALIGN - 1) / WRITE_ALIGN * WRITE_ALIGN;
	if (!(t.name = mem_strdup(name)))
		return w->st = ST_NOMEM;
	if ((w->st = vec_push(&w->tensors, &t))) {
		mem_free(t.name);
		return w->st;
	}
	return ST_OK;
}

static status_t write_header(struct mdl_gguf_writer *w, struct err *e)
{
	struct buf h;
	buf_init(&h, 0);
	uint32_t version = 3;
	uint64_t nt = w->tensors.len;
	status_t st = buf_append(&h, "GGUF", 4);
	if (!st) st = buf_append(&h, &version, 4);
	if (!st) st = buf_append(&h, &nt, 8);
	if (!st) st = buf_append(&h, &w->n_kv, 8);
	if (!st && w->kv.len) st = buf_append(&h, w->kv.data, w->kv.len);
	for (size_t i = 0; i < w->tensors.len && !st; i++) {
		const struct wtensor *t = vec_at(&w->tensors, i);
		uint64_t n = strlen(t->name);
		st = buf_append(&h, &n, 8);
		if (!st) st = buf_append(&h, t->name, n);
		if (!st) st = buf_append(&h, &t->n_dims, 4);
		for (uint32_t d = 0; d < t->n_dims && !st; d++)
			st = buf_append(&h, &t->ne[d], 8);
		if (!st) st = buf_append(&h, &t->type, 4);
		if (!st) st = buf_append(&h, &t->offset, 8);
	}
	while (!st && h.len % WRITE_ALIGN)
		st = buf_putc(&h, 0);
	if (!st)
		st = file_write_full(w->fd, h.data, h.len);
	buf_release(&h);
	if (st)
		return err_set(e, w->st = st, "gguf write: cannot write the header of %s%s", w->tmp,
			       st == ST_LIMIT ? ": disk full" : "");
	w->started = 1;
	return ST_OK;
}

static status_t write_pad(struct mdl_gguf_writer *w, uint64_t size)
{
	static const uint8_t zeros[WRITE_ALIGN];
	size_t pad = (size_t)((WRITE_ALIGN - size % WRITE_ALIGN) % WRITE_ALIGN);
	return pad ? file_write_full(w->fd, zeros, pad) : ST_OK;
}

status_t mdl_gguf_writer_write(struct mdl_gguf_writer *w, const void *p, size_t n,
			       struct err *e)
{
	const uint8_t *b = p;
	if (w->st)
		return err_set(e, w->st, "gguf write: an earlier step failed (%s)", status_str(w->st));
	if (!w->started && write_header(w, e))
		return w->st;
	while (n > 0) {
		if (w->cur >= w->tensors.len)
			return err_set(e, w->st = ST_INVAL, "gguf write: more data than the tensors declared");
		const struct wtensor *t = vec_at(&w->tensors, w->cur);
		uint64_t left = t->size - w->cur_done;
		size_t k = n < left ? n : (size_t)left;
		status_t st = file_write_full(w->fd, b, k);
		if (st)
			return err_set(e, w->st = st, "gguf write: cannot write %s: %s", w->tmp,
				       st == ST_LIMIT ? "disk full" : strerror(errno));
		b += k;
		n -= k;
		w->cur_done += k;
		if (w->cur_done == t->size) {
			st = write_pad(w, t->size);
			if (st)
				return err_set(e, w->st = st, "gguf write: cannot write %s%s", w->tmp,
					       st == ST_LIMIT ? ": disk full" : "");
			w->cur++;
			w->cur_done = 0;
		}
	}
	return ST_OK;
}

status_t mdl_gguf_writer_finish(struct mdl_gguf_writer *w, struct err *e)
{
	status_t st = w->st;
	if (st) {
		err_set(e, st, "gguf write: %s: %s", w->path, status_str(st));
	} else if (!w->started && (st = write_header(w, e))) {
		/* reported */
	} else if (w->cur != w->tensors.len) {
		st = err_set(e, ST_INVAL, "gguf write: tensor %zu of %zu has no data",
			     w->cur, w->tensors.len);
	} else if ((st = file_sync(w->fd)) != ST_OK || close(w->fd) != 0) {
		if (!st) {
			w->fd = -1;
			st = ST_IO;
		}
		err_set(e, st, "gguf write: cannot sync %s: %s", w->tmp,
			st == ST_LIMIT ? "disk full" : strerror(errno));
	} else {
		w->fd = -1;
		if (rename(w->tmp, w->path) != 0)
			st = err_set(e, ST_IO, "gguf write: cannot rename %s to %s: %s", w->tmp,
				     w->path, strerror(errno));
	}
	if (st) {
		mdl_gguf_writer_abort(w);
		return st;
	}
	mem_free(w->tmp);
	w->tmp = NULL;
	mdl_gguf_writer_abort(w);
	return ST_OK;
}

void mdl_gguf_writer_abort(struct mdl_gguf_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp)
		unlink(w->tmp);
	for (size_t i = 0; i < w->tensors.len; i++)
		mem_free(((struct wtensor *)vec_at(&w->tensors, i))->name);
	vec_release(&w->tensors);
	buf_release(&w->kv);
	hmap_release(&w->keys);
	mem_free(w->tmp);
	mem_free(w->path);
	mem_free(w);
}
