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
	{ "server.slots", CFG_INT, "4", 1, 256, NULL,
	  "sequences generated at once (each keeps model.n_ctx tokens of KV cache)" },
	{ "server.queue_size", CFG_INT, "64", 1, 100000, NULL,
	  "requests waiting for a slot; more get 429 with Retry-After" },
	{ "server.batch_tokens", CFG_INT, "512", 1, 65536, NULL,
	  "prompt tokens one slot evaluates per step (long prompts take several)" },
	{ "server.prompt_cache", CFG_BOOL, "true", NOB, NULL,
	  "reuse a slot's KV cache for a prompt sharing its prefix" },
	{ "server.max_tokens", CFG_INT, "256", 1, 1 << 20, NULL,
	  "tokens generated when a request does not say" },
	{ "server.team_max_concurrent", CFG_INT, "0", 0, 100000, NULL,
	  "requests a team may have queued or running (0: unlimited; per-team override)" },
	{ "server.team_tokens_per_minute", CFG_INT, "0", 0, (int64_t)1 << 40, NULL,
	  "prompt + generated tokens a team may use per minute (0: unlimited)" },
	{ "server.max_connections", CFG_INT, "256", 1, 100000, NULL,
	  "open HTTP connections (one thread each)" },
	{ "server.idle_timeout", CFG_DURATION, "30s", 1000, 3600000, NULL,
	  "a client silent this long (stalled upload or read) is dropped" },

	/* model */
	{ "model.path", CFG_STR, "", NOB, NULL,
	  "GGUF model file (empty: serve from the index model)" },
	{ "model.n_ctx", CFG_INT, "4096", 16, 1 << 20, NULL,
	  "context length in tokens per sequence" },
	{ "model.kv_cache", CFG_ENUM, "f16", NOB, "f16|f32|q8_0",
	  "KV cache element type (q8_0: about half the memory of f16)" },

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
	{ "telemetry.http_queue", CFG_INT, "1024", 1, 1000000, NULL,
	  "events the http sink holds in memory; when full the oldest is dropped (counted)" },
	{ "telemetry.http_batch", CFG_INT, "100", 1, 10000, NULL,
	  "events per POST of the http sink" },
	{ "telemetry.http_flush_interval", CFG_DURATION, "1s", 10, 3600000, NULL,
	  "longest an event waits in the http sink for a full batch" },
	{ "telemetry.http_timeout", CFG_DURATION, "5s", 100, 600000, NULL,
	  "deadline of one POST of the http sink (connect, send, status line)" },
	{ "telemetry.http_close_wait", CFG_DURATION, "5s", 10, 600000, NULL,
	  "how long shutdown may spend delivering what the http sink holds" },

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
