/*
 * cmd_audit.c - `airlock audit ...`: verify the log, show and query its
 * records, print inclusion and consistency proofs, export for a SIEM,
 * print the latest checkpoint, apply retention, and benchmark appends
 * and verification.
 */
#include "cli/cli.h"
#include "audit/audit.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- options shared by show/query/export ---- */

/*
 * Parses one filter option at argv[i] (--user/--team/--since/--until/
 * --action and its value). Returns the number of arguments used (2), 0
 * when argv[i] is not a filter option, -1 on a bad value.
 */
static int parse_filter_opt(int argc, char **argv, int i, struct aud_query *f,
			    const char *what)
{
	const char *a = argv[i];
	const char *v = i + 1 < argc ? argv[i + 1] : NULL;

	if (!v)
		return 0;
	if (strcmp(a, "--user") == 0) {
		f->user = v;
	} else if (strcmp(a, "--team") == 0) {
		f->team = v;
	} else if (strcmp(a, "--action") == 0) {
		f->action = v;
	} else if (strcmp(a, "--since") == 0 || strcmp(a, "--until") == 0) {
		uint64_t *dst = a[2] == 's' ? &f->since_ns : &f->until_ns;
		if (parse_time_ns(v, dst) != ST_OK) {
			cli_error(what, "%s: '%s' is not a date (YYYY-MM-DD[THH:MM:SSZ]) or an "
				  "age (7d, 12h)", a, v);
			return -1;
		}
	} else {
		return 0;
	}
	return 2;
}

/* show/query/export state */
struct list_arg {
	int table;		/* query: one line per record */
	uint64_t shown;
};

static void fmt_time(uint64_t ns, char *out, size_t n)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int list_cb(void *arg, const struct aud_record *r, const char *line, size_t len)
{
	struct list_arg *a = arg;
	json_t *o;
	const char *who, *team, *what;
	char ts[32];

	a->shown++;
	if (!a->table) {
		fwrite(line, 1, len, stdout);
		fputc('\n', stdout);
		return 0;
	}
	o = r->payload_len ? json_loadb(r->payload, r->payload_len, 0, NULL) : NULL;
	who = json_string_value(json_object_get(o, "user"));
	team = json_string_value(json_object_get(o, "team"));
	what = json_string_value(json_object_get(o, "endpoint"));
	if (!who)
		who = json_string_value(json_object_get(o, "actor"));
	if (!what)
		what = json_string_value(json_object_get(o, "action"));
	if (!what)
		what = json_string_value(json_object_get(o, "event"));
	fmt_time(r->time_ns, ts, sizeof ts);
	printf("%-8llu %s %-9s %-14s %-12s %s\n", (unsigned long long)r->seq, ts,
	       aud_type_name(r->type), who ? who : "-", team ? team : "-", what ? what : "-");
	json_decref(o);
	return 0;
}

