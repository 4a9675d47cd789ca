/*
 * telemetry_bench.c - /metrics scrape time with 10k series: a registry of
 * 10 families (counters, gauges, histograms) with 1000 label sets each,
 * exposed repeatedly; prints the time per scrape and the text size.
 * Built and run by bench/telemetry.bench.sh against the release library.
 */
#include "telemetry/telemetry.h"

#include <stdio.h>

int main(void)
{
	struct tel_registry *r;
	struct tel_metric *m[10];
	const char *lbl[] = { "user", "endpoint" };
	char name[64], user[32];
	const char *vals[] = { user, "/v1/completions" };
	struct buf out;
	uint64_t t0, t1;
	int reps = 20;

	if (tel_registry_new(&r) != ST_OK)
		return 1;
	for (int f = 0; f < 10; f++) {
		snprintf(name, sizeof name, "bench_family_%d", f);
		status_t st = f < 4 ? tel_counter_new(r, name, "bench", lbl, 2, &m[f], NULL) :
			      f < 8 ? tel_gauge_new(r, name, "bench", lbl, 2, &m[f], NULL) :
				      tel_histogram_new(r, name, "bench", lbl, 2, NULL, 0, &m[f], NULL);
		if (st != ST_OK)
			return 1;
		for (int s = 0; s < 1000; s++) {
			snprintf(user, sizeof user, "user%04d", s);
			if (f < 4)
				tel_counter_add(m[f], vals, s);
			else if (f < 8)
				tel_gauge_set(m[f], vals, s * 0.5);
			else
				tel_histogram_observe(m[f], vals, s * 0.001);
		}
	}
	buf_init(&out, 0);
	t0 = time_mono_ns();
	for (int i = 0; i < reps; i++) {
		buf_reset(&out);
		tel_registry_expose(r, &out);
	}
	t1 = time_mono_ns();
	printf("  /metrics with 10000 series (2000 of them histograms): %.2f ms per scrape, "
	       "%zu bytes\n", (double)(t1 - t0) / 1e6 / reps, out.len);
	buf_release(&out);
	tel_registry_free(r);
	return 0;
}
