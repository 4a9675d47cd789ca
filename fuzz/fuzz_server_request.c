/*
 * fuzz_server_request.c - libFuzzer target: request bodies as the server's
 * handlers see them. The first byte picks the endpoint (completions, chat,
 * infill); the rest is the body, parsed and validated; whatever text it
 * carries then goes through the stop-string and UTF-8 pipeline and the
 * error-JSON writer, which must accept any bytes.
 */
#include "server/server_int.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srv_request q;
	struct srv_textproc tp;
	struct buf out;
	char param[64];
	struct err e;
	enum srv_endpoint ep;

	if (size < 1)
		return 0;
	ep = (enum srv_endpoint)(data[0] % 3);
	err_clear(&e);
	buf_init(&out, 1 << 20);
	if (srv__request_parse(ep, (const char *)data + 1, size - 1, &q, param,
			       sizeof param, &e) == ST_OK) {
		const char *text = q.prompt ? q.prompt :
			q.input_prefix ? q.input_prefix :
			q.n_msgs ? q.msgs[0].content : "";
		size_t n = strlen(text), half = n / 2;

		srv__textproc_init(&tp, q.gp.stop, q.gp.n_stop);
		srv__textproc_feed(&tp, text, half, &out);
		srv__textproc_feed(&tp, text + half, n - half, &out);
		srv__textproc_flush(&tp, &out);
		srv__textproc_release(&tp);
	} else {
		srv__error_json(&out, e.msg, "invalid_request_error", param, NULL);
	}
	srv__request_release(&q);
	/* Raw bytes as generated text: must come out as valid UTF-8. */
	buf_reset(&out);
	srv__utf8_sanitize((const char *)data, size, &out);
	buf_release(&out);
	return 0;
}
