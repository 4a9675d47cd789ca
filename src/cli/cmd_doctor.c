/*
 * cmd_doctor.c - `airlock doctor`: what the kernel enforces for this machine
 * and configuration, proven by probes.
 *
 * Each probe (a TCP connect to a loopback port that is listening but not
 * allowlisted, a UDP send, a raw socket, io_uring...) runs twice in forked
 * children: once without the sandbox, as the control that shows it would
 * work, and once after the very lockdown `serve` applies. A probe passes
 * when the sandboxed attempt fails; the errno names the layer (Landlock
 * answers EACCES, our seccomp filter EPERM). Exit 0 only when every layer
 * the configuration relies on is present and every probe is blocked.
 */
#include "cli/cli.h"
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/netlink.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_bpf
#define __NR_bpf 321
#endif

enum probe_id {
	P_TCP_CONNECT, P_TCP_FASTOPEN, P_TCP_BIND, P_UDP_SEND, P_RAW, P_PACKET,
	P_NETLINK, P_UNIX, P_IO_URING, P_BPF, P_FS_OUTSIDE, P_FS_DATA, P__COUNT
};

struct probe_def {
	const char *name;
	const char *what;
};

static const struct probe_def probes[P__COUNT] = {
	[P_TCP_CONNECT] = { "tcp_connect", "TCP connect to a listening, non-allowlisted loopback port" },
	[P_TCP_FASTOPEN] = { "tcp_fastopen", "TCP Fast Open sendto to the same port" },
	[P_TCP_BIND] = { "tcp_bind", "bind a new TCP listener on another port" },
	[P_UDP_SEND] = { "udp_send", "UDP datagram to a loopback receiver" },
	[P_RAW] = { "raw_socket", "raw IP socket" },
	[P_PACKET] = { "packet_socket", "AF_PACKET socket" },
	[P_NETLINK] = { "netlink_socket", "AF_NETLINK socket" },
	[P_UNIX] = { "unix_socket", "new AF_UNIX socket" },
	[P_IO_URING] = { "io_uring", "io_uring_setup" },
	[P_BPF] = { "bpf", "bpf(BPF_MAP_CREATE)" },
	[P_FS_OUTSIDE] = { "fs_write_outside", "create a file outside the data directory" },
	[P_FS_DATA] = { "fs_write_data", "create a file in the data directory" },
};

/* Probe context, set up in the parent before forking. */
struct probe_env {
	uint16_t tcp_port;	/* listening, not allowlisted */
	uint16_t udp_port;	/* bound receiver */
	char outside[4096];	/* a fresh directory outside every write path */
	const char *data_dir;	/* NULL when it does not exist */
	int expect_blocked[P__COUNT];	/* 1 blocked, 0 allowed, -1 not run */
};

/* What one child sends back. */
struct child_result {
	int lockdown_st;	/* status_t of sbx_lockdown, or -1 when not run */
	char msg[512];
	struct sbx_report rep;
	int err[P__COUNT];	/* 0: the call succeeded; else errno */
};

static int loopback_sockaddr(struct sockaddr_in *a, uint16_t port)
{
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return 0;
}

/* Runs probe i; returns 0 on success, else errno. */
static int run_probe(int i, const struct probe_env *env)
{
	struct sockaddr_in a;
	char path[8192];
	int fd, rc = 0, err = 0;

	switch (i) {
	case P_TCP_CONNECT:
	case P_TCP_FASTOPEN:
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errno;
		loopback_sockaddr(&a, env->tcp_port);
		if (i == P_TCP_CONNECT)
			rc = connect(fd, (struct sockaddr *)&a, sizeof a);
		else
			rc = (int)sendto(fd, "x", 1, MSG_FASTOPEN | MSG_NOSIGNAL,
					 (struct sockaddr *)&a, sizeof a);
		err = rc < 0 ? errno : 0;
		close(fd);
		return err;
	case P_TCP_BIND:
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errno;
		loopback_sockaddr(&a, 0);
		rc = bind(fd, (struct sockaddr *)&a, sizeof a);
		err = rc < 0 ? errno : 0;
		close(fd);
		return err;
	case P_UDP_SEND:
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errno;
		loopback_sockaddr(&a, env->udp_port);
		rc = (int)sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
		err = rc < 0 ? errno : 0;
		close(fd);
		return err;
	case P_RAW:
		fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
		break;
	case P_PACKET:
		fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
		break;
	case P_NETLINK:
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
		break;
	case P_UNIX:
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		break;
	case P_IO_URING: {
		uint8_t params[120];	/* struct io_uring_params */
		memset(params, 0, sizeof params);
		fd = (int)syscall(__NR_io_uring_setup, 2, params);
		break;
	}
	case P_BPF: {
		/* BPF_MAP_CREATE of an array map: harmless if it succeeds. */
		uint32_t attr[16];
		memset(attr, 0, sizeof attr);
		attr[0] = 2;	/* BPF_MAP_TYPE_ARRAY */
		attr[1] = 4;	/* key size */
		attr[2] = 4;	/* value size */
		attr[3] = 1;	/* max entries */
		fd = (int)syscall(__NR_bpf, 0, attr, sizeof attr);
		break;
	}
	case P_FS_OUTSIDE:
	case P_FS_DATA:
		snprintf(path, sizeof path, "%s/airlock-doctor-probe-%ld",
			 i == P_FS_OUTSIDE ? env->outside : env->data_dir,
			 (long)getpid());
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		err = fd < 0 ? errno : 0;
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return err;
	default:
		return EINVAL;
	}
	err = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	return err;
}

