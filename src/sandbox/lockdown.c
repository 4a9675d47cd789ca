/*
 * lockdown.c - sbx_lockdown(): Landlock filesystem and TCP rules plus a
 * seccomp filter, prepared completely and then applied in one go.
 *
 * Landlock is deny-by-default for what a ruleset "handles": we handle every
 * filesystem right the kernel knows, TCP bind and connect (ABI >= 4), and
 * the abstract-Unix-socket and signal scopes (ABI >= 6), then allow back
 * only the policy's paths and ports. Landlock has no say over UDP, raw or
 * other socket families, nor over TCP Fast Open's implicit connect, so the
 * seccomp filter denies those outright, with io_uring (whose operations
 * bypass the syscall filter) and bpf.
 */
#include "sandbox/sandbox_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/seccomp.h>

int sbx__fake_landlock_abi = -1;
int sbx__fake_seccomp = -1;

/* Read-only system paths a locked-down process may still need: the dynamic
 * loader's late loads (libgcc_s for thread cancellation, NSS, gconv), time
 * zone and locale data, /proc for its own maps and limits (sanitizers read
 * them at exit), CPU topology. Absent paths are skipped. */
static const char *const system_read[] = {
	"/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin",
	"/etc", "/proc", "/sys/devices/system/cpu", "/sys/fs/cgroup",
	"/dev/urandom", "/dev/random",
};
/* Device files that may be opened for writing. */
static const char *const system_write_dev[] = { "/dev/null", "/dev/zero" };

void sbx_policy_init(struct sbx_policy *p)
{
	memset(p, 0, sizeof *p);
	p->system_paths = 1;
}

status_t sbx_policy_add_read(struct sbx_policy *p, const char *path,
			     struct err *e)
{
	if (!path || !*path)
		return err_set(e, ST_INVAL, "sandbox: empty read path");
	if (p->n_read >= SBX_MAX_PATHS)
		return err_set(e, ST_LIMIT, "sandbox: more than %d read paths",
			       SBX_MAX_PATHS);
	p->read_paths[p->n_read++] = path;
	return ST_OK;
}

status_t sbx_policy_add_write(struct sbx_policy *p, const char *path,
			      struct err *e)
{
	if (!path || !*path)
		return err_set(e, ST_INVAL, "sandbox: empty write path");
	if (p->n_write >= SBX_MAX_PATHS)
		return err_set(e, ST_LIMIT, "sandbox: more than %d write paths",
			       SBX_MAX_PATHS);
	p->write_paths[p->n_write++] = path;
	return ST_OK;
}

static status_t add_port(uint16_t *ports, size_t *n, uint16_t port,
			 const char *what, struct err *e)
{
	if (port == 0)
		return err_set(e, ST_INVAL, "sandbox: %s port 0", what);
	for (size_t i = 0; i < *n; i++)
		if (ports[i] == port)
			return ST_OK;
	if (*n >= SBX_MAX_PORTS)
		return err_set(e, ST_LIMIT, "sandbox: more than %d %s ports",
			       SBX_MAX_PORTS, what);
	ports[(*n)++] = port;
	return ST_OK;
}

status_t sbx_policy_add_connect(struct sbx_policy *p, uint16_t port,
				struct err *e)
{
	return add_port(p->connect_ports, &p->n_connect, port, "connect", e);
}

status_t sbx_policy_add_bind(struct sbx_policy *p, uint16_t port,
			     struct err *e)
{
	return add_port(p->bind_ports, &p->n_bind, port, "bind", e);
}

/* ------------------------------------------------------------------ */
/* Probes                                                              */
/* ------------------------------------------------------------------ */

int sbx_landlock_abi(void)
{
	long abi;

	if (sbx__fake_landlock_abi >= 0)
		return sbx__fake_landlock_abi;
	abi = syscall(__NR_landlock_create_ruleset, NULL, 0,
		      SBX__LL_CREATE_RULESET_VERSION);
	return abi < 0 ? 0 : (int)abi;
}

int sbx_seccomp_available(void)
{
	unsigned action = SECCOMP_RET_ERRNO;

	if (sbx__fake_seccomp >= 0)
		return sbx__fake_seccomp;
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
		return 0;	/* kernel built without CONFIG_SECCOMP */
	return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

int sbx__thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ------------------------------------------------------------------ */
/* Landlock                                                            */
/* ------------------------------------------------------------------ */

static uint64_t fs_rights_for_abi(int abi)
{
	uint64_t r = (SBX__FS_MAKE_SYM << 1) - 1;	/* ABI 1: bits 0..12 */

	if (abi >= 2)
		r |= SBX__FS_REFER;
	if (abi >= 3)
		r |= SBX__FS_TRUNCATE;
	if (abi >= 5)
		r |= SBX__FS_IOCTL_DEV;
	return r;
}

/* Rights that may be granted on a path that is not a directory. */
#define FILE_RIGHTS (SBX__FS_EXECUTE | SBX__FS_WRITE_FILE | SBX__FS_READ_FILE | \
		     SBX__FS_TRUNCATE | SBX__FS_IOCTL_DEV)
