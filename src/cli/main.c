/*
 * main.c - `airlock <command>`: global options, the command table, and the
 * one place that decides the process's exit code.
 */
#include "cli/cli.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct command commands[] = {
	{ "audit", cmd_audit, "verify, query, prove and export the audit log",
	  "usage: airlock audit verify [--from-checkpoint FILE] [--key VERIFIER-KEY-FILE]\n"
	  "       airlock audit show [N] [filters]\n"
	  "       airlock audit query [filters]\n"
	  "       airlock audit proof N\n"
	  "       airlock audit consistency OLD NEW\n"
	  "       airlock audit export --format jsonl [filters]\n"
	  "       airlock audit checkpoint\n"
	  "       airlock audit prune [--days N]\n"
	  "       airlock audit bench [--records N] [--durable N]\n"
	  "\n"
	  "verify       check every record (framing, CRC, sequence) and every signed\n"
	  "             checkpoint against the Merkle tree; reports the first bad\n"
	  "             record and why (exit 1). --from-checkpoint also checks a\n"
	  "             checkpoint kept elsewhere, proving nothing before it changed\n"
	  "show N       one record in full (JSON); without N, like query\n"
	  "query        one line per record: seq, time, type, user, team, what\n"
	  "proof N      inclusion proof of record N in the latest signed checkpoint\n"
	  "consistency  proof that the tree of OLD records is a prefix of NEW\n"
	  "export       records as JSON lines, for a SIEM\n"
	  "checkpoint   print the latest signed checkpoint (C2SP tlog-checkpoint)\n"
	  "prune        drop contents older than audit.retention_days (or --days),\n"
	  "             keeping each record's leaf hash so proofs still verify\n"
	  "bench        measure durable appends/s and verify speed (in --data DIR)\n"
	  "\n"
	  "filters: --user U  --team T  --action A (admin action or policy action)\n"
	  "         --since/--until YYYY-MM-DD[THH:MM:SSZ] or an age (7d, 12h)\n"
	  "the verifier key is <data>/keys/audit.pub (name+keyhash+base64 key)\n" },
	{ "bench", cmd_bench, "measure inference speed of a model file on this machine",
	  "usage: airlock bench -m FILE [-t N] [-p N] [-n N] [--ctx-depth N] [--reps R]\n"
	  "             [--kv f16|f32|q8_0] [--batch N] [--kernels scalar|avx2|avx512]\n"
	  "             [--bandwidth GB/S | --bw-mib N --bw-threads N] [--json]\n"
	  "\n"
	  "Measures how fast the engine runs FILE here, and how close that is to\n"
	  "what the machine's memory allows. Each figure is the median of R timed\n"
	  "runs (default 3) after one warm-up run; the prompt and generated tokens\n"
	  "are random ids from a fixed seed, as llama.cpp's llama-bench feeds.\n"
	  "Run it on an otherwise idle machine: anything else running skews it.\n"
	  "\n"
	  "figures\n"
	  "  ppP          prompt tokens/s: P tokens (-p, default 512) evaluated in\n"
	  "               one batched call from an empty KV cache\n"
	  "  tgN          generation tokens/s: N tokens (-n, default 128) evaluated\n"
	  "               one per call from an empty cache, logits for each\n"
	  "  tgN@D        the same N tokens after D tokens of context (--ctx-depth,\n"
	  "               default 4096; 0 skips it): the cache is filled once, then\n"
	  "               cut back to D before each run; JSON tg_tps_ctx4096 (named\n"
	  "               for the default depth; ctx_depth says which was used)\n"
	  "  bandwidth    memory read bandwidth: a vectorised read kernel (AVX2 if\n"
	  "               the CPU has it) over a buffer 16x the last-level cache\n"
	  "               (256 MiB..1 GiB, --bw-mib; on 2 MB pages where the\n"
	  "               kernel allows) with --bw-threads threads (default 2),\n"
	  "               median of 11 passes, in a child process so\n"
	  "               its buffer stays out of the peak RSS; measured before\n"
	  "               and after the runs, the higher counts (a read kernel\n"
	  "               finds at most what memory gives, and the figure moves\n"
	  "               over seconds to minutes on shared machines); the same\n"
	  "               child also reads it (5 passes) right before each tgN\n"
	  "               run and after the last; --bandwidth GB/S uses a known\n"
	  "               figure instead\n"
	  "  bytes/token  what one generated token must read: every weight tensor\n"
	  "               once (of the embedding table one row, unless it is also\n"
	  "               the output matrix) plus the KV cache so far (mean over\n"
	  "               the N tokens)\n"
	  "  roofline     bandwidth / bytes per token: the generation speed memory\n"
	  "               allows; 'reached' (JSON roofline_fraction) is tgN / it;\n"
	  "               'paired' (roofline_fraction_paired) the median over the\n"
	  "               runs of each run's tokens/s against the bandwidth read\n"
	  "               beside it (the mean of the reads before and after):\n"
	  "               what memory gave while that run ran\n"
	  "  peak RSS     the process's resident high-water mark (VmHWM), with the\n"
	  "               budget file size + KV cache + 10 % beside it\n"
	  "  2 MB pages   the share of the resident weights mapped with 2 MB pages\n"
	  "               (JSON weights_2mb_page_fraction): the loader re-reads a\n"
	  "               file cached on 4 KB pages once to get them, unless\n"
	  "               AIRLOCK_MODEL_HUGEPAGES=0; 4 KB pages decode slower\n"
	  "\n"
	  "options\n"
	  "  -m FILE           GGUF model\n"
	  "  -t N              engine threads (default 2)\n"
	  "  -r, --reps R      timed runs per figure (default 3)\n"
	  "  --kv f16|f32|q8_0 KV cache element type (default f16, as llama.cpp;\n"
	  "                    q8_0 needs a head size that is a multiple of 32)\n"
	  "  --batch N         tokens per internal batch (default: the engine's)\n"
	  "  --kernels LEVEL   force the kernels of a dispatch level\n"
	  "  --json            one JSON object: pp_tps, tg_tps, tg_tps_ctx4096,\n"
	  "                    peak_rss_bytes, bandwidth_bytes_per_s, roofline_tps,\n"
	  "                    roofline_fraction, per-run samples, type_mix, ...\n" },
	{ "config", cmd_config, "check or show the configuration",
	  "usage: airlock config check [FILE]\n"
	  "       airlock config show\n"
	  "\n"
	  "check   validate FILE (or --config / AIRLOCK_CONFIG) against the schema;\n"
	  "        errors name file:line:column, exit code 2\n"
	  "show    print the effective configuration and where each value came from\n"
	  "        (default, file or environment)\n" },
	{ "context", cmd_context, "ranked code and document snippets for a cursor",
	  "usage: airlock context --repo R --path F --prefix-file P [--suffix-file S]\n"
	  "                       [--top K] [--budget TOKENS] [--json]\n"
	  "\n"
	  "Retrieves what helps complete the buffer at the cursor: definitions of\n"
	  "the identifiers around it and of what the file imports, BM25 matches over\n"
	  "identifier-split tokens, and the documents linked to the file. P and S\n"
	  "hold the buffer text before and after the cursor (it may differ from the\n"
	  "file on disk); results never come from F itself. --json prints an array\n"
	  "of {repo, path, start_line, end_line, score, kind, name, sources, text}.\n" },
	{ "context-bench", cmd_context_bench, "retrieval benchmark on the indexed code",
	  "usage: airlock context-bench [--tasks N]\n"
	  "\n"
	  "Masks lines that call a function defined in another file and reports\n"
	  "recall@1/5/10 and MRR of the defining chunk for BM25 alone and for the\n"
	  "hybrid retrieval, and query latency. Figures, not pass/fail.\n" },
	{ "docs", cmd_docs, "decisions, standards, incidents, runbooks that apply to a path",
	  "usage: airlock docs PATH [--repo R] [--json]\n"
	  "\n"
	  "Lists the organisational documents linked to PATH: by the `paths` globs of\n"
	  "their front matter or by mentioning symbols defined in the file.\n" },
	{ "doctor", cmd_doctor, "show and probe the sandbox this machine enforces",
	  "usage: airlock doctor [--json]\n"
	  "\n"
	  "Prints what the kernel enforces for this machine and configuration\n"
	  "(Landlock ABI, seccomp, network namespace, listening address, egress\n"
	  "allowlist, paths) and proves it: in forked children, without and then\n"
	  "with the lockdown that `serve` applies, it tries a TCP connect to a\n"
	  "listening but non-allowlisted loopback port, TCP Fast Open, a new bind,\n"
	  "a UDP send, raw/packet/netlink/unix sockets, io_uring, bpf and a write\n"
	  "outside the data directory, and names the layer that blocked each\n"
	  "(landlock: EACCES, seccomp: EPERM).\n"
	  "\n"
	  "--json   the same as one JSON object\n"
	  "\n"
	  "exit 0 when every layer is enforced and every probe blocked, else 1\n" },
	{ "generate", cmd_generate, "run a model on a prompt and stream the text",
	  "usage: airlock generate -m FILE -p TEXT [--suffix TEXT] [--chat] [-n N]\n"
	  "                        [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
	  "                        [--repeat-penalty R] [--seed S] [--stop STR]...\n"
	  "                        [-c N] [-t N] [--kv f16|f32|q8_0] [--ids] [--no-escape]\n"
	  "\n"
	  "Streams the generated text (not the prompt) to stdout as it is produced.\n"
	  "  -p TEXT          prompt; tokenized with BOS and control tokens parsed\n"
	  "  --suffix TEXT    fill-in-the-middle: -p is the code before the cursor,\n"
	  "                   TEXT the code after (models with FIM tokens only)\n"
	  "  --chat           send -p as a user message in the model's chat template\n"
	  "  -n N             most tokens to generate (default 128)\n"
	  "  --temp T         temperature, 0 for greedy (default 0.8)\n"
	  "  --top-k K        default 40 (0: off); --top-p P default 0.95;\n"
	  "  --min-p P        default 0.05; --repeat-penalty R default 1 (off)\n"
	  "  --seed S         random seed (default 0); same seed, same output\n"
	  "  --stop STR       end when STR is generated (not printed); repeatable\n"
	  "  -c N             context size (default: the model's, at most 4096)\n"
	  "  -t N             threads (default: all CPUs)\n"
	  "  --kv TYPE        KV cache element type: f16 (default), f32, or q8_0\n"
	  "                   (about half of f16; needs heads of a multiple of 32)\n"
	  "  --ids            print the generated token ids to stderr at the end\n"
	  "  --no-escape      take \\n, \\t, \\xHH in TEXT literally\n" },
	{ "help", cmd_help, "show help for a command",
	  "usage: airlock help [COMMAND]\n" },
	{ "index", cmd_index, "index repositories for context retrieval",
	  "usage: airlock index PATH... [--name REPO] [--threads N]\n"
	  "\n"
	  "Registers each PATH as a repository (named REPO or its folder name) and\n"
	  "brings its index up to date: .gitignore files and context.exclude are\n"
	  "honoured; binaries, vendored and generated files and files over\n"
	  "context.max_file_size are skipped and counted by reason. A re-run reads\n"
	  "only changed files. Ctrl-C stops after the current batch; the index stays\n"
	  "usable and the next run finishes it. Then rebuilds the n-gram index.\n"
	  "\n"
	  "Runs in the sandbox (see airlock doctor): reads only the PATHs and system\n"
	  "files, writes only the data directory, connects nowhere.\n"
	  "--allow-unsandboxed  run even if the kernel lacks Landlock or seccomp\n" },
	{ "keygen", cmd_keygen, "make an Ed25519 key pair for signing bundles",
	  "usage: airlock keygen [--force] [FILE]\n"
	  "\n"
	  "Writes FILE (private key, mode 0600) and FILE.pub (public key), one\n"
	  "line of base64 each. FILE defaults to <data>/keys/bundle.key; --force\n"
	  "replaces an existing key.\n" },
	{ "policy", cmd_policy, "lint, check, test and sign policy bundles",
	  "usage: airlock policy lint DIR [--require-signature --trusted-key PUB]\n"
	  "       airlock policy check [--bundle DIR] [--team T] [--repo R] [--lang L]\n"
	  "                            [--path P] [--json] [--no-defaults] FILE|-\n"
	  "       airlock policy test DIR\n"
	  "       airlock policy sign DIR --key FILE\n"
	  "       airlock policy keygen [--out FILE]\n"
	  "\n"
	  "lint    load and compile a bundle (every *.yaml outside tests/); errors name\n"
	  "        file:line:column and the rule id; exit 3 on a broken bundle\n"
	  "check   apply a bundle (default: the built-in secret rules) to FILE;\n"
	  "        findings as file:line:col, or JSON with --json; exit 0 when nothing\n"
	  "        worse than allow, 1 for warn, 5 for redact, regenerate or block\n"
	  "test    run the rule tests in DIR/tests/: lines annotated `// ruleid: ID`\n"
	  "        (or `# ruleid: ID`) must get a finding of ID on the next line,\n"
	  "        `// ok: ID` must not; any missed or extra finding fails\n"
	  "sign    write DIR/bundle.sig: Ed25519 over the SHA-256 of every file\n"
	  "keygen  create a signing key FILE (0600) and FILE.pub\n"
	  "\n"
	  "--require-signature       refuse unsigned or wrongly signed bundles\n"
	  "--trusted-key PUB         a public key (file from keygen) signatures must use\n"
	  "--no-hyperscan            match regex rules with PCRE2 alone\n"
	  "See docs/POLICY.md for the bundle format.\n" },
	{ "provenance", cmd_provenance, "index reference corpora for provenance rules",
	  "usage: airlock provenance index --name NAME --licence LABEL PATH...\n"
	  "       airlock provenance list\n"
	  "\n"
	  "index   build the reference corpus NAME (files under each PATH; hidden\n"
	  "        entries, symlinks and binary files skipped) into\n"
	  "        <data>/provenance/NAME.*, labelled with LABEL (e.g. GPL-3.0-only);\n"
	  "        kept apart from the organisation's own index, rebuilt whole\n"
	  "list    the corpora built so far\n"
	  "\n"
	  "A policy rule `kind: provenance` with `corpus: NAME` reports generated\n"
	  "code that copies at least min_chars (150) characters or min_lines (10)\n"
	  "lines of the corpus, whitespace-normalised, naming file, line and licence.\n"
	  "See docs/POLICY.md.\n" },
	{ "model", cmd_model, "describe, synthesise or import a GGUF model",
	  "usage: airlock model info FILE [--sha256]\n"
	  "       airlock model synth --arch llama|qwen2 --layers N --dim D --heads H\n"
	  "             [--kv-heads K] --ffn F --vocab-from FILE.gguf [--type T]\n"
	  "             [--seed S] [--ctx N] [--tied|--untied] [--rope-base B]\n"
	  "             [--rope-scale F] [--rope-freqs] [--biases] -o OUT.gguf\n"
	  "       airlock model import FILE [--name NAME]\n"
	  "\n"
	  "info    architecture, parameters, tensor types, size, context length,\n"
	  "        tokenizer, FIM and chat support, whether the engine can run it;\n"
	  "        --sha256 adds the file's SHA-256\n"
	  "synth   write a model with seeded random weights and the tokenizer of\n"
	  "        --vocab-from; T is f32 (default), f16, bf16, q8_0, q4_0, q4_1,\n"
	  "        q5_0, q5_1, q4_K, q5_K, q6_K, or a mix as llama.cpp's presets\n"
	  "        make it: q4_K_M, q5_K_M (q6_K output, attn_v and ffn_down in\n"
	  "        some layers); qwen2 ties the output to the embedding unless\n"
	  "        --untied; --rope-scale writes linear RoPE scaling, --rope-freqs\n"
	  "        Llama 3 style frequency factors (llama), --biases the optional\n"
	  "        attention and FFN biases (llama)\n"
	  "import  copy FILE into <data>/models/ and record its name, SHA-256,\n"
	  "        architecture and size in <data>/models/manifest.json; a changed\n"
	  "        file under a known name is reported\n" },
	{ "serve", cmd_serve, "run the HTTP server (OpenAI and llama.cpp APIs)",
	  "usage: airlock serve [--model FILE] [--listen ADDR] [--no-prompt-cache]\n"
	  "                     [--allow-unsandboxed]\n"
	  "\n"
	  "Serves POST /v1/completions, /v1/chat/completions, /infill, /v1/context,\n"
	  "/v1/events, GET /v1/models, /v1/status, /metrics, /healthz, /readyz and the\n"
	  "admin routes /v1/admin/* (docs/API.md). Every route but the health checks\n"
	  "needs 'Authorization: Bearer TOKEN' (airlock token create). Every generation\n"
	  "is in the audit log before its answer completes.\n"
	  "\n"
	  "--model FILE      GGUF model (default: model.path; none: the index model of\n"
	  "                  `airlock index` answers completions, else they get 503\n"
	  "                  'no model loaded')\n"
	  "--listen ADDR     address:port, e.g. 127.0.0.1:8080 or [::1]:8080 (default:\n"
	  "                  server.listen); port 0 picks a free port, printed at start\n"
	  "--no-prompt-cache never reuse a slot's KV cache (for measurements)\n"
	  "--allow-unsandboxed  start even if the kernel lacks Landlock or seccomp\n"
	  "                  (logged); otherwise the server refuses\n"
	  "\n"
	  "After binding, the process locks itself down: no outbound connection but\n"
	  "egress.allow, writes only in the data directory (airlock doctor shows it).\n"
	  "TLS: set server.tls_cert and server.tls_key. Limits: server.* in the config\n"
	  "(airlock config show). Stops on SIGINT or SIGTERM.\n" },
	{ "owners", cmd_owners, "owners of a path (CODEOWNERS)",
	  "usage: airlock owners PATH [--repo R] [--json]\n" },
	{ "search", cmd_search, "BM25 search over indexed code and documents",
	  "usage: airlock search QUERY... [--top K] [--json]\n"
	  "\n"
	  "Identifiers are split, so `parseHttpRequest` finds parse_http_request.\n" },
	{ "sign-bundle", cmd_sign_bundle, "sign an unpacked bundle's SHA256SUMS",
	  "usage: airlock sign-bundle DIR [--key FILE]\n"
	  "\n"
	  "Writes DIR/SHA256SUMS.sig, the Ed25519 signature over DIR/SHA256SUMS,\n"
	  "with FILE (default <data>/keys/bundle.key). scripts/dist.sh uses it.\n" },
	{ "team", cmd_team, "add or list teams",
	  "usage: airlock team add NAME [--max-concurrent N] [--tokens-per-minute N]\n"
	  "       airlock team list\n"
	  "\n"
	  "Limits of 0 use the server's defaults (server.team_max_concurrent,\n"
	  "server.team_tokens_per_minute).\n" },
	{ "token", cmd_token, "create, revoke or list API tokens",
	  "usage: airlock token create --user USER [--expires 30d]\n"
	  "       airlock token revoke ID\n"
	  "       airlock token list\n"
	  "\n"
	  "create prints the new token once on stdout; only its SHA-256 is stored.\n"
	  "Durations: 30d, 12h, 90m, 3600s.\n" },
	{ "symbols", cmd_symbols, "where a symbol is defined",
	  "usage: airlock symbols NAME [--json]\n" },
	{ "usage", cmd_usage, "usage analytics: requests, tokens, acceptance, latency",
	  "usage: airlock usage [--team T] [--user U] [--model M] [--since D] [--daily]\n"
	  "\n"
	  "Prints, from the local usage store (<data>/airlock.db), the number of\n"
	  "requests, prompt and output tokens, prompt-cache hits, the acceptance\n"
	  "rate of completions ((accepted + partial) / shown) and latency\n"
	  "percentiles. --since takes YYYY-MM-DD or an age (7d, 12h); --daily adds\n"
	  "one line per day, team, user and model.\n" },
	{ "tokenize", cmd_tokenize, "show how a model tokenizes a text",
	  "usage: airlock tokenize -m FILE [--ids] [--no-bos] [--no-parse-special]\n"
	  "                        [--no-escape] [--show-count] (TEXT | -f FILE)\n"
	  "\n"
	  "Prints one line per token, \"    id -> 'piece'\", or with --ids the list of\n"
	  "ids as llama.cpp's llama-tokenize does (\"[1, 403, 407]\").\n"
	  "  -m FILE             a GGUF model or vocabulary file\n"
	  "  --ids               print only the ids\n"
	  "  --no-bos            do not add BOS (or EOS) even where the model does\n"
	  "  --no-parse-special  control tokens written in the text stay text\n"
	  "  --no-escape         take \\n, \\t, \\xHH in TEXT literally\n"
	  "  --show-count        print the number of tokens at the end\n"
	  "  -f FILE             read the text from FILE\n" },
	{ "user", cmd_user, "add or list users",
	  "usage: airlock user add NAME [--team TEAM] [--role admin|member]\n"
	  "       airlock user list\n"
	  "\n"
	  "The role is member unless given; admins may use the /v1/admin routes.\n" },
	{ "verify-bundle", cmd_verify_bundle, "check an offline bundle before install",
	  "usage: airlock verify-bundle TARBALL|DIR --pubkey FILE\n"
	  "\n"
	  "Checks the Ed25519 signature over SHA256SUMS with the public key FILE\n"
	  "(brought separately, never taken from the bundle), then every file's\n"
	  "SHA-256, and that the bundle holds no file, symlink or device that\n"
	  "SHA256SUMS does not list. A tarball is unpacked into a private\n"
	  "temporary directory first.\n"
	  "\n"
	  "exit 0 when the bundle is intact, 3 when it is not\n" },
	{ "version", cmd_version, "print version, revision, build flags, CPU features",
	  "usage: airlock version\n" },
};