/* Forks a child that (optionally) locks down and runs every probe. */
static int run_child(const struct sbx_policy *pol, int sandboxed,
		     const struct probe_env *env, struct child_result *out)
{
	int p[2], status;
	pid_t pid;
	size_t got = 0;
	ssize_t n;

	memset(out, 0, sizeof *out);
	out->lockdown_st = -1;
	if (pipe(p) != 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		struct child_result r;
		struct err e;
		memset(&r, 0, sizeof r);
		r.lockdown_st = -1;
		close(p[0]);
		signal(SIGPIPE, SIG_IGN);
		log_setup(LOG_OFF, LOG_FMT_AUTO, NULL);
		if (sandboxed) {
			err_clear(&e);
			r.lockdown_st = (int)sbx_lockdown(pol, &r.rep, &e);
			str_copy(r.msg, e.msg, sizeof r.msg);
		}
		if (r.lockdown_st <= 0)
			for (int i = 0; i < P__COUNT; i++)
				r.err[i] = env->expect_blocked[i] < 0 ? 0 : run_probe(i, env);
		if (file_write_full(p[1], &r, sizeof r) != ST_OK)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	while (got < sizeof *out &&
	       (n = read(p[0], (char *)out + got, sizeof *out - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	waitpid(pid, &status, 0);
	return got == sizeof *out ? 0 : -1;
}

static int tcp_listener(uint16_t *port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	loopback_sockaddr(&a, 0);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&a, &al)) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static int udp_receiver(uint16_t *port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	loopback_sockaddr(&a, 0);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) ||
	    getsockname(fd, (struct sockaddr *)&a, &al)) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static int port_listed(const uint16_t *ports, size_t n, uint16_t port)
{
	for (size_t i = 0; i < n; i++)
		if (ports[i] == port)
			return 1;
	return 0;
}

/* 1 when path lies beneath dir (textually, after both are made absolute). */
static int beneath(const char *path, const char *dir)
{
	char rp[4096], rd[4096];
	size_t n;

	if (!dir || !*dir || !realpath(path, rp) || !realpath(dir, rd))
		return 0;
	n = strlen(rd);
	return strncmp(rp, rd, n) == 0 && (rp[n] == '/' || rp[n] == '\0' ||
					   (n == 1 && rd[0] == '/'));
}

static const char *errname(int err)
{
	const char *s;

	if (err == 0)
		return "ok";
	s = strerrorname_np(err);
	return s ? s : "error";
}

/* Which layer an errno of a sandboxed probe points at. */
static const char *layer_of(int base, int sbx)
{
	if (sbx == 0)
		return "none";
	if (base != 0 && base == sbx)
		return "environment";	/* fails without the sandbox as well */
	if (sbx == EACCES)
		return "landlock";
	if (sbx == EPERM)
		return "seccomp";
	return "other";
}

/* Network namespace of this process and whether it is the host's. */
static void netns_info(char *id, size_t n, int *own)
{
	char init[128];
	ssize_t k;

	*own = -1;
	k = readlink("/proc/self/ns/net", id, n - 1);
	if (k < 0) {
		str_copy(id, "unknown", n);
		return;
	}
	id[k] = '\0';
	k = readlink("/proc/1/ns/net", init, sizeof init - 1);
	if (k >= 0) {
		init[k] = '\0';
		*own = strcmp(init, id) != 0;
	}
}

/* Interface names from /proc/net/dev (no netlink socket needed). */
static void interfaces(json_t *arr)
{
	char line[512];
	FILE *f = fopen("/proc/net/dev", "r");
	int ln = 0;

	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char *c, *s = line;
		if (++ln <= 2)
			continue;
		c = strchr(line, ':');
		if (!c)
			continue;
		*c = '\0';
		while (*s == ' ')
			s++;
		json_array_append_new(arr, json_string(s));
	}
	fclose(f);
}

static json_t *ports_json(const uint16_t *p, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(p[i]));
	return a;
}

