/*
 * test_lockdown.c - sbx_lockdown() in forked children: what the kernel
 * refuses afterwards, and what it still allows.
 *
 * Each test forks; the child locks itself down and runs its checks, writing
 * one line per failed expectation to a pipe; the parent fails the test with
 * those lines. Every "must fail" probe has a control that succeeds without
 * the sandbox (a real listener on loopback, a writable directory), so a
 * probe cannot pass merely because the environment forbids it anyway.
 */
#include "harness.h"
#include "sandbox/sandbox_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/netlink.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_bpf
#define __NR_bpf 321
#endif

/* ------------------------------------------------------------------ */
/* Child plumbing                                                      */
/* ------------------------------------------------------------------ */

static int child_fd = -1;	/* pipe to the parent, in the child */
static int child_failures;

static void child_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void child_fail(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (write(child_fd, line, (size_t)n) < 0) {
		/* nothing else to do in the child */
	}
	child_failures++;
}

/* rc/err from a call that must fail with errno want. */
static void want_errno(const char *what, long rc, int err, int want)
{
	if (rc >= 0)
		child_fail("%s: succeeded (rc %ld), want %s", what, rc,
			   strerrorname_np(want));
	else if (err != want)
		child_fail("%s: errno %s, want %s", what, strerrorname_np(err),
			   strerrorname_np(want));
}

static void want_ok(const char *what, long rc, int err)
{
	if (rc < 0)
		child_fail("%s: failed with %s, want success", what,
			   strerrorname_np(err));
}

/* Runs fn(arg) in a child and fails the test with whatever it reported. */
static void run_child(void (*fn)(void *), void *arg)
{
	char out[8192];
	size_t len = 0;
	int p[2], status;
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child_fd = p[1];
		child_failures = 0;
		log_setup(LOG_OFF, LOG_FMT_AUTO, NULL);
		fn(arg);
		_exit(child_failures ? 1 : 0);
	}
	close(p[1]);
	while ((n = read(p[0], out + len, sizeof out - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		fail_msg("child died with signal %d; reported:\n%s",
			 WTERMSIG(status), out);
	if (WEXITSTATUS(status) != 0 || len > 0)
		fail_msg("child exit %d; failed expectations:\n%s",
			 WEXITSTATUS(status), out);
}

/* A TCP listener on 127.0.0.1, ephemeral port. */
static int listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		/* e.g. a fresh network namespace whose lo is down */
		printf("# SKIP: cannot bind 127.0.0.1 (%s): no loopback here\n",
		       strerror(errno));
		close(fd);
		skip();
	}
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static long tcp_connect(uint16_t port, int *err)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	long rc;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(fd, (struct sockaddr *)&a, sizeof a);
	*err = errno;
	close(fd);
	return rc;
}

static void lock(struct sbx_policy *p, struct sbx_report *r)
{
	struct err e;

	err_clear(&e);
	if (sbx_lockdown(p, r, &e) != ST_OK) {
		child_fail("sbx_lockdown: %s", e.msg);
		_exit(2);
	}
}

static int need_landlock(int abi_min)
{
	int abi = sbx_landlock_abi();

	if (abi < abi_min) {
		printf("# SKIP: this kernel's Landlock ABI is %d; the test needs "
		       ">= %d\n", abi, abi_min);
		return 0;
	}
	return 1;
}