static const char global_usage[] =
	"usage: airlock [--config FILE] [--data DIR] <command> [args]\n"
	"\n"
	"airlock is a self-hosted AI coding assistant: model inference, code\n"
	"context, policy and audit, all inside this machine.\n"
	"\n"
	"global options (any command):\n"
	"  --config FILE   configuration file (env AIRLOCK_CONFIG)\n"
	"  --data DIR      data directory (env AIRLOCK_DATA; default\n"
	"                  $XDG_DATA_HOME/airlock or ~/.local/share/airlock)\n"
	"  -h, --help      this help; `airlock help COMMAND` for a command's\n"
	"\n"
	"exit codes: 0 ok, 1 failed/findings, 2 usage or config error,\n"
	"3 bad input data, 4 I/O, 5 denied, 70 internal error\n"
	"\n"
	"commands:\n";

const struct command *cli_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

void cli_error(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "airlock: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_error_err(const char *what, const struct err *e)
{
	char line[1024];

	err_format(e, line, sizeof line);
	fprintf(stderr, "airlock: %s: %s\n", what, line);
}

int cli_exit_for(status_t st)
{
	switch (st) {
	case ST_OK: return EXIT_OK;
	case ST_INVAL: case ST_CONFIG: return EXIT_USAGE;
	case ST_CORRUPT: case ST_UNSUPPORTED: case ST_VERIFY: return EXIT_DATA;
	case ST_IO: case ST_NOMEM: case ST_LIMIT: case ST_NOTFOUND:
	case ST_EXISTS: case ST_BUSY: case ST_TIMEOUT: return EXIT_IO;
	case ST_PERM: case ST_AUTH: case ST_DENIED: return EXIT_DENIED;
	case ST_INTERNAL: return EXIT_INTERNAL;
	default: return EXIT_FAIL;
	}
}

int cli_wants_help(const struct command *cmd, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(cmd->usage, stdout);
			return 1;
		}
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct command *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Lists the commands alphabetically, whatever the table's order. */
static void print_global_help(FILE *f)
{
	enum { N = sizeof commands / sizeof commands[0] };
	const struct command *sorted[N];

	for (size_t i = 0; i < N; i++)
		sorted[i] = &commands[i];
	qsort(sorted, N, sizeof sorted[0], by_name);
	fputs(global_usage, f);
	for (size_t i = 0; i < N; i++)
		fprintf(f, "  %-14s %s\n", sorted[i]->name, sorted[i]->summary);
}

int cmd_help(struct cli *cli, int argc, char **argv)
{
	const struct command *c;

	(void)cli;
	if (argc < 2) {
		print_global_help(stdout);
		return EXIT_OK;
	}
	c = cli_command_find(argv[1]);
	if (!c) {
		cli_error("help", "unknown command '%s'", argv[1]);
		return EXIT_USAGE;
	}
	fputs(c->usage, stdout);
	return EXIT_OK;
}

/* The default data directory: $XDG_DATA_HOME/airlock or ~/.local/share/airlock. */
static const char *default_data_dir(char *out, size_t n)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");

	if (xdg && *xdg)
		snprintf(out, n, "%s/airlock", xdg);
	else if (home && *home)
		snprintf(out, n, "%s/.local/share/airlock", home);
	else
		snprintf(out, n, "./airlock-data");
	return out;
}

