/*
 * toy_backend.h - a deterministic backend for the server's tests (never
 * served as a model): a byte tokenizer and a "model" whose next token is a
 * hash of the whole sequence held in the slot's KV, so that any mistake in
 * prompt-cache reuse or slot bookkeeping changes the output.
 */
#ifndef AIRLOCK_TEST_TOY_BACKEND_H
#define AIRLOCK_TEST_TOY_BACKEND_H

#include "server/server.h"

#define TOY_VOCAB 64
#define TOY_EOS 0

struct toy_opts {
	int n_slots;
	int n_ctx;
	int step_us;		/* sleep per eval call: makes requests overlap */
	int eos_after;		/* > 0: EOS once a sequence has this many tokens */
};

/* Fills b with a toy backend; release with srv_backend_release. */
status_t toy_backend_init(struct srv_backend *b, const struct toy_opts *o);
/* Number of eval calls and tokens evaluated so far. */
void toy_backend_counts(struct srv_backend *b, long *calls, long *tokens);

#endif