#define READ_RIGHTS (SBX__FS_EXECUTE | SBX__FS_READ_FILE | SBX__FS_READ_DIR)

/* Adds a path-beneath rule; a path that does not exist is skipped. */
static status_t ll_add_path(int rfd, const char *path, uint64_t rights,
			    size_t *n_rules, struct err *e)
{
	struct sbx__ll_path_beneath_attr pb;
	struct stat st;
	int fd;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			LOG_DEBUG("sandbox.path_missing", LF_STR("path", path));
			return ST_OK;
		}
		return err_set(e, ST_IO, "sandbox: %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		rights &= FILE_RIGHTS;
	memset(&pb, 0, sizeof pb);
	pb.allowed_access = rights;
	pb.parent_fd = fd;
	if (syscall(__NR_landlock_add_rule, rfd, SBX__LL_RULE_PATH_BENEATH, &pb, 0)) {
		int err = errno;
		close(fd);
		return err_set(e, ST_INTERNAL, "sandbox: landlock rule for %s: %s",
			       path, strerror(err));
	}
	close(fd);
	(*n_rules)++;
	return ST_OK;
}

static status_t ll_add_port(int rfd, uint16_t port, uint64_t rights,
			    struct err *e)
{
	struct sbx__ll_net_port_attr np = { .allowed_access = rights, .port = port };

	if (syscall(__NR_landlock_add_rule, rfd, SBX__LL_RULE_NET_PORT, &np, 0))
		return err_set(e, ST_INTERNAL, "sandbox: landlock rule for port %u: %s",
			       (unsigned)port, strerror(errno));
	return ST_OK;
}

/* Builds the ruleset; *out_fd is the ruleset fd for landlock_restrict_self. */
static status_t ll_build(const struct sbx_policy *p, int abi,
			 struct sbx_report *r, int *out_fd, struct err *e)
{
	struct sbx__ll_ruleset_attr attr;
	uint64_t all = fs_rights_for_abi(abi);
	status_t st = ST_OK;
	int rfd;
	size_t i;

	memset(&attr, 0, sizeof attr);
	attr.handled_access_fs = all;
	if (abi >= 4)
		attr.handled_access_net = SBX__NET_BIND_TCP | SBX__NET_CONNECT_TCP;
	if (abi >= 6)
		attr.scoped = SBX__SCOPE_ABSTRACT_UNIX | SBX__SCOPE_SIGNAL;
	rfd = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (rfd < 0)
		return err_set(e, ST_INTERNAL, "sandbox: landlock_create_ruleset: %s",
			       strerror(errno));

	if (p->system_paths) {
		for (i = 0; st == ST_OK && i < sizeof system_read / sizeof *system_read; i++)
			st = ll_add_path(rfd, system_read[i], all & READ_RIGHTS,
					 &r->n_fs_rules, e);
		for (i = 0; st == ST_OK && i < sizeof system_write_dev / sizeof *system_write_dev; i++)
			st = ll_add_path(rfd, system_write_dev[i],
					 all & (SBX__FS_READ_FILE | SBX__FS_WRITE_FILE |
						SBX__FS_TRUNCATE),
					 &r->n_fs_rules, e);
	}
	for (i = 0; st == ST_OK && i < p->n_read; i++)
		st = ll_add_path(rfd, p->read_paths[i], all & READ_RIGHTS,
				 &r->n_fs_rules, e);
	for (i = 0; st == ST_OK && i < p->n_write; i++)
		st = ll_add_path(rfd, p->write_paths[i], all, &r->n_fs_rules, e);
	if (st == ST_OK && p->data_dir && *p->data_dir)
		st = ll_add_path(rfd, p->data_dir, all, &r->n_fs_rules, e);