int main(int argc, char **argv)
{
	struct cli cli = { .prog = "airlock" };
	struct err e;
	char defdata[4096];
	const struct command *cmd;
	const char *env;
	int i, rc;

	/* JSON goes through core's allocator too, so fault injection reaches it. */
	json_set_alloc_funcs(mem_alloc, mem_free);
	cli.config_path = (env = getenv("AIRLOCK_CONFIG")) && *env ? env : NULL;
	cli.data_dir = (env = getenv("AIRLOCK_DATA")) && *env ? env : NULL;

	/* Global options come before the command. */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			print_global_help(stdout);
			return EXIT_OK;
		} else if (strcmp(a, "--version") == 0) {
			return cmd_version(&cli, 1, (char *[]){ "version", NULL });
		} else if (strcmp(a, "--config") == 0 || strcmp(a, "--data") == 0) {
			if (i + 1 >= argc) {
				cli_error(a + 2, "option needs a value");
				return EXIT_USAGE;
			}
			if (a[2] == 'c')
				cli.config_path = argv[++i];
			else
				cli.data_dir = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			cli.config_path = a + 9;
		} else if (strncmp(a, "--data=", 7) == 0) {
			cli.data_dir = a + 7;
		} else {
			cli_error("usage", "unknown option '%s' (see airlock --help)", a);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		print_global_help(stderr);
		return EXIT_USAGE;
	}
	cmd = cli_command_find(argv[i]);
	if (!cmd) {
		cli_error("usage", "unknown command '%s' (see airlock --help)", argv[i]);
		return EXIT_USAGE;
	}
	if (cli_wants_help(cmd, argc - i, argv + i))
		return EXIT_OK;

	log_setup(LOG_INFO, LOG_FMT_AUTO, NULL);
	/* `config check FILE` loads its own file; everything else loads here. */
	err_clear(&e);
	if (config_load(cli.config_path, &cli.cfg, &e) != ST_OK) {
		if (strcmp(cmd->name, "config") != 0 && strcmp(cmd->name, "help") != 0 &&
		    strcmp(cmd->name, "version") != 0) {
			cli_error_err("config", &e);
			return EXIT_USAGE;
		}
		cli.cfg = NULL;
	}
	if (cli.cfg) {
		int lvl = log_level_parse(config_str(cli.cfg, "log.level"));
		const char *fmt = config_str(cli.cfg, "log.format");
		log_setup(lvl < 0 ? LOG_INFO : (enum log_level)lvl,
			  strcmp(fmt, "json") == 0 ? LOG_FMT_JSON :
			  strcmp(fmt, "human") == 0 ? LOG_FMT_HUMAN : LOG_FMT_AUTO,
			  NULL);
		if (!cli.data_dir && config_str(cli.cfg, "data.dir")[0])
			cli.data_dir = config_str(cli.cfg, "data.dir");
	}
	if (!cli.data_dir)
		cli.data_dir = default_data_dir(defdata, sizeof defdata);

	rc = cmd->fn(&cli, argc - i, argv + i);
	config_free(cli.cfg);
	return rc;
}
