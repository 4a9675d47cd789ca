/*
 * sandbox_int.h - Landlock's kernel interface and the module's private
 * helpers.
 *
 * Landlock is reached through raw syscalls. Its structures and constants are
 * spelled out here rather than taken from <linux/landlock.h> because the
 * build machine's headers may be older than the kernel the binary runs on
 * (Debian 12's describe ABI 3, without network rules); the values below are
 * the kernel's stable UAPI.
 */
#ifndef AIRLOCK_SANDBOX_INT_H
#define AIRLOCK_SANDBOX_INT_H

#include "sandbox/sandbox.h"

#include <stdint.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif

#define SBX__LL_CREATE_RULESET_VERSION (1U << 0)

/* struct landlock_ruleset_attr, ABI 6 layout (zero fields are ignored). */
struct sbx__ll_ruleset_attr {
	uint64_t handled_access_fs;	/* ABI 1 */
	uint64_t handled_access_net;	/* ABI 4 */
	uint64_t scoped;		/* ABI 6 */
};

/* Rule types. */
#define SBX__LL_RULE_PATH_BENEATH 1
#define SBX__LL_RULE_NET_PORT 2

struct sbx__ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

struct sbx__ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

/* Filesystem rights, with the ABI that introduced each. */
#define SBX__FS_EXECUTE (1ULL << 0)
#define SBX__FS_WRITE_FILE (1ULL << 1)
#define SBX__FS_READ_FILE (1ULL << 2)
#define SBX__FS_READ_DIR (1ULL << 3)
#define SBX__FS_REMOVE_DIR (1ULL << 4)
#define SBX__FS_REMOVE_FILE (1ULL << 5)
#define SBX__FS_MAKE_CHAR (1ULL << 6)
#define SBX__FS_MAKE_DIR (1ULL << 7)
#define SBX__FS_MAKE_REG (1ULL << 8)
#define SBX__FS_MAKE_SOCK (1ULL << 9)
#define SBX__FS_MAKE_FIFO (1ULL << 10)
#define SBX__FS_MAKE_BLOCK (1ULL << 11)
#define SBX__FS_MAKE_SYM (1ULL << 12)
#define SBX__FS_REFER (1ULL << 13)	/* ABI 2 */
#define SBX__FS_TRUNCATE (1ULL << 14)	/* ABI 3 */
#define SBX__FS_IOCTL_DEV (1ULL << 15)	/* ABI 5 */

/* Network rights (ABI 4). */
#define SBX__NET_BIND_TCP (1ULL << 0)
#define SBX__NET_CONNECT_TCP (1ULL << 1)

/* Scopes (ABI 6). */
#define SBX__SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define SBX__SCOPE_SIGNAL (1ULL << 1)

/*
 * Test hook: when >= 0, sbx_landlock_abi() and sbx_seccomp_available()
 * report these values instead of asking the kernel, so the refusal and
 * allow_unsandboxed paths can be tested on a kernel that has both layers.
 * -1 (the default) asks the kernel.
 */
extern int sbx__fake_landlock_abi;
extern int sbx__fake_seccomp;

/* Number of threads of the calling process (from /proc/self/task); 0 if
 * it cannot be read. */
int sbx__thread_count(void);

#endif