	if (abi >= 4) {
		for (i = 0; st == ST_OK && i < p->n_connect; i++) {
			uint64_t rights = SBX__NET_CONNECT_TCP;
			for (size_t j = 0; j < p->n_bind; j++)
				if (p->bind_ports[j] == p->connect_ports[i])
					rights |= SBX__NET_BIND_TCP;
			st = ll_add_port(rfd, p->connect_ports[i], rights, e);
		}
		for (i = 0; st == ST_OK && i < p->n_bind; i++) {
			int dup = 0;
			for (size_t j = 0; j < p->n_connect; j++)
				dup |= p->connect_ports[j] == p->bind_ports[i];
			if (!dup)
				st = ll_add_port(rfd, p->bind_ports[i],
						 SBX__NET_BIND_TCP, e);
		}
	}
	if (st != ST_OK) {
		close(rfd);
		return st;
	}
	*out_fd = rfd;
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* seccomp                                                             */
/* ------------------------------------------------------------------ */

#define DENY SCMP_ACT_ERRNO(EPERM)
#define MASK32 0xffffffffULL

static int sc_deny_family(scmp_filter_ctx ctx, int sysno, int family)
{
	return seccomp_rule_add(ctx, DENY, sysno, 1,
				SCMP_A0(SCMP_CMP_MASKED_EQ, MASK32, (uint64_t)family));
}

/*
 * The filter. Its default is to allow: it is a deny list aimed at egress
 * paths Landlock does not cover, not a full syscall allowlist (which would
 * have to follow every library's needs and break on their updates).
 */
static status_t sc_build(const struct sbx_policy *p, scmp_filter_ctx *out,
			 struct err *e)
{
	/* Socket types that are not a byte stream: UDP, raw, SCTP's seqpacket,
	 * DCCP, the old SOCK_PACKET. Masked with SOCK_TYPE_MASK (0xf). */
	static const int bad_types[] = { SOCK_DGRAM, SOCK_RAW, SOCK_RDM,
					 SOCK_SEQPACKET, SOCK_DCCP, SOCK_PACKET };
	/* Stream protocols other than TCP that Landlock's TCP rules miss:
	 * SCTP, SMC over AF_INET (IPPROTO_SMC, 256, Linux 6.11+), MPTCP. */
	static const int bad_protos[] = { IPPROTO_SCTP, 256, IPPROTO_MPTCP };
	static const int inet[] = { AF_INET, AF_INET6 };
	scmp_filter_ctx ctx;
	int rc = 0;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return err_set(e, ST_NOMEM, "sandbox: seccomp_init failed");
	/* Syscalls of a foreign ABI (32-bit int 0x80) fail rather than kill. */
	rc |= seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, DENY);
	rc |= seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
	rc |= seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);

	/* socket(): only AF_INET/AF_INET6 streams, and AF_UNIX / AF_NETLINK
	 * when the policy says so. Every other family is listed explicitly. */
	for (int fam = 0; fam < AF_MAX && rc == 0; fam++) {
		if (fam == AF_INET || fam == AF_INET6)
			continue;
		if (fam == AF_UNIX && p->allow_unix)
			continue;
		if (fam == AF_NETLINK && p->allow_netlink)
			continue;
		rc |= sc_deny_family(ctx, SCMP_SYS(socket), fam);
	}
	for (size_t i = 0; i < 2 && rc == 0; i++) {
		for (size_t t = 0; t < sizeof bad_types / sizeof *bad_types; t++)
			rc |= seccomp_rule_add(ctx, DENY, SCMP_SYS(socket), 2,
					       SCMP_A0(SCMP_CMP_MASKED_EQ, MASK32, (uint64_t)inet[i]),
					       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, (uint64_t)bad_types[t]));
		for (size_t t = 0; t < sizeof bad_protos / sizeof *bad_protos; t++)
			rc |= seccomp_rule_add(ctx, DENY, SCMP_SYS(socket), 2,
					       SCMP_A0(SCMP_CMP_MASKED_EQ, MASK32, (uint64_t)inet[i]),
					       SCMP_A2(SCMP_CMP_MASKED_EQ, MASK32, (uint64_t)bad_protos[t]));
	}
	/* socketpair(): AF_UNIX pairs stay inside the process; nothing else. */
	for (int fam = 0; fam < AF_MAX && rc == 0; fam++)
		if (fam != AF_UNIX)
			rc |= sc_deny_family(ctx, SCMP_SYS(socketpair), fam);

	/* TCP Fast Open connects from sendto/sendmsg without connect(), which
	 * Landlock's connect hook does not see. */
	rc |= seccomp_rule_add(ctx, DENY, SCMP_SYS(sendto), 1,
			       SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN));
	rc |= seccomp_rule_add(ctx, DENY, SCMP_SYS(sendmsg), 1,
			       SCMP_A2(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN));
	rc |= seccomp_rule_add(ctx, DENY, SCMP_SYS(sendmmsg), 1,
			       SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN));

	/* io_uring performs its operations (connect, sendmsg, openat) outside
	 * the syscall path seccomp filters; bpf can attach programs. */
	rc |= seccomp_rule_add(ctx, DENY, SCMP_SYS(io_uring_setup), 0);
	rc |= seccomp_rule_add(ctx, DENY, SCMP_SYS(io_uring_enter), 0);
	rc |= seccomp_rule_add(ctx, DENY, SCMP_SYS(io_uring_register), 0);
	rc |= seccomp_rule_add(ctx, DENY, SCMP_SYS(bpf), 0);

	if (rc != 0) {
		seccomp_release(ctx);
		return err_set(e, ST_INTERNAL, "sandbox: building the seccomp filter failed");
	}
	*out = ctx;
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* Lockdown                                                            */
/* ------------------------------------------------------------------ */

