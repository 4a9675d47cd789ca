/*
 * sandbox.h - the sealed boundary: kernel-enforced egress lockdown, the
 * egress allowlist, and the signed offline bundle.
 *
 * A long-running command (serve, index, agent) binds its listening sockets
 * and opens its files, then calls sbx_lockdown() once, before it starts any
 * thread. From then on the kernel itself refuses:
 *
 *   - TCP connect() to any port not in the policy, and TCP bind() to any port
 *     not in the policy (Landlock, ABI >= 4), with EACCES;
 *   - writes anywhere but the data directory and the policy's write paths,
 *     reads anywhere but the policy's read paths (Landlock filesystem rules);
 *   - new UDP, raw, packet, netlink and every other non-TCP socket, TCP Fast
 *     Open (an implicit connect Landlock does not see), io_uring and bpf
 *     (seccomp, with EPERM: calls fail, the process is not killed).
 *
 * The two layers answer with different errno values (EACCES for Landlock,
 * EPERM for seccomp), which is how `airlock doctor` names the layer that
 * blocked a probe.
 *
 * egress.allow (a config list of host:port) is the only place an outbound
 * destination can be named. Hosts are literal IP addresses or "localhost":
 * there is never a DNS lookup (see sbx_endpoint_parse).
 */
#ifndef AIRLOCK_SANDBOX_H
#define AIRLOCK_SANDBOX_H

#include "core/core.h"

#include <stdint.h>
#include <sys/socket.h>

/* ------------------------------------------------------------------ */
/* Lockdown                                                            */
/* ------------------------------------------------------------------ */

#define SBX_MAX_PATHS 256	/* one Landlock rule each; `index` adds every repository */
#define SBX_MAX_PORTS 32

/*
 * What the process may still do after lockdown. All strings are borrowed
 * and need to live only for the sbx_lockdown() call.
 */
struct sbx_policy {
	const char *data_dir;	/* read-write beneath; NULL or "": none */
	const char *read_paths[SBX_MAX_PATHS];	/* read + execute beneath each */
	size_t n_read;
	const char *write_paths[SBX_MAX_PATHS];	/* read-write beneath each */
	size_t n_write;
	uint16_t connect_ports[SBX_MAX_PORTS];	/* TCP ports connect() may reach */
	size_t n_connect;
	uint16_t bind_ports[SBX_MAX_PORTS];	/* TCP ports bind() may take */
	size_t n_bind;
	int system_paths;	/* add the read-only system paths (sbx_policy_init: 1) */
	int allow_unix;		/* permit new AF_UNIX sockets (a syslog sink) */
	int allow_netlink;	/* permit AF_NETLINK sockets (a sink that needs one) */
	int allow_unsandboxed;	/* go on (logged) when a kernel layer is missing */
};

/* What sbx_lockdown() enforced. */
struct sbx_report {
	int landlock_abi;	/* kernel's Landlock ABI; 0: unavailable */
	int landlock_fs;	/* filesystem rules in force */
	int landlock_net;	/* TCP bind/connect rules in force (ABI >= 4) */
	int landlock_scoped;	/* abstract Unix sockets and signals scoped (ABI >= 6) */
	int seccomp;		/* seccomp filter in force */
	int unsandboxed;	/* a layer was missing; allow_unsandboxed let it pass */
	size_t n_fs_rules;	/* paths that got a rule (missing ones are skipped) */
	char missing[256];	/* the layers that are missing, "" when none */
};

/*
 * Fills p with an empty policy: no data directory, no ports, no extra paths,
 * the read-only system paths (/usr, /lib*, /etc, /proc, /sys/devices/system/cpu,
 * /dev/urandom, /dev/null...) included.
 */
void sbx_policy_init(struct sbx_policy *p);

/* Appends a read-only (execute allowed) path; ST_LIMIT past SBX_MAX_PATHS. */
status_t sbx_policy_add_read(struct sbx_policy *p, const char *path,
			     struct err *e);
/* Appends a read-write path; ST_LIMIT past SBX_MAX_PATHS. */
status_t sbx_policy_add_write(struct sbx_policy *p, const char *path,
			      struct err *e);
/* Allows TCP connect() to port (on any address); duplicates are merged. */
status_t sbx_policy_add_connect(struct sbx_policy *p, uint16_t port,
				struct err *e);
/* Allows TCP bind() to port; duplicates are merged. */
status_t sbx_policy_add_bind(struct sbx_policy *p, uint16_t port,
			     struct err *e);

/*
 * Builds the policy a command runs under from the configuration: data_dir
 * read-write, sandbox.read_paths and model.path read-only,
 * sandbox.write_paths read-write, the ports of egress.allow for connect, the
 * port of server.listen for bind, sandbox.allow_unix. p is initialised by
 * this call; its strings are borrowed from cfg and data_dir. An invalid
 * egress.allow entry is ST_CONFIG naming it.
 */
status_t sbx_policy_from_config(struct sbx_policy *p, const struct config *cfg,
				const char *data_dir, struct err *e);

/*
 * The one call a long-running command makes: the policy from the
 * configuration (sbx_policy_from_config), plus extra read-only paths
 * (borrowed; e.g. the repositories `index` reads), then sbx_lockdown().
 * allow_unsandboxed is the command's --allow-unsandboxed flag. Errors as
 * the two functions give them.
 */
