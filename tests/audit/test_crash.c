/*
 * test_crash.c - crash safety over 200+ trials: a child process appends
 * durable records and reports each acknowledged one on a pipe; the
 * parent SIGKILLs it at a random point, or a write shim in the child
 * writes a random prefix of a write and then kills the process (a torn
 * write). After each crash the parent checks that every acknowledged
 * record is present with its content, reopens the log (which cuts a
 * torn tail and records the cut), appends, and verifies the whole log.
 * Runs on tmpfs (/dev/shm) when there is one, to stay fast.
 */
#include "audit_tests.h"
#include "audit/audit_int.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TRIALS 220

static long tear_countdown;

static ssize_t tear_write(int fd, const void *p, size_t n)
{
	if (tear_countdown-- > 0)
		return write(fd, p, n);
	if (n > 1) {
		ssize_t w = write(fd, p, (size_t)rand() % n);
		(void)w;
	}
	raise(SIGKILL);
	return -1;
}

struct ack {
	uint64_t seq;
	int32_t i;
};

static void child(const char *dir, int trial, int tear, int fd)
{
	struct aud_options o;
	struct aud_log *log = NULL;

	srand((unsigned)trial * 7919u + 1);
	aud_options_default(&o);
	o.checkpoint_every = 7;
	o.checkpoint_ms = 0;
	o.segment_bytes = 4096;	/* roll often: crashes during roll-over too */
	if (tear) {
		tear_countdown = rand() % 12;
		aud__io.write = tear_write;
	}
	if (aud_log_open(dir, &o, &log, NULL) != ST_OK)
		_exit(3);
	/* More than the parent ever waits for; then wait to be killed, so the
	 * log grows by tens of records per trial, not by what a child could
	 * write while the parent looks away. */
	for (int i = 0; i < 64; i++) {
		char p[96];
		struct ack a;

		snprintf(p, sizeof p, "{\"t\":%d,\"i\":%d}", trial, i);
		if (aud_log_append(log, AUD_T_EVENT, p, strlen(p), &a.seq, NULL) != ST_OK)
			_exit(4);
		a.i = i;
		if (write(fd, &a, sizeof a) != (ssize_t)sizeof a)
			_exit(5);
	}
	for (;;)
		pause();
}

struct lookup {
	struct ack *acks;
	size_t n, found;
	int trial;
	int bad;
};

static int lookup_cb(void *arg, const struct aud_record *r)
{
	struct lookup *l = arg;

	for (size_t k = 0; k < l->n; k++) {
		if (l->acks[k].seq != r->seq)
			continue;
		char want[96];
		snprintf(want, sizeof want, "{\"t\":%d,\"i\":%d}", l->trial, l->acks[k].i);
		if (r->type != AUD_T_EVENT || strcmp(r->payload, want) != 0)
			l->bad++;
		else
			l->found++;
	}
	return 0;
}

static void test_crash_trials(void **state)
{
	char base[4200];
	struct stat sb;
	int torn_trials = 0, kill_trials = 0, recoveries = 0;
	uint64_t acked_total = 0;

	(void)state;
	if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode)) {
		snprintf(base, sizeof base, "/dev/shm/airlock-crash-XXXXXX");
		if (!mkdtemp(base))
			fail_msg("mkdtemp: %s", strerror(errno));
	} else {
		str_copy(base, th_tmpdir(), sizeof base);
	}
	srand(20261130);
	for (int t = 0; t < TRIALS; t++) {
		int fds[2], status, tear = t % 2;
		char dir[4300];
		pid_t pid;
		struct ack acks[64];
		size_t n = 0, want = (size_t)(rand() % 40);
		struct lookup l;
		struct aud_log *log = NULL;
		struct aud_verify_report rep;
		struct err e;

		/* A fresh log every 10 trials: verification of a log re-checks every
		 * stored checkpoint, and the test should not grow quadratically. */
		snprintf(dir, sizeof dir, "%s/log%d", base, t / 10);
		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child(dir, t, tear, fds[1]);
		}
		close(fds[1]);
		while (n < want && n < 64) {
			ssize_t r = read(fds[0], &acks[n], sizeof acks[n]);
			if (r != (ssize_t)sizeof acks[n])
				break;	/* the child died (torn write) */
			n++;
		}
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		close(fds[0]);
		if (WIFEXITED(status))
			fail_msg("trial %d: child exited with %d instead of being killed", t,
				 WEXITSTATUS(status));
		tear ? torn_trials++ : kill_trials++;
		acked_total += n;

		/* Every acknowledged record is there, before any repair. */
		memset(&l, 0, sizeof l);
		l.acks = acks;
		l.n = n;
		l.trial = t;
		err_clear(&e);
		status_t st = aud_scan(dir, lookup_cb, &l, &e);
		if (st != ST_OK && st != ST_CORRUPT)
			fail_msg("trial %d: scan: %s", t, e.msg);
		if (l.found != n || l.bad)
			fail_msg("trial %d: %zu of %zu acknowledged records found, %d wrong (%s)", t,
				 l.found, n, l.bad, e.msg);

		/* Reopen (recovering), append, verify. */
		err_clear(&e);
		if (aud_log_open(dir, NULL, &log, &e) != ST_OK)
			fail_msg("trial %d: reopen: %s", t, e.msg);
		if (aud_log_append(log, AUD_T_EVENT, "{\"after\":1}", 11, NULL, &e) != ST_OK)
			fail_msg("trial %d: append after recovery: %s", t, e.msg);
		aud_log_close(log);
		err_clear(&e);
		if (aud_verify(dir, NULL, 0, NULL, &rep, &e) != ST_OK)
			fail_msg("trial %d: verify: %s (%s at %s+%llu)", t, e.msg, rep.reason,
				 rep.bad_file, (unsigned long long)rep.bad_offset);
		recoveries += st == ST_CORRUPT;
	}
	print_message("crash trials: %d SIGKILL, %d torn writes, %llu acknowledged records "
		      "all present, %d torn tails cut and recorded\n",
		      kill_trials, torn_trials, (unsigned long long)acked_total, recoveries);
	assert_true(recoveries > 0);
	{
		char cmd[4300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
		assert_int_equal(system(cmd), 0);
	}
}

int run_crash_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_trials),
	};
	return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
