/*
 * config_schema.c - every setting airlock reads, with its type, default,
 * bounds and help. The environment override of "a.b_c" is AIRLOCK_A_B_C.
 * Keep rows grouped by section; `airlock config show` prints them in order.
 */
#include "core/core.h"

#include <stdint.h>

#define NOB 0, 0

static const struct cfg_setting schema[] = {
	/* data directory and logging */
	{ "data.dir", CFG_STR, "", NOB, NULL,
	  "data directory (empty: --data, AIRLOCK_DATA or the per-user default)" },
	{ "log.level", CFG_ENUM, "info", NOB, "debug|info|warn|error|off",
	  "lowest level written to the log" },
	{ "log.format", CFG_ENUM, "auto", NOB, "auto|human|json",
	  "auto: human on a terminal, JSON lines otherwise" },

	/* server */
	{ "server.listen", CFG_STR, "127.0.0.1:8080", NOB, NULL,
	  "address:port the HTTP server listens on" },
	{ "server.threads", CFG_INT, "0", 0, 1024, NULL,
	  "inference threads (0: one per online CPU)" },
	{ "server.tls_cert", CFG_STR, "", NOB, NULL,
	  "PEM certificate file; with tls_key enables HTTPS" },
	{ "server.tls_key", CFG_STR, "", NOB, NULL, "PEM private key file" },
	{ "server.max_body", CFG_SIZE, "4M", 1024, (int64_t)1 << 30, NULL,
	  "largest request body accepted (larger: 413)" },
	{ "server.request_timeout", CFG_DURATION, "120s", 100, 86400000, NULL,
	  "deadline of one request" },

	/* model */
	{ "model.path", CFG_STR, "", NOB, NULL,
	  "GGUF model file (empty: serve from the index model)" },
	{ "model.n_ctx", CFG_INT, "4096", 16, 1 << 20, NULL,
	  "context length in tokens per sequence" },

	/* audit */
	{ "audit.store_content", CFG_BOOL, "false", NOB, NULL,
	  "keep prompt and output text in the audit log (else hashes only)" },
	{ "audit.retention_days", CFG_INT, "365", 0, 36500, NULL,
	  "days after which record contents are pruned (0: keep forever)" },
	{ "audit.fsync", CFG_ENUM, "always", NOB, "always|off",
	  "always: a request's record is fsynced (group commit) before it completes" },
	{ "audit.checkpoint_every", CFG_INT, "1000", 0, 100000000, NULL,
	  "records between signed checkpoints (0: only by time)" },
	{ "audit.checkpoint_interval", CFG_DURATION, "60s", 0, 86400000, NULL,
	  "longest time between signed checkpoints (0: only by count)" },
	{ "audit.segment_size", CFG_SIZE, "64M", 4096, (int64_t)1 << 34, NULL,
	  "audit segment file size before rolling to a new one" },
	{ "audit.origin", CFG_STR, "", NOB, NULL,
	  "checkpoint origin and signing key name (empty: airlock.local/audit)" },

	/* telemetry */
	{ "telemetry.sinks", CFG_LIST, "", NOB, NULL,
	  "usage event export sinks, off unless named: jsonl, syslog, http" },
	{ "telemetry.jsonl_path", CFG_STR, "", NOB, NULL,
	  "file the jsonl sink appends to (empty: <data>/telemetry/events.jsonl)" },
	{ "telemetry.syslog_socket", CFG_STR, "/dev/log", NOB, NULL,
	  "Unix datagram socket of the syslog sink" },
	{ "telemetry.http_url", CFG_STR, "", NOB, NULL,
	  "OTLP/JSON endpoint of the http sink; its host:port must be in egress.allow" },

	/* context engine */
	{ "context.exclude", CFG_LIST, "", NOB, NULL,
	  "gitignore-style patterns never indexed (e.g. build/,*.gen.c)" },
	{ "context.max_file_size", CFG_SIZE, "1M", 1024, (int64_t)1 << 30, NULL,
	  "files larger than this are skipped (counted as too_large)" },
	{ "context.doc_roots", CFG_LIST,
	  "docs/adr,docs/decisions,adr,decisions,docs/standards,standards,docs/incidents,incidents,docs/runbooks,runbooks,docs/policies,policies",
	  NOB, NULL,
	  "folders (relative to a repository) holding decisions, standards, incidents, runbooks, policies" },
	{ "context.batch_files", CFG_INT, "64", 1, 100000, NULL,
	  "files written per index transaction" },
	{ "context.threads", CFG_INT, "0", 0, 1024, NULL,
	  "indexing threads (0: one per online CPU)" },
	{ "context.top_k", CFG_INT, "10", 1, 1000, NULL,
	  "snippets returned by retrieval" },
	{ "context.token_budget", CFG_INT, "2048", 0, 1 << 20, NULL,
	  "token budget of retrieved context (0: no budget)" },

	/* policy */
	{ "policy.bundle", CFG_STR, "", NOB, NULL,
	  "policy bundle directory (empty: the built-in secret rules only)" },
	{ "policy.require_signature", CFG_BOOL, "false", NOB, NULL,
	  "refuse policy bundles that are unsigned or not signed by a trusted key" },
	{ "policy.trusted_keys", CFG_LIST, "", NOB, NULL,
	  "public key files (airlock policy keygen) that may sign policy bundles" },

	/* sealed boundary */
	{ "egress.allow", CFG_LIST, "", NOB, NULL,
	  "the only outbound destinations (host:port), e.g. an upstream server" },
	{ "sandbox.read_paths", CFG_LIST, "", NOB, NULL,
	  "extra paths readable after lockdown: model files, repositories to index" },
	{ "sandbox.write_paths", CFG_LIST, "", NOB, NULL,
	  "extra paths writable after lockdown (the data directory always is)" },
	{ "sandbox.allow_unix", CFG_BOOL, "false", NOB, NULL,
	  "allow new Unix-domain sockets after lockdown (a syslog sink needs them)" },
};

const struct cfg_setting *config_schema(size_t *n)
{
	*n = sizeof schema / sizeof schema[0];
	return schema;
}
