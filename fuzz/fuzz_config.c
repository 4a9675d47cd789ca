/* fuzz_config.c - libFuzzer target: the YAML configuration loader. */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct config *c = NULL;
	struct err e;
	struct buf out;
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof path, "/tmp/airlock-fuzz-config-%ld.yaml",
			 (long)getpid());
	f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (config_load(path, &c, &e) == ST_OK) {
		buf_init(&out, 0);
		config_dump(c, &out);
		buf_release(&out);
		config_free(c);
	}
	return 0;
}