static json_t *strs_json(const char *const *p, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(p[i]));
	return a;
}

static void print_text(json_t *j)
{
	json_t *ll = json_object_get(j, "landlock"), *sc = json_object_get(j, "seccomp");
	json_t *ns = json_object_get(j, "network_namespace"), *pr, *v;
	size_t i;

	printf("airlock doctor: sealed boundary on this machine\n\n");
	printf("kernel            %s\n", json_string_value(json_object_get(j, "kernel")));
	printf("landlock          ABI %d: filesystem %s, TCP bind/connect %s, "
	       "abstract unix/signal scopes %s\n",
	       (int)json_integer_value(json_object_get(ll, "abi")),
	       json_is_true(json_object_get(ll, "fs")) ? "yes" : "NO",
	       json_is_true(json_object_get(ll, "net")) ? "yes" : "NO",
	       json_is_true(json_object_get(ll, "scoped")) ? "yes" : "no");
	printf("seccomp           %s (deny: non-TCP sockets, TCP Fast Open, "
	       "io_uring, bpf; EPERM)\n",
	       json_is_true(json_object_get(sc, "available")) ? "yes" : "NO");
	printf("network namespace %s (%s); interfaces:",
	       json_string_value(json_object_get(ns, "id")),
	       json_is_true(json_object_get(ns, "own")) ? "own namespace" :
	       json_is_false(json_object_get(ns, "own")) ? "the host's" :
	       "cannot compare with pid 1's");
	json_array_foreach(json_object_get(ns, "interfaces"), i, v)
		printf(" %s", json_string_value(v));
	printf(json_is_true(json_object_get(ns, "loopback_only")) ?
	       " (loopback only)" : " (external interfaces present: the "
	       "sandbox, not the namespace, keeps traffic in)");
	printf("\nlistening         %s (bind allowed on ports:",
	       json_string_value(json_object_get(j, "listen")));
	json_array_foreach(json_object_get(j, "bind_ports"), i, v)
		printf(" %d", (int)json_integer_value(v));
	printf(")\negress.allow     ");
	if (json_array_size(json_object_get(j, "egress_allow")) == 0)
		printf(" (empty: no outbound connection at all)");
	json_array_foreach(json_object_get(j, "egress_allow"), i, v)
		printf(" %s", json_string_value(v));
	printf("\nconnect allowed   ports:");
	json_array_foreach(json_object_get(j, "connect_ports"), i, v)
		printf(" %d", (int)json_integer_value(v));
	if (json_array_size(json_object_get(j, "connect_ports")) == 0)
		printf(" none");
	printf("\ndata directory    %s (read-write%s)\n",
	       json_string_value(json_object_get(j, "data_dir")),
	       json_is_true(json_object_get(j, "data_dir_exists")) ? "" :
	       "; does not exist yet");
	printf("read-only paths   system paths");
	json_array_foreach(json_object_get(j, "read_paths"), i, v)
		printf(", %s", json_string_value(v));
	printf("\n");
	if (json_string_length(json_object_get(j, "lockdown_error")))
		printf("lockdown          FAILED: %s\n",
		       json_string_value(json_object_get(j, "lockdown_error")));

	printf("\nprobes (forked child, same lockdown as serve):\n");
	printf("  %-17s %-11s %-11s %-12s %s\n", "probe", "unsandboxed", "sandboxed",
	       "blocked by", "result");
	pr = json_object_get(j, "probes");
	json_array_foreach(pr, i, v) {
		printf("  %-17s %-11s %-11s %-12s %s\n",
		       json_string_value(json_object_get(v, "name")),
		       json_string_value(json_object_get(v, "unsandboxed")),
		       json_string_value(json_object_get(v, "sandboxed")),
		       json_string_value(json_object_get(v, "layer")),
		       json_string_value(json_object_get(v, "result")));
	}
	v = json_object_get(j, "problems");
	if (json_array_size(v)) {
		json_t *p;
		printf("\nweaker than the configuration demands:\n");
		json_array_foreach(v, i, p)
			printf("  - %s\n", json_string_value(p));
	} else {
		printf("\nall layers enforced, all probes blocked\n");
	}
}