static int do_list(struct cli *cli, int argc, char **argv, const char *what, int export)
{
	struct list_arg a;
	struct aud_query q;
	struct err e;
	int i;

	memset(&a, 0, sizeof a);
	aud_query_init(&q);
	for (i = 2; i < argc; i++) {
		int used = parse_filter_opt(argc, argv, i, &q, what);

		if (used < 0)
			return EXIT_USAGE;
		if (used) {
			i += used - 1;
		} else if (export && strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			if (strcmp(argv[++i], "jsonl") != 0) {
				cli_error(what, "--format: only jsonl is supported");
				return EXIT_USAGE;
			}
		} else if (!export && strcmp(what, "audit show") == 0 && argv[i][0] != '-') {
			if (parse_i64(argv[i], 0, INT64_MAX, &q.seq) != ST_OK) {
				cli_error(what, "'%s' is not a record number", argv[i]);
				return EXIT_USAGE;
			}
			q.indent = 1;
		} else {
			cli_error(what, "unknown option '%s' (see airlock audit --help)", argv[i]);
			return EXIT_USAGE;
		}
	}
	a.table = !export && q.seq < 0;
	err_clear(&e);
	if (aud_query_run(cli->data_dir, &q, list_cb, &a, &e) != ST_OK) {
		cli_error_err(what, &e);
		return cli_exit_for(e.st);
	}
	if (q.seq >= 0 && a.shown == 0) {
		cli_error(what, "no record %lld", (long long)q.seq);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* ---- verify ---- */

static int do_verify(struct cli *cli, int argc, char **argv)
{
	struct aud_verify_report rep;
	const char *from = NULL, *key = NULL;
	char *extra = NULL, *keytext = NULL, root[48];
	size_t extra_len = 0, kl;
	struct err e;
	status_t st;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--from-checkpoint") == 0 && i + 1 < argc)
			from = argv[++i];
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else {
			cli_error("audit verify", "unknown option '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	err_clear(&e);
	if (from && file_read_all(from, 1 << 20, &extra, &extra_len, &e) != ST_OK) {
		cli_error_err("audit verify", &e);
		return EXIT_IO;
	}
	if (key && file_read_all(key, 4096, &keytext, &kl, &e) != ST_OK) {
		mem_free(extra);
		cli_error_err("audit verify", &e);
		return EXIT_IO;
	}
	st = aud_verify(cli->data_dir, extra, extra_len, keytext, &rep, &e);
	mem_free(extra);
	mem_free(keytext);
	printf("records: %llu in %llu segments (%llu pruned to their leaf hash)\n",
	       (unsigned long long)rep.records, (unsigned long long)rep.segments,
	       (unsigned long long)rep.tombstones);
	if (st == ST_OK) {
		base64_encode(rep.root, AUD_HASH_LEN, root);
		printf("checkpoints: %llu verified, covering %llu records\n",
		       (unsigned long long)rep.checkpoints, (unsigned long long)rep.checked_size);
		printf("root: %s\n", root);
		if (rep.checkpoints == 0)
			printf("note: no signed checkpoint yet; integrity rests on CRCs only\n");
		printf("audit log: OK\n");
		return EXIT_OK;
	}
	if (st != ST_VERIFY) {
		cli_error_err("audit verify", &e);
		return cli_exit_for(st);
	}
	if (rep.bad_seq_hi > rep.bad_seq)
		printf("FIRST BAD: records %llu..%llu (%s)\n", (unsigned long long)rep.bad_seq,
		       (unsigned long long)rep.bad_seq_hi, rep.bad_file);
	else
		printf("FIRST BAD: record %llu (%s, offset %llu)\n", (unsigned long long)rep.bad_seq,
		       rep.bad_file, (unsigned long long)rep.bad_offset);
	printf("why: %s\n", rep.reason);
	printf("audit log: FAILED verification\n");
	return EXIT_FAIL;
}

/* ---- proofs ---- */

static int tree_cb(void *arg, const struct aud_record *r)
{
	return aud_tree_append(arg, r->leaf_hash) != ST_OK;
}

/* Rebuilds the tree and opens the latest checkpoint with the log's key. */
static int load_tree(struct cli *cli, const char *what, struct aud_tree *t,
		     struct aud_checkpoint *c, struct buf *note)
{
	struct aud_verifier v;
	char path[4200], *text = NULL;
	size_t len;
	struct err e;

	err_clear(&e);
	aud_tree_init(t);
	snprintf(path, sizeof path, "%s/keys/audit.pub", cli->data_dir);
	if (file_read_all(path, 4096, &text, &len, &e) != ST_OK ||
	    aud_verifier_parse(&v, text, &e) != ST_OK) {
		mem_free(text);
		cli_error_err(what, &e);
		return EXIT_IO;
	}
	mem_free(text);
	if (aud_checkpoint_latest(cli->data_dir, note, &e) != ST_OK ||
	    aud_checkpoint_open(&v, note->data, note->len, c, &e) != ST_OK) {
		cli_error_err(what, &e);
		return cli_exit_for(e.st);
	}
	if (aud_scan(cli->data_dir, tree_cb, t, &e) != ST_OK) {
		cli_error_err(what, &e);
		return cli_exit_for(e.st);
	}
	return EXIT_OK;
}

static int do_proof(struct cli *cli, int argc, char **argv)
{
	struct aud_tree t;
	struct aud_checkpoint c;
	struct buf note, out;
	int64_t idx;
	struct err e;
	int rc;

	if (argc != 3 || parse_i64(argv[2], 0, INT64_MAX, &idx) != ST_OK) {
		cli_error("audit proof", "usage: airlock audit proof N");
		return EXIT_USAGE;
	}
	buf_init(&note, 0);
	buf_init(&out, 0);
	if ((rc = load_tree(cli, "audit proof", &t, &c, &note)) == EXIT_OK) {
		err_clear(&e);
		if (aud_inclusion_json(&t, (uint64_t)idx, &c, buf_cstr(&note), &out, &e) != ST_OK) {
			cli_error_err("audit proof", &e);
			rc = e.st == ST_VERIFY ? EXIT_DATA : EXIT_FAIL;
		} else {
			puts(buf_cstr(&out));
		}
	}
	aud_tree_release(&t);
	buf_release(&note);
	buf_release(&out);
	return rc;
}

static int do_consistency(struct cli *cli, int argc, char **argv)
{
	struct aud_tree t;
	struct aud_checkpoint c;
	struct buf note, out;
	int64_t s1, s2;
	struct err e;
	int rc;

	if (argc != 4 || parse_i64(argv[2], 0, INT64_MAX, &s1) != ST_OK ||
	    parse_i64(argv[3], 0, INT64_MAX, &s2) != ST_OK) {
		cli_error("audit consistency", "usage: airlock audit consistency OLD NEW");
		return EXIT_USAGE;
	}
	buf_init(&note, 0);
	buf_init(&out, 0);
	if ((rc = load_tree(cli, "audit consistency", &t, &c, &note)) == EXIT_OK) {
		err_clear(&e);
		if (aud_consistency_json(&t, (uint64_t)s1, (uint64_t)s2, &out, &e) != ST_OK) {
			cli_error_err("audit consistency", &e);
			rc = EXIT_FAIL;
		} else {
			puts(buf_cstr(&out));
		}
	}
	aud_tree_release(&t);
	buf_release(&note);
	buf_release(&out);
	return rc;
}

/* ---- checkpoint, prune ---- */

static int do_checkpoint(struct cli *cli)
{
	struct buf note;
	struct err e;

	buf_init(&note, 0);
	err_clear(&e);
	if (aud_checkpoint_latest(cli->data_dir, &note, &e) != ST_OK) {
		cli_error_err("audit checkpoint", &e);
		buf_release(&note);
		return cli_exit_for(e.st);
	}
	fputs(buf_cstr(&note), stdout);
	buf_release(&note);
	return EXIT_OK;
}

static int do_prune(struct cli *cli, int argc, char **argv)
{
	struct aud_options o;
	struct aud_log *log = NULL;
	int64_t days = config_int(cli->cfg, "audit.retention_days");
	uint64_t pruned, horizon;
	struct err e;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
			if (parse_i64(argv[++i], 0, 36500, &days) != ST_OK) {
				cli_error("audit prune", "--days wants 0..36500");
				return EXIT_USAGE;
			}
		} else {
			cli_error("audit prune", "unknown option '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (days == 0) {
		printf("retention is off (audit.retention_days = 0): nothing pruned\n");
		return EXIT_OK;
	}
	horizon = time_wall_ns() - (uint64_t)days * 86400ull * 1000000000ull;
	aud_options_from_config(&o, cli->cfg);
	err_clear(&e);
	if (aud_log_open(cli->data_dir, &o, &log, &e) != ST_OK ||
	    aud_log_prune(log, horizon, &pruned, &e) != ST_OK) {
		aud_log_close(log);
		cli_error_err("audit prune", &e);
		return cli_exit_for(e.st);
	}
	aud_log_close(log);
	printf("pruned %llu records older than %lld days (leaf hashes kept)\n",
	       (unsigned long long)pruned, (long long)days);
	return EXIT_OK;
}

/* ---- bench ---- */

struct bench_arg {
	struct aud_log *log;
	int n;
	int fail;
};

static void *bench_writer(void *p)
{
	struct bench_arg *a = p;
	static const char rec[] = "{\"kind\":\"request\",\"id\":\"bench\",\"user\":\"u\","
				  "\"team\":\"t\",\"prompt_tokens\":100,\"output_tokens\":20}";

	for (int i = 0; i < a->n; i++)
		if (aud_log_append(a->log, AUD_T_EVENT, rec, sizeof rec - 1, NULL, NULL) != ST_OK)
			a->fail++;
	return NULL;
}

/* Appends total records from n_threads writers; returns records/s. */
static double bench_appends(const char *dir, int n_threads, int total, int durable,
			    uint64_t *fsyncs)
{
	struct aud_options o;
	struct aud_log *log;
	struct bench_arg args[64];
	pthread_t th[64];

	if (n_threads > 64)
		n_threads = 64;
	struct aud_stats s;
	uint64_t t0, t1;

	aud_options_default(&o);
	o.durable = durable;
	o.checkpoint_every = 0;
	o.checkpoint_ms = 0;
	if (aud_log_open(dir, &o, &log, NULL) != ST_OK)
		return -1;
	t0 = time_mono_ns();
	for (int i = 0; i < n_threads; i++) {
		args[i] = (struct bench_arg){ log, total / n_threads, 0 };
		pthread_create(&th[i], NULL, bench_writer, &args[i]);
	}
	for (int i = 0; i < n_threads; i++)
		pthread_join(th[i], NULL);
	t1 = time_mono_ns();
	aud_log_stats(log, &s);
	*fsyncs = s.fsyncs;
	aud_log_close(log);
	return (double)(total / n_threads * n_threads) / ((double)(t1 - t0) / 1e9);
}

static int do_bench(struct cli *cli, int argc, char **argv)
{
	char d1[4200], d2[4200], d3[4200], d4[4200];
	int64_t n_verify = 1000000, n_durable = 20000, many = 64;
	struct aud_verify_report rep;
	uint64_t t0, fs1, fs8, fsr;
	double one, eight, relaxed;
	struct err e;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--records") == 0 && i + 1 < argc &&
		    parse_i64(argv[i + 1], 1, 100000000, &n_verify) == ST_OK)
			i++;
		else if (strcmp(argv[i], "--durable") == 0 && i + 1 < argc &&
			 parse_i64(argv[i + 1], 8, 10000000, &n_durable) == ST_OK)
			i++;
		else if (strcmp(argv[i], "--writers") == 0 && i + 1 < argc &&
			 parse_i64(argv[i + 1], 1, 64, &many) == ST_OK)
			i++;
		else {
			cli_error("audit bench", "usage: airlock audit bench [--records N] "
				  "[--durable N] [--writers N]");
			return EXIT_USAGE;
		}
	}
	snprintf(d1, sizeof d1, "%s/bench-1", cli->data_dir);
	snprintf(d2, sizeof d2, "%s/bench-8", cli->data_dir);
	snprintf(d3, sizeof d3, "%s/bench-verify", cli->data_dir);
	snprintf(d4, sizeof d4, "%s/bench-many", cli->data_dir);
	printf("audit bench in %s (durable appends: %lld records each run)\n", cli->data_dir,
	       (long long)n_durable);
	one = bench_appends(d1, 1, (int)(n_durable / 4), 1, &fs1);
	printf("  1 writer,  fsync per record : %10.0f appends/s (%llu fsyncs)\n", one,
	       (unsigned long long)fs1);
	eight = bench_appends(d2, 8, (int)n_durable, 1, &fs8);
	printf("  8 writers, group commit     : %10.0f appends/s (%llu fsyncs, %.1f records "
	       "each)\n", eight, (unsigned long long)fs8,
	       fs8 ? (double)n_durable / (double)fs8 : 0.0);
	if (many != 8) {
		double r = bench_appends(d4, (int)many, (int)n_durable, 1, &fsr);
		printf(" %2lld writers, group commit     : %10.0f appends/s (%llu fsyncs, %.1f records "
		       "each)\n", (long long)many, r, (unsigned long long)fsr,
		       fsr ? (double)n_durable / (double)fsr : 0.0);
	}
	relaxed = bench_appends(d3, 8, (int)n_verify, 0, &fsr);
	printf("  8 writers, fsync off        : %10.0f appends/s (building %lld records)\n",
	       relaxed, (long long)n_verify);
	err_clear(&e);
	{
		/* verify wants a key in the bench dir: it was created there */
		t0 = time_mono_ns();
		if (aud_verify(d3, NULL, 0, NULL, &rep, &e) != ST_OK) {
			cli_error_err("audit bench", &e);
			return EXIT_FAIL;
		}
		printf("  verify %llu records       : %10.2f s\n", (unsigned long long)rep.records,
		       (double)(time_mono_ns() - t0) / 1e9);
	}
	return EXIT_OK;
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub) {
		fputs(cli_command_find("audit")->usage, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(sub, "verify") == 0)
		return do_verify(cli, argc, argv);
	if (strcmp(sub, "show") == 0)
		return do_list(cli, argc, argv, "audit show", 0);
	if (strcmp(sub, "query") == 0)
		return do_list(cli, argc, argv, "audit query", 0);
	if (strcmp(sub, "export") == 0)
		return do_list(cli, argc, argv, "audit export", 1);
	if (strcmp(sub, "proof") == 0)
		return do_proof(cli, argc, argv);
	if (strcmp(sub, "consistency") == 0)
		return do_consistency(cli, argc, argv);
	if (strcmp(sub, "checkpoint") == 0)
		return do_checkpoint(cli);
	if (strcmp(sub, "prune") == 0)
		return do_prune(cli, argc, argv);
	if (strcmp(sub, "bench") == 0)
		return do_bench(cli, argc, argv);
	cli_error("audit", "unknown subcommand '%s' (see airlock audit --help)", sub);
	return EXIT_USAGE;
}
