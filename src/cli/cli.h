/*
 * cli.h - the airlock command line: one file per command (cmd_<verb>.c),
 * each registered in the one table in main.c.
 */
#ifndef AIRLOCK_CLI_H
#define AIRLOCK_CLI_H

#include "core/core.h"

/* Exit codes; each means one thing across all commands. */
enum cli_exit {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* the command ran and found a problem */
	EXIT_USAGE = 2,		/* bad arguments or a bad config file */
	EXIT_DATA = 3,		/* bad or corrupt input data */
	EXIT_IO = 4,		/* I/O, permission or resource failure */
	EXIT_DENIED = 5,	/* refused: policy, auth, sandbox */
	EXIT_INTERNAL = 70,	/* a bug */
};

/* What every command receives: global options and the loaded config. */
struct cli {
	const char *prog;	/* "airlock" */
	const char *config_path;	/* --config / AIRLOCK_CONFIG, or NULL */
	const char *data_dir;	/* --data / AIRLOCK_DATA / data.dir / default */
	struct config *cfg;	/* effective configuration; never NULL */
};

struct command {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv);
	const char *summary;	/* one line for `airlock --help` */
	const char *usage;	/* full help for `airlock help NAME` / --help */
};

/* Prints "airlock: <what>: <message>" to stderr in the one error format. */
void cli_error(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints an error from e (with its location when known). */
void cli_error_err(const char *what, const struct err *e);
/* Maps a status to the command's exit code. */
int cli_exit_for(status_t st);
/* Returns 1 when argv holds -h or --help (and prints the command's usage). */
int cli_wants_help(const struct command *cmd, int argc, char **argv);
/* Looks a command up by name; NULL if unknown. */
const struct command *cli_command_find(const char *name);

/*
 * Turns the escapes \n \r \t \\ \' \" \xHH of a command-line text into
 * their bytes, in place, as llama.cpp's tools do; returns the new length
 * (cmd_tokenize.c).
 */
size_t cli_unescape(char *s, size_t n);

/*
 * A context look-up command (ctx_lookup.c): `airlock WHAT ARG [--repo R]
 * [--json]` runs run() on the store and prints each hit with print(), or
 * the result as JSON. Exit 0 with hits, EXIT_FAIL with none.
 */
struct ctx;
struct ctx_hit;
struct ctx_result;
struct cli_lookup {
	const char *what;	/* command name, for errors */
	const char *noun;	/* "PATH", "NAME": what ARG is */
	int takes_repo;		/* accepts --repo R */
	status_t (*run)(struct ctx *c, const char *repo, const char *arg,
			struct ctx_result *r, struct err *e);
	void (*print)(const struct ctx_hit *h, const char *arg);
};
int cli_ctx_lookup(struct cli *cli, const struct cli_lookup *l, int argc, char **argv);
/* Prints a context result as JSON on stdout (search, context, the look-ups). */
void cli_ctx_result_json(const struct ctx_result *r);

/*
 * An account command (store_sub.c): `airlock WHAT SUB ...` runs the entry of
 * subs named SUB with the server's account store open; an unknown or
 * missing SUB is a usage error listing the names.
 */
struct srv_store;
struct cli_sub {
	const char *name;
	int (*fn)(struct cli *cli, struct srv_store *st, int argc, char **argv);
};
int cli_store_subcommand(struct cli *cli, const char *what, const struct cli_sub *subs,
			 size_t n, int argc, char **argv);

/*
 * Provenance (provenance_glue.c): the policy engine's provenance hook over
 * reference corpora in <data_dir>/provenance/<name>.* (built by `airlock
 * provenance index`). provenance_attach attaches an index to eng; *out must
 * outlive eng's checks and is freed with provenance_free. A failure inside
 * a check (corpus not built, damaged) makes the check return ST_LIMIT;
 * provenance_take_error then returns that failure with its message (e.g.
 * "provenance index not built: run ...") and clears it, else ST_OK.
 * provenance_corpus_prefix validates a corpus name and gives the files'
 * path prefix.
 */
#define PROV_CORPUS_NAME_MAX 64
struct pol_engine;
struct provenance;
status_t provenance_attach(struct pol_engine *eng, const char *data_dir,
			   struct provenance **out, struct err *e);
status_t provenance_take_error(struct provenance *p, struct err *e);
void provenance_free(struct provenance *p);
status_t provenance_corpus_prefix(const char *data_dir, const char *name,
				  char *out, size_t n, struct err *e);

/* Commands (cmd_*.c). Keep sorted. */
int cmd_audit(struct cli *cli, int argc, char **argv);
int cmd_bench(struct cli *cli, int argc, char **argv);
int cmd_config(struct cli *cli, int argc, char **argv);
int cmd_context(struct cli *cli, int argc, char **argv);
int cmd_context_bench(struct cli *cli, int argc, char **argv);
int cmd_docs(struct cli *cli, int argc, char **argv);
int cmd_doctor(struct cli *cli, int argc, char **argv);
int cmd_generate(struct cli *cli, int argc, char **argv);
int cmd_help(struct cli *cli, int argc, char **argv);
int cmd_index(struct cli *cli, int argc, char **argv);
int cmd_keygen(struct cli *cli, int argc, char **argv);
int cmd_policy(struct cli *cli, int argc, char **argv);
int cmd_provenance(struct cli *cli, int argc, char **argv);
int cmd_model(struct cli *cli, int argc, char **argv);
int cmd_serve(struct cli *cli, int argc, char **argv);
int cmd_sign_bundle(struct cli *cli, int argc, char **argv);
int cmd_team(struct cli *cli, int argc, char **argv);
int cmd_token(struct cli *cli, int argc, char **argv);
int cmd_tokenize(struct cli *cli, int argc, char **argv);
int cmd_user(struct cli *cli, int argc, char **argv);
int cmd_owners(struct cli *cli, int argc, char **argv);
int cmd_search(struct cli *cli, int argc, char **argv);
int cmd_symbols(struct cli *cli, int argc, char **argv);
int cmd_usage(struct cli *cli, int argc, char **argv);
int cmd_verify_bundle(struct cli *cli, int argc, char **argv);
int cmd_version(struct cli *cli, int argc, char **argv);

#endif
