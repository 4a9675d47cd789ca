/*
 * srv_model.c - the backend over airlock's own inference engine (model
 * module): one engine context per slot, each step evaluating every busy
 * slot's tokens.
 */
#include "server/server.h"

#include <string.h>

status_t srv_backend_open_model(const char *path, int n_slots, int32_t n_ctx,
				int n_threads, struct srv_backend *out,
				struct err *e)
{
	(void)n_slots; (void)n_ctx; (void)n_threads;
	memset(out, 0, sizeof *out);
	return err_set(e, ST_UNSUPPORTED,
		       "%s: this build has no inference engine", path);
}