static int need_seccomp(void)
{
	if (!sbx_seccomp_available()) {
		printf("# SKIP: this kernel has no seccomp filters\n");
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* Network                                                             */
/* ------------------------------------------------------------------ */

struct net_arg {
	uint16_t allowed, denied;
	const char *data;
};

static void net_child(void *arg)
{
	struct net_arg *a = arg;
	struct sbx_policy p;
	struct sbx_report r;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int err, fd;
	long rc;

	sbx_policy_init(&p);
	p.data_dir = a->data;
	sbx_policy_add_connect(&p, a->allowed, NULL);
	lock(&p, &r);
	if (!r.landlock_net || !r.landlock_fs || !r.seccomp || r.unsandboxed)
		child_fail("report: landlock_net %d fs %d seccomp %d unsandboxed %d, "
			   "want 1 1 1 0", r.landlock_net, r.landlock_fs, r.seccomp,
			   r.unsandboxed);

	rc = tcp_connect(a->denied, &err);
	want_errno("connect to a non-allowlisted loopback port", rc, err, EACCES);
	rc = tcp_connect(a->allowed, &err);
	want_ok("connect to the allowlisted port", rc, err);

	/* A new listener: bind to any port is refused (no bind rule). */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	want_errno("bind to an ephemeral port", rc, errno, EACCES);
	close(fd);

	/* TCP Fast Open would connect without connect(). */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = htons(a->denied);
	rc = sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&sa, sizeof sa);
	want_errno("sendto(MSG_FASTOPEN) to a non-allowlisted port", rc, errno, EPERM);
	close(fd);
}

static void test_connect_allowlist(void **state)
{
	struct net_arg a;
	char data[4096];
	int l1, l2, err;

	(void)state;
	if (!need_landlock(4) || !need_seccomp())
		skip();
	l1 = listener(&a.allowed);
	l2 = listener(&a.denied);
	/* Control: without the sandbox both connects succeed. */
	if (tcp_connect(a.denied, &err) != 0) {
		printf("# SKIP: loopback connect fails unsandboxed (%s): lo is down\n",
		       strerror(err));
		close(l1);
		close(l2);
		skip();
	}
	assert_int_equal(tcp_connect(a.denied, &err), 0);
	assert_int_equal(tcp_connect(a.allowed, &err), 0);
	snprintf(data, sizeof data, "%s", th_tmpdir());
	a.data = data;
	run_child(net_child, &a);
	close(l1);
	close(l2);
}

/* ------------------------------------------------------------------ */
/* Socket families, io_uring, bpf                                      */
/* ------------------------------------------------------------------ */

struct fam_arg {
	int allow_unix, allow_netlink;
};

static void probe_socket(const char *what, int dom, int type, int proto,
			 int allowed)
{
	int fd = socket(dom, type, proto);
	int err = errno;

	if (allowed)
		want_ok(what, fd, err);
	else
		want_errno(what, fd, err, EPERM);
	if (fd >= 0)
		close(fd);
}

static void families_child(void *arg)
{
	struct fam_arg *a = arg;
	struct sbx_policy p;
	struct sbx_report r;
	int sv[2];
	long rc;

	sbx_policy_init(&p);
	p.allow_unix = a->allow_unix;
	p.allow_netlink = a->allow_netlink;
	lock(&p, &r);
	if (!r.seccomp)
		child_fail("report: seccomp %d, want 1", r.seccomp);

	probe_socket("UDP socket", AF_INET, SOCK_DGRAM, 0, 0);
	probe_socket("UDP socket (NONBLOCK|CLOEXEC)", AF_INET,
		     SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, 0);
	probe_socket("UDP6 socket", AF_INET6, SOCK_DGRAM, 0, 0);
	probe_socket("ICMP socket", AF_INET, SOCK_DGRAM, IPPROTO_ICMP, 0);
	probe_socket("raw socket", AF_INET, SOCK_RAW, IPPROTO_RAW, 0);
	probe_socket("raw6 socket", AF_INET6, SOCK_RAW, IPPROTO_RAW, 0);
	probe_socket("SCTP stream socket", AF_INET, SOCK_STREAM, IPPROTO_SCTP, 0);
	probe_socket("MPTCP socket", AF_INET, SOCK_STREAM, IPPROTO_MPTCP, 0);
	probe_socket("SMC socket", AF_INET, SOCK_STREAM, 256, 0);
	probe_socket("seqpacket socket", AF_INET, SOCK_SEQPACKET, 0, 0);
	probe_socket("packet socket", AF_PACKET, SOCK_RAW, 0, 0);
	probe_socket("packet socket (dgram)", AF_PACKET, SOCK_DGRAM, 0, 0);
	probe_socket("netlink socket", AF_NETLINK, SOCK_RAW, NETLINK_ROUTE,
		     a->allow_netlink);
	probe_socket("unix socket", AF_UNIX, SOCK_STREAM, 0, a->allow_unix);
	probe_socket("vsock socket", AF_VSOCK, SOCK_STREAM, 0, 0);
	probe_socket("TCP socket", AF_INET, SOCK_STREAM, 0, 1);
	probe_socket("TCP socket (IPPROTO_TCP)", AF_INET, SOCK_STREAM, IPPROTO_TCP, 1);
	probe_socket("TCP6 socket", AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0, 1);

	rc = socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	want_ok("socketpair(AF_UNIX)", rc, errno);
	if (rc == 0) {
		close(sv[0]);
		close(sv[1]);
	}
	rc = socketpair(AF_INET, SOCK_STREAM, 0, sv);
	want_errno("socketpair(AF_INET)", rc, errno, EPERM);

	{
		uint8_t params[120] = { 0 };	/* struct io_uring_params */
		rc = syscall(__NR_io_uring_setup, 4, params);
		want_errno("io_uring_setup", rc, errno, EPERM);
		if (rc >= 0)
			close((int)rc);
		rc = syscall(__NR_bpf, 0, NULL, 0);
		want_errno("bpf", rc, errno, EPERM);
	}
}

static void test_socket_families(void **state)
{
	struct fam_arg a = { 0, 0 };
	int fd;

	(void)state;
	if (!need_seccomp())
		skip();
	/* Control: as root in this environment these work unsandboxed. */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	close(fd);
	run_child(families_child, &a);
}

static void test_socket_families_allowed(void **state)
{
	struct fam_arg a = { 1, 1 };

	(void)state;
	if (!need_seccomp())
		skip();
	run_child(families_child, &a);
}

/* A UDP datagram cannot leave even through a socket of another kind. */
static void udp_send_child(void *arg)
{
	uint16_t port = *(uint16_t *)arg;
	struct sbx_policy p;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd, err;
	long rc;

	sbx_policy_init(&p);
	lock(&p, NULL);
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	err = errno;
	want_errno("UDP socket for a send", fd, err, EPERM);
	rc = fd >= 0 ? sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, sizeof sa) : -1;
	if (fd >= 0 && rc >= 0)
		child_fail("UDP sendto to loopback succeeded");
	/* A TCP socket cannot carry a datagram to an address. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	rc = sendto(fd, "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof sa);
	if (rc >= 0)
		child_fail("sendto on an unconnected TCP socket succeeded");
	close(fd);
}

static void test_udp_send(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	uint16_t port;
	int rx, tx;

	(void)state;
	if (!need_seccomp() || !need_landlock(1))
		skip();
	rx = socket(AF_INET, SOCK_DGRAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(rx, (struct sockaddr *)&sa, sizeof sa) != 0) {
		printf("# SKIP: cannot bind 127.0.0.1 (%s): no loopback here\n",
		       strerror(errno));
		close(rx);
		skip();
	}
	assert_int_equal(getsockname(rx, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	/* Control: the send works unsandboxed. */
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (sendto(tx, "x", 1, 0, (struct sockaddr *)&sa, sizeof sa) != 1) {
		printf("# SKIP: loopback send fails unsandboxed (%s): lo is down\n",
		       strerror(errno));
		close(tx);
		close(rx);
		skip();
	}
	close(tx);
	run_child(udp_send_child, &port);
	close(rx);
}