status_t sbx_lockdown_config(const struct config *cfg, const char *data_dir,
			     const char *const *extra_read, size_t n_extra,
			     int allow_unsandboxed, struct sbx_report *out,
			     struct err *e);

/*
 * Returns the Landlock ABI version of the running kernel (1..), or 0 when
 * Landlock is not built in or not enabled at boot.
 */
int sbx_landlock_abi(void);

/* Returns 1 when the kernel supports seccomp filters with SECCOMP_RET_ERRNO. */
int sbx_seccomp_available(void);

/*
 * Locks the calling process down under p and fills out (may be NULL) with
 * what is in force. Irrevocable. Call once, after listening sockets are bound
 * and needed files opened, and before any thread starts: Landlock applies to
 * the calling thread and its future children only, so a second thread is
 * refused (ST_INVAL). Everything that can fail is prepared before anything
 * is applied.
 *
 * Errors: ST_UNSUPPORTED when Landlock (or its TCP rules, ABI < 4) or seccomp
 * is missing and p->allow_unsandboxed is 0 -- nothing is applied then; with
 * allow_unsandboxed the available layers are applied, out->unsandboxed is
 * set and a warning is logged. ST_LIMIT/ST_IO/ST_INTERNAL when a rule cannot
 * be built; ST_INVAL for a bad policy or a multi-threaded caller.
 */
status_t sbx_lockdown(const struct sbx_policy *p, struct sbx_report *out,
		      struct err *e);

/* ------------------------------------------------------------------ */
/* Egress allowlist                                                    */
/* ------------------------------------------------------------------ */

/* One allowlisted destination, in canonical form. */
struct sbx_endpoint {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network order; IPv4 in the first 4 bytes */
	uint16_t port;		/* host order, 1..65535 */
	char text[64];		/* canonical "127.0.0.1:5432" / "[::1]:5432" */
};

/*
 * Parses "A.B.C.D:PORT", "[IPV6]:PORT" or "localhost:PORT" (localhost is
 * 127.0.0.1) into out. Host names are refused with ST_CONFIG: a DNS lookup
 * is itself egress (queries leave the boundary and can carry data in their
 * names), needs UDP the sandbox forbids, and lets the answer change after
 * the operator approved the name. Any other malformation is ST_CONFIG with a
 * message naming the entry.
 */
status_t sbx_endpoint_parse(const char *s, struct sbx_endpoint *out,
			    struct err *e);

/*
 * Checks that host:port is on the config's egress.allow list, comparing
 * addresses (so "localhost" and "127.0.0.1" are the same). host is a
 * literal address (IPv6 with or without brackets) or "localhost".
 * Returns ST_OK, ST_DENIED (not allowlisted), ST_INVAL (host is a name or
 * malformed), or ST_CONFIG (the list itself has a bad entry).
 * When sa is non-NULL, the address to connect to is written there (*salen
 * its length), so callers never need a resolver.
 */
status_t sbx_egress_check(const struct config *cfg, const char *host, int port,
			  struct sockaddr_storage *sa, socklen_t *salen,
			  struct err *e);

/* ------------------------------------------------------------------ */
/* Signed offline bundle                                               */
/* ------------------------------------------------------------------ */

/*
 * Key files hold one line: the base64 of a 32-byte Ed25519 key (private:
 * the seed). Private key files are written 0600.
 */

/* Generates a key pair into path (private, 0600) and path.pub. ST_EXISTS
 * when path exists and force is 0. */
status_t sbx_key_generate(const char *path, int force, struct err *e);
/* Reads a key file (private or public, 32 bytes) into key. */
status_t sbx_key_load(const char *path, uint8_t key[ED25519_KEY_LEN],
		      struct err *e);

/*
 * Writes dir/SHA256SUMS.sig: the base64 Ed25519 signature over the bytes of
 * dir/SHA256SUMS, by the private key in key_path.
 */
status_t sbx_bundle_sign(const char *dir, const char *key_path, struct err *e);

/* Result of verifying a bundle directory. */
struct sbx_bundle_result {
	size_t n_files;		/* files listed and checked */
	char bad[512];		/* first problem, "" when none */
};

/*
 * Verifies an unpacked bundle: the signature over SHA256SUMS by pub, then
 * every listed file's SHA-256, then that no file exists that is not listed
 * (and no symlink or special file at all). Returns ST_OK or ST_VERIFY (e
 * names the file), ST_CORRUPT for a malformed SHA256SUMS (e names the line).
 */
status_t sbx_bundle_verify(const char *dir, const uint8_t pub[ED25519_KEY_LEN],
			   struct sbx_bundle_result *res, struct err *e);

/*
 * Parses SHA256SUMS text (lines "<64 hex>  <path>" or "<64 hex> *<path>")
 * calling fn for each entry; stops at the first error. Paths must be
 * relative, without "..", "." or empty components, no backslashes or
 * control characters. ST_CORRUPT names the line. fn may be NULL.
 */
status_t sbx_sums_parse(const char *text, size_t len,
			status_t (*fn)(void *arg, const uint8_t sum[SHA256_LEN],
				       const char *path, struct err *e),
			void *arg, struct err *e);

#endif