int cmd_doctor(struct cli *cli, int argc, char **argv)
{
	struct sbx_policy pol;
	struct probe_env env;
	struct child_result base, sbx;
	struct utsname un;
	struct err e;
	struct stat st;
	json_t *j, *probes_j, *problems, *allow_j;
	char nsid[128], tmpl[4096];
	const char *tmp;
	int as_json = 0, own, abi, have_sc, tcp_fd = -1, udp_fd = -1, rc;
	size_t i, n;

	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			as_json = 1;
		} else {
			cli_error("doctor", "unknown argument '%s' (see airlock doctor --help)",
				  argv[i]);
			return EXIT_USAGE;
		}
	}

	err_clear(&e);
	if (sbx_policy_from_config(&pol, cli->cfg, cli->data_dir, &e) != ST_OK) {
		cli_error_err("doctor", &e);
		return cli_exit_for(e.st);
	}

	j = json_object();
	problems = json_array();
	uname(&un);
	json_object_set_new(j, "kernel", json_string(un.release));
	abi = sbx_landlock_abi();
	have_sc = sbx_seccomp_available();
	json_object_set_new(j, "landlock", json_pack("{s:i,s:b,s:b,s:b}", "abi", abi,
		"fs", abi >= 1, "net", abi >= 4, "scoped", abi >= 6));
	json_object_set_new(j, "seccomp", json_pack("{s:b}", "available", have_sc));
	if (abi == 0)
		json_array_append_new(problems, json_string("Landlock is not available: "
			"filesystem and TCP rules are not enforced"));
	else if (abi < 4)
		json_array_append_new(problems, json_sprintf("Landlock ABI %d < 4: TCP "
			"connect/bind rules are not enforced", abi));
	if (!have_sc)
		json_array_append_new(problems, json_string("seccomp is not available: "
			"UDP/raw/netlink sockets and io_uring are not denied"));

	netns_info(nsid, sizeof nsid, &own);
	{
		json_t *ifs = json_array();
		size_t k;
		json_t *v;
		int only_lo = 1;
		interfaces(ifs);
		json_array_foreach(ifs, k, v)
			only_lo &= strcmp(json_string_value(v), "lo") == 0;
		json_object_set_new(j, "network_namespace", json_pack("{s:s,s:o,s:b,s:o}",
			"id", nsid, "own", own < 0 ? json_null() : json_boolean(own),
			"loopback_only", only_lo, "interfaces", ifs));
	}
	json_object_set_new(j, "listen", json_string(config_str(cli->cfg, "server.listen")));
	json_object_set_new(j, "bind_ports", ports_json(pol.bind_ports, pol.n_bind));
	json_object_set_new(j, "connect_ports", ports_json(pol.connect_ports, pol.n_connect));
	allow_j = json_array();
	n = config_list_len(cli->cfg, "egress.allow");
	for (i = 0; i < n; i++) {
		struct sbx_endpoint ep;
		if (sbx_endpoint_parse(config_list_item(cli->cfg, "egress.allow", i),
				       &ep, NULL) == ST_OK)
			json_array_append_new(allow_j, json_string(ep.text));
	}
	json_object_set_new(j, "egress_allow", allow_j);
	json_object_set_new(j, "data_dir", json_string(cli->data_dir));
	json_object_set_new(j, "data_dir_exists", json_boolean(
		stat(cli->data_dir, &st) == 0 && S_ISDIR(st.st_mode)));
	json_object_set_new(j, "read_paths", strs_json(pol.read_paths, pol.n_read));
	json_object_set_new(j, "write_paths", strs_json(pol.write_paths, pol.n_write));
	json_object_set_new(j, "allow_unix", json_boolean(pol.allow_unix));

	/* Probe targets that would work without the sandbox. */
	memset(&env, 0, sizeof env);
	for (i = 0; i < P__COUNT; i++)
		env.expect_blocked[i] = 1;
	env.expect_blocked[P_NETLINK] = pol.allow_netlink ? -1 : 1;
	env.expect_blocked[P_UNIX] = pol.allow_unix ? -1 : 1;
	env.expect_blocked[P_FS_DATA] = 0;
	for (int tries = 0; tries < 8; tries++) {
		if (tcp_fd >= 0)
			close(tcp_fd);
		tcp_fd = tcp_listener(&env.tcp_port);
		if (tcp_fd < 0 || !port_listed(pol.connect_ports, pol.n_connect, env.tcp_port))
			break;
	}
	udp_fd = udp_receiver(&env.udp_port);
	if (tcp_fd < 0 || udp_fd < 0)
		json_array_append_new(problems, json_string("cannot open the loopback "
			"listeners the probes need"));
	tmp = getenv("TMPDIR");
	snprintf(tmpl, sizeof tmpl, "%s/airlock-doctor-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(tmpl)) {
		str_copy(env.outside, tmpl, sizeof env.outside);
		for (i = 0; i < pol.n_write; i++)
			if (beneath(env.outside, pol.write_paths[i]))
				env.expect_blocked[P_FS_OUTSIDE] = -1;
		if (beneath(env.outside, cli->data_dir))
			env.expect_blocked[P_FS_OUTSIDE] = -1;
	} else {
		env.expect_blocked[P_FS_OUTSIDE] = -1;
	}
	if (stat(cli->data_dir, &st) == 0 && S_ISDIR(st.st_mode))
		env.data_dir = cli->data_dir;
	else
		env.expect_blocked[P_FS_DATA] = -1;

	/* The lockdown refuses without the layers; the probes must still show
	 * what is left, so the sandboxed child allows itself to run on. */
	pol.allow_unsandboxed = 1;
	if (run_child(&pol, 0, &env, &base) != 0 || run_child(&pol, 1, &env, &sbx) != 0) {
		json_array_append_new(problems, json_string("a probe child failed to report"));
		memset(&sbx, 0, sizeof sbx);
		memset(&base, 0, sizeof base);
	}
	if (sbx.lockdown_st > 0) {
		json_object_set_new(j, "lockdown_error", json_string(sbx.msg));
		json_array_append_new(problems, json_sprintf("lockdown failed: %s", sbx.msg));
	}
	json_object_set_new(j, "lockdown", json_pack("{s:b,s:b,s:b,s:b,s:i}",
		"landlock_fs", sbx.rep.landlock_fs, "landlock_net", sbx.rep.landlock_net,
		"landlock_scoped", sbx.rep.landlock_scoped, "seccomp", sbx.rep.seccomp,
		"fs_rules", (int)sbx.rep.n_fs_rules));

	probes_j = json_array();
	for (i = 0; i < P__COUNT; i++) {
		const char *result, *layer = "-";
		int ok;
		if (env.expect_blocked[i] < 0) {
			json_array_append_new(probes_j, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b}",
				"name", probes[i].name, "what", probes[i].what,
				"unsandboxed", "-", "sandboxed", "-", "layer", "-",
				"result", i == P_FS_DATA ? "skipped (no data directory yet)" :
			i == P_FS_OUTSIDE ? "skipped (temporary directory is writable by configuration)" :
			"skipped (allowed by the configuration)", "pass", 1));
			continue;
		}
		if (env.expect_blocked[i]) {
			layer = layer_of(base.err[i], sbx.err[i]);
			ok = sbx.err[i] != 0;
			result = !ok ? "NOT BLOCKED" : base.err[i] == 0 ? "blocked" :
				 "blocked (fails unsandboxed too)";
		} else {
			ok = sbx.err[i] == 0;
			result = ok ? "allowed, as configured" : "FAILED: must be allowed";
		}
		if (!ok)
			json_array_append_new(problems, json_sprintf("%s: %s (%s)",
				probes[i].name, result, probes[i].what));
		json_array_append_new(probes_j, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b}",
			"name", probes[i].name, "what", probes[i].what,
			"unsandboxed", errname(base.err[i]), "sandboxed", errname(sbx.err[i]),
			"layer", layer, "result", result, "pass", ok));
	}
	json_object_set_new(j, "probes", probes_j);
	rc = json_array_size(problems) ? EXIT_FAIL : EXIT_OK;
	json_object_set_new(j, "problems", problems);
	json_object_set_new(j, "ok", json_boolean(rc == EXIT_OK));

	if (as_json) {
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s) {
			puts(s);
			free(s);
		}
	} else {
		print_text(j);
	}
	json_decref(j);
	if (tcp_fd >= 0)
		close(tcp_fd);
	if (udp_fd >= 0)
		close(udp_fd);
	if (env.outside[0])
		rmdir(env.outside);
	return rc;
}