/* ------------------------------------------------------------------ */
/* Filesystem                                                          */
/* ------------------------------------------------------------------ */

struct fs_arg {
	char data[4096], outside[4096], ro[4096];
};

static long try_create(const char *dir, const char *name, int *err)
{
	char path[8192];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	*err = errno;
	if (fd >= 0) {
		if (write(fd, "x", 1) != 1)
			*err = errno;
		close(fd);
	}
	return fd;
}

static void fs_child(void *arg)
{
	struct fs_arg *a = arg;
	struct sbx_policy p;
	struct sbx_report r;
	char path[8192], buf[16];
	int err, fd;
	long rc;

	sbx_policy_init(&p);
	p.data_dir = a->data;
	sbx_policy_add_read(&p, a->ro, NULL);
	sbx_policy_add_read(&p, "/nonexistent/airlock-test", NULL);	/* skipped */
	lock(&p, &r);
	if (!r.landlock_fs)
		child_fail("report: landlock_fs 0");

	rc = try_create(a->data, "inside", &err);
	want_ok("create a file in the data directory", rc, err);
	snprintf(path, sizeof path, "%s/sub", a->data);
	want_ok("mkdir in the data directory", mkdir(path, 0755), errno);
	rc = try_create(a->outside, "escape", &err);
	want_errno("create a file outside the data directory", rc, err, EACCES);
	snprintf(path, sizeof path, "%s/existing", a->outside);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	want_errno("open an existing file outside for writing", fd, errno, EACCES);
	if (fd >= 0)
		close(fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	want_errno("read a file outside every read path", fd, errno, EACCES);
	if (fd >= 0)
		close(fd);
	rc = try_create(a->ro, "nope", &err);
	want_errno("create a file in a read-only path", rc, err, EACCES);
	snprintf(path, sizeof path, "%s/model.bin", a->ro);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	want_ok("read a file in a read path", fd, errno);
	if (fd >= 0) {
		if (read(fd, buf, sizeof buf) != 5)
			child_fail("read of model.bin: short");
		close(fd);
	}
	fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	want_ok("read /etc/passwd (system path)", fd, errno);
	if (fd >= 0)
		close(fd);
	fd = open("/etc/airlock-test-write", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	want_errno("create a file in /etc", fd, errno, EACCES);
	fd = open("/dev/null", O_WRONLY | O_TRUNC | O_CLOEXEC);
	want_ok("open /dev/null for writing", fd, errno);
	if (fd >= 0)
		close(fd);
}

static void test_fs_writes(void **state)
{
	struct fs_arg a;
	const char *t;
	int err;

	(void)state;
	if (!need_landlock(1))
		skip();
	t = th_tmpdir();
	snprintf(a.data, sizeof a.data, "%s/data", t);
	snprintf(a.outside, sizeof a.outside, "%s/outside", t);
	snprintf(a.ro, sizeof a.ro, "%s/models", t);
	assert_int_equal(mkdir(a.data, 0755), 0);
	assert_int_equal(mkdir(a.outside, 0755), 0);
	assert_int_equal(mkdir(a.ro, 0755), 0);
	th_write_file(a.outside, "existing", "hello");
	th_write_file(a.ro, "model.bin", "GGUF!");
	/* Control: unsandboxed, writing outside works. */
	assert_true(try_create(a.outside, "control", &err) >= 0);
	run_child(fs_child, &a);
}

/* ------------------------------------------------------------------ */
/* Missing kernel layers, threads                                      */
/* ------------------------------------------------------------------ */

struct missing_arg {
	int fake_abi, fake_seccomp;
};

static void refused_child(void *arg)
{
	struct missing_arg *a = arg;
	struct sbx_policy p;
	struct sbx_report r;
	struct err e;
	status_t st;
	int fd;

	sbx__fake_landlock_abi = a->fake_abi;
	sbx__fake_seccomp = a->fake_seccomp;
	sbx_policy_init(&p);
	err_clear(&e);
	st = sbx_lockdown(&p, &r, &e);
	if (st != ST_UNSUPPORTED)
		child_fail("lockdown without allow_unsandboxed: %s, want UNSUPPORTED",
			   status_name(st));
	if (!strstr(e.msg, "--allow-unsandboxed"))
		child_fail("refusal message does not name the override: %s", e.msg);
	if (!r.missing[0])
		child_fail("report.missing is empty");
	/* Nothing was applied. */
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
		child_fail("no_new_privs set by a refused lockdown");
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	want_ok("UDP socket after a refused lockdown", fd, errno);
	if (fd >= 0)
		close(fd);

	/* With the override: what is available is applied. */
	p.allow_unsandboxed = 1;
	err_clear(&e);
	st = sbx_lockdown(&p, &r, &e);
	if (st != ST_OK)
		child_fail("lockdown with allow_unsandboxed: %s (%s)",
			   status_name(st), e.msg);
	if (!r.unsandboxed)
		child_fail("report.unsandboxed is 0");
	if (r.seccomp != (a->fake_seccomp != 0))
		child_fail("report.seccomp %d with seccomp %s", r.seccomp,
			   a->fake_seccomp ? "available" : "missing");
	if (r.landlock_fs != (a->fake_abi > 0))
		child_fail("report.landlock_fs %d with ABI %d", r.landlock_fs,
			   a->fake_abi);
	if (r.landlock_net != (a->fake_abi >= 4))
		child_fail("report.landlock_net %d with ABI %d", r.landlock_net,
			   a->fake_abi);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (a->fake_seccomp)
		want_errno("UDP socket with seccomp only", fd, errno, EPERM);
	else
		want_ok("UDP socket without seccomp", fd, errno);
	if (fd >= 0)
		close(fd);
}

static void test_refuse_no_landlock(void **state)
{
	struct missing_arg a = { 0, 1 };

	(void)state;
	if (!need_seccomp())
		skip();
	run_child(refused_child, &a);
}

static void test_refuse_old_landlock(void **state)
{
	struct missing_arg a = { 3, 1 };	/* ABI 3: no TCP rules */

	(void)state;
	if (!need_seccomp() || !need_landlock(3))
		skip();
	run_child(refused_child, &a);
}

static void test_refuse_no_seccomp(void **state)
{
	struct missing_arg a = { -1, 0 };

	(void)state;
	a.fake_abi = sbx_landlock_abi();
	if (!need_landlock(4))
		skip();
	run_child(refused_child, &a);
}

static int thread_pipe[2];

static void *idle_thread(void *arg)
{
	char c;

	(void)arg;
	if (read(thread_pipe[0], &c, 1) < 0) {
		/* woken by close either way */
	}
	return NULL;
}

static void threads_child(void *arg)
{
	struct sbx_policy p;
	struct err e;
	pthread_t t;
	status_t st;

	(void)arg;
	if (pipe(thread_pipe) != 0 ||
	    pthread_create(&t, NULL, idle_thread, NULL) != 0) {
		child_fail("cannot start a thread");
		return;
	}
	sbx_policy_init(&p);
	p.allow_unsandboxed = 1;
	err_clear(&e);
	st = sbx_lockdown(&p, NULL, &e);
	if (st != ST_INVAL)
		child_fail("lockdown with 2 threads: %s, want INVAL", status_name(st));
	if (!strstr(e.msg, "threads"))
		child_fail("message does not mention threads: %s", e.msg);
	close(thread_pipe[1]);
	pthread_join(t, NULL);
}

static void test_refuse_threads(void **state)
{
	(void)state;
	run_child(threads_child, NULL);
}

/* ------------------------------------------------------------------ */
/* Policy building                                                     */
/* ------------------------------------------------------------------ */

static void test_policy_limits(void **state)
{
	struct sbx_policy p;
	struct err e;

	(void)state;
	sbx_policy_init(&p);
	assert_int_equal(p.system_paths, 1);
	TH_ST(sbx_policy_add_connect(&p, 0, &e), ST_INVAL);
	TH_OK(sbx_policy_add_connect(&p, 5432, &e));
	TH_OK(sbx_policy_add_connect(&p, 5432, &e));
	assert_int_equal(p.n_connect, 1);
	for (int i = 1; i < SBX_MAX_PORTS; i++)
		TH_OK(sbx_policy_add_bind(&p, (uint16_t)i, &e));
	TH_OK(sbx_policy_add_bind(&p, SBX_MAX_PORTS, &e));
	TH_ST(sbx_policy_add_bind(&p, 9999, &e), ST_LIMIT);
	for (int i = 0; i < SBX_MAX_PATHS; i++)
		TH_OK(sbx_policy_add_read(&p, "/x", &e));
	TH_ST(sbx_policy_add_read(&p, "/x", &e), ST_LIMIT);
	TH_ST(sbx_policy_add_write(&p, "", &e), ST_INVAL);
	TH_ST(sbx_lockdown(NULL, NULL, &e), ST_INVAL);
}

static void test_policy_from_config(void **state)
{
	struct config *c = NULL;
	struct sbx_policy p;
	struct err e;
	const char *t, *path;

	(void)state;
	t = th_tmpdir();
	path = th_write_file(t, "a.yaml",
			     "server:\n  listen: 127.0.0.1:8181\n"
			     "egress:\n  allow: [\"127.0.0.1:5432\", \"[::1]:8000\", \"localhost:5432\"]\n"
			     "model:\n  path: /srv/models/q.gguf\n"
			     "sandbox:\n  read_paths: [/srv/repos]\n  write_paths: [/var/tmp/x]\n"
			     "  allow_unix: true\n");
	err_clear(&e);
	TH_OK(config_load(path, &c, &e));
	TH_OK(sbx_policy_from_config(&p, c, "/var/lib/airlock", &e));
	assert_string_equal(p.data_dir, "/var/lib/airlock");
	assert_int_equal(p.n_connect, 2);
	assert_int_equal(p.connect_ports[0], 5432);
	assert_int_equal(p.connect_ports[1], 8000);
	assert_int_equal(p.n_bind, 1);
	assert_int_equal(p.bind_ports[0], 8181);
	assert_int_equal(p.n_read, 2);
	assert_string_equal(p.read_paths[0], "/srv/repos");
	assert_string_equal(p.read_paths[1], "/srv/models/q.gguf");
	assert_int_equal(p.n_write, 1);
	assert_int_equal(p.allow_unix, 1);
	config_free(c);

	path = th_write_file(t, "b.yaml", "egress:\n  allow: [\"db.internal:5432\"]\n");
	TH_OK(config_load(path, &c, &e));
	TH_ST(sbx_policy_from_config(&p, c, "/d", &e), ST_CONFIG);
	assert_non_null(strstr(e.msg, "egress.allow[0]"));
	assert_non_null(strstr(e.msg, "DNS"));
	config_free(c);
}

static void config_child(void *arg)
{
	const char *dir = arg;
	struct config *c = NULL;
	struct sbx_report r;
	struct err e;
	const char *extra[] = { "/nonexistent/repo" };
	char path[4200];
	int fd;

	snprintf(path, sizeof path, "%s/c.yaml", dir);
	err_clear(&e);
	if (config_load(path, &c, &e) != ST_OK) {
		child_fail("config_load: %s", e.msg);
		return;
	}
	snprintf(path, sizeof path, "%s/data", dir);
	if (sbx_lockdown_config(c, path, extra, 1, 0, &r, &e) != ST_OK) {
		child_fail("sbx_lockdown_config: %s", e.msg);
		return;
	}
	if (!r.landlock_fs || !r.seccomp || r.unsandboxed)
		child_fail("report: fs %d seccomp %d unsandboxed %d", r.landlock_fs,
			   r.seccomp, r.unsandboxed);
	snprintf(path, sizeof path, "%s/data/x", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	want_ok("write in the data directory", fd, errno);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof path, "%s/x", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	want_errno("write beside the data directory", fd, errno, EACCES);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	want_errno("unix socket with sandbox.allow_unix false", fd, errno, EPERM);
}

static void test_lockdown_config(void **state)
{
	char dir[4096], data[4200];

	(void)state;
	if (!need_landlock(4) || !need_seccomp())
		skip();
	snprintf(dir, sizeof dir, "%s", th_tmpdir());
	snprintf(data, sizeof data, "%s/data", dir);
	assert_int_equal(mkdir(data, 0700), 0);
	th_write_file(dir, "c.yaml", "egress:\n  allow: [\"127.0.0.1:5432\"]\n");
	run_child(config_child, dir);
}

static void test_probes(void **state)
{
	int abi = sbx_landlock_abi();

	(void)state;
	assert_true(abi >= 0);
	printf("# kernel: Landlock ABI %d, seccomp %s\n", abi,
	       sbx_seccomp_available() ? "yes" : "no");
	assert_true(sbx__thread_count() >= 1);
}

int run_sandbox_lockdown_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probes),
		cmocka_unit_test(test_connect_allowlist),
		cmocka_unit_test(test_socket_families),
		cmocka_unit_test(test_socket_families_allowed),
		cmocka_unit_test(test_udp_send),
		cmocka_unit_test(test_fs_writes),
		cmocka_unit_test(test_refuse_no_landlock),
		cmocka_unit_test(test_refuse_old_landlock),
		cmocka_unit_test(test_refuse_no_seccomp),
		cmocka_unit_test(test_refuse_threads),
		cmocka_unit_test(test_policy_limits),
		cmocka_unit_test(test_policy_from_config),
		cmocka_unit_test(test_lockdown_config),
	};
	int rc = cmocka_run_group_tests_name("sandbox_lockdown", tests, NULL, NULL);
	th_tmpdir_cleanup();
	return rc;
}