status_t sbx_lockdown(const struct sbx_policy *p, struct sbx_report *out,
		      struct err *e)
{
	struct sbx_report rep;
	scmp_filter_ctx sc = NULL;
	int abi, have_sc, rfd = -1, threads;
	status_t st;
	size_t ml = 0;

	memset(&rep, 0, sizeof rep);
	if (!p)
		return err_set(e, ST_INVAL, "sandbox: no policy");
	threads = sbx__thread_count();
	if (threads > 1)
		return err_set(e, ST_INVAL,
			       "sandbox: lockdown with %d threads running; Landlock "
			       "binds only the calling thread, lock down before "
			       "starting threads", threads);

	abi = sbx_landlock_abi();
	have_sc = sbx_seccomp_available();
	rep.landlock_abi = abi;
	if (abi == 0)
		ml += (size_t)snprintf(rep.missing + ml, sizeof rep.missing - ml,
				       "%sLandlock", ml ? ", " : "");
	else if (abi < 4)
		ml += (size_t)snprintf(rep.missing + ml, sizeof rep.missing - ml,
				       "%sLandlock TCP rules (ABI %d < 4)",
				       ml ? ", " : "", abi);
	if (!have_sc)
		ml += (size_t)snprintf(rep.missing + ml, sizeof rep.missing - ml,
				       "%sseccomp", ml ? ", " : "");
	if (ml) {
		if (!p->allow_unsandboxed) {
			LOG_ERROR("sandbox.refused", LF_STR("missing", rep.missing));
			if (out)
				*out = rep;
			return err_set(e, ST_UNSUPPORTED,
				       "sandbox: this kernel lacks %s; refusing to run "
				       "unsandboxed (--allow-unsandboxed overrides)",
				       rep.missing);
		}
		rep.unsandboxed = 1;
		LOG_WARN("sandbox.unsandboxed", LF_STR("missing", rep.missing));
	}

	/* Prepare everything that can fail. */
	if (abi > 0) {
		st = ll_build(p, abi, &rep, &rfd, e);
		if (st != ST_OK)
			return st;
	}
	if (have_sc) {
		st = sc_build(p, &sc, e);
		if (st != ST_OK) {
			if (rfd >= 0)
				close(rfd);
			return st;
		}
	}

	/* Apply. Both need no_new_privs (we are not CAP_SYS_ADMIN-bound). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		st = err_set(e, ST_INTERNAL, "sandbox: PR_SET_NO_NEW_PRIVS: %s",
			     strerror(errno));
		goto fail;
	}
	if (rfd >= 0) {
		if (syscall(__NR_landlock_restrict_self, rfd, 0) != 0) {
			st = err_set(e, ST_INTERNAL, "sandbox: landlock_restrict_self: %s",
				     strerror(errno));
			goto fail;
		}
		close(rfd);
		rfd = -1;
		rep.landlock_fs = 1;
		rep.landlock_net = abi >= 4;
		rep.landlock_scoped = abi >= 6;
	}
	if (sc) {
		int rc = seccomp_load(sc);
		if (rc != 0) {
			st = err_set(e, ST_INTERNAL, "sandbox: seccomp_load: %s",
				     strerror(-rc));
			goto fail;
		}
		seccomp_release(sc);
		sc = NULL;
		rep.seccomp = 1;
	}
	LOG_INFO("sandbox.locked", LF_INT("landlock_abi", abi),
		 LF_BOOL("landlock_net", rep.landlock_net),
		 LF_BOOL("seccomp", rep.seccomp),
		 LF_INT("connect_ports", p->n_connect),
		 LF_INT("bind_ports", p->n_bind),
		 LF_INT("fs_rules", rep.n_fs_rules),
		 LF_BOOL("unsandboxed", rep.unsandboxed));
	if (out)
		*out = rep;
	return ST_OK;
fail:
	if (rfd >= 0)
		close(rfd);
	if (sc)
		seccomp_release(sc);
	if (out)
		*out = rep;
	return st;
}

status_t sbx_lockdown_config(const struct config *cfg, const char *data_dir,
			     const char *const *extra_read, size_t n_extra,
			     int allow_unsandboxed, struct sbx_report *out,
			     struct err *e)
{
	struct sbx_policy p;
	status_t st;

	st = sbx_policy_from_config(&p, cfg, data_dir, e);
	for (size_t i = 0; st == ST_OK && i < n_extra; i++)
		st = sbx_policy_add_read(&p, extra_read[i], e);
	if (st != ST_OK)
		return st;
	p.allow_unsandboxed = allow_unsandboxed;
	return sbx_lockdown(&p, out, e);
}
