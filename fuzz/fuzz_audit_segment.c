/*
 * fuzz_audit_segment.c - libFuzzer target: arbitrary bytes as an audit
 * segment. Scans and verifies it read-only, opens the log for writing
 * (recovery cuts what is torn or corrupt at the tail), appends, closes,
 * and verifies again; the same bytes are also parsed as a signed note
 * and a checkpoint. Nothing may crash, leak or read out of bounds.
 */
#include "audit/audit.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[128];

static int count_cb(void *arg, const struct aud_record *r)
{
	(void)r;
	++*(int *)arg;
	return 0;
}

/* Removes the files of dir/sub (not directories). */
static void clean(const char *sub)
{
	char p[512];
	DIR *d;
	struct dirent *de;

	snprintf(p, sizeof p, "%s/%s", dir, sub);
	d = opendir(p);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char f[1024];
		if (de->d_name[0] == '.' || strcmp(de->d_name, "checkpoints") == 0)
			continue;
		snprintf(f, sizeof f, "%s/%s", p, de->d_name);
		unlink(f);
	}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aud_verify_report rep;
	struct aud_log *log = NULL;
	struct aud_verifier v;
	struct aud_checkpoint c;
	char seg[512];
	FILE *f;
	size_t tl;
	int n = 0;
	struct aud_options opt;

	if (!dir[0]) {
		/* tmpfs when there is one: the writer fsyncs checkpoints */
		snprintf(dir, sizeof dir, "%s/airlock-fuzz-audit-%ld",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
		log_setup(LOG_OFF, LOG_FMT_HUMAN, NULL);
		/* first open creates the key and directories */
		if (aud_log_open(dir, NULL, &log, NULL) == ST_OK)
			aud_log_close(log);
		log = NULL;
	}
	aud_options_default(&opt);
	opt.durable = 0;	/* speed: durability is the crash test's business */
	clean("audit");
	clean("audit/checkpoints");
	snprintf(seg, sizeof seg, "%s/audit/seg-00000000000000000000.log", dir);
	f = fopen(seg, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);

	aud_scan(dir, count_cb, &n, NULL);
	aud_verify(dir, NULL, 0, NULL, &rep, NULL);
	if (aud_log_open(dir, &opt, &log, NULL) == ST_OK) {
		aud_log_append(log, AUD_T_EVENT, "{}", 2, NULL, NULL);
		aud_log_close(log);
		aud_verify(dir, NULL, 0, NULL, &rep, NULL);
	}

	if (aud_verifier_parse(&v, "airlock.local/audit+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			       NULL) != ST_OK) {
		/* the key hash will not match; parse a real one from the data dir */
		char p[512], *t = NULL;
		size_t l;
		snprintf(p, sizeof p, "%s/keys/audit.pub", dir);
		if (file_read_all(p, 4096, &t, &l, NULL) == ST_OK)
			aud_verifier_parse(&v, t, NULL);
		mem_free(t);
	}
	aud_note_open(&v, (const char *)data, size, &tl, NULL);
	aud_checkpoint_open(&v, (const char *)data, size, &c, NULL);
	return 0;
}
