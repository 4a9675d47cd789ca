/*
 * file.c - files: bounded whole-file reads, read-only maps, atomic
 * replacement (temp + fsync + rename + fsync of the directory).
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static status_t errno_status(int err)
{
	switch (err) {
	case ENOENT: case ENOTDIR: return ST_NOTFOUND;
	case EACCES: case EPERM: case EROFS: return ST_PERM;
	case ENOMEM: return ST_NOMEM;
	case EEXIST: return ST_EXISTS;
	case ENOSPC: case EDQUOT: case EFBIG: return ST_LIMIT;
	default: return ST_IO;
	}
}

/* Write fault injection: -1 = off; else successful calls left. */
static atomic_long io_countdown = -1;
static atomic_int io_errno, io_torn;

void file_io_fail_after(long n, int err, int torn)
{
	atomic_store(&io_errno, err);
	atomic_store(&io_torn, torn);
	atomic_store(&io_countdown, n < 0 ? 0 : n);
}

void file_io_fail_reset(void)
{
	atomic_store(&io_countdown, -1);
}

/* Returns the errno to fail this call with, or 0 to go ahead. */
static int io_should_fail(void)
{
	long c = atomic_load(&io_countdown);

	while (c > 0) {
		if (atomic_compare_exchange_weak(&io_countdown, &c, c - 1))
			return 0;
	}
	return c == 0 ? atomic_load(&io_errno) : 0;
}

status_t file_sync(int fd)
{
	int err = io_should_fail();

	if (err)
		return errno = err, errno_status(err);
	if (fsync(fd) != 0)
		return errno_status(errno);
	return ST_OK;
}

status_t file_write_full(int fd, const void *p, size_t n)
{
	const char *c = p;
	int err = io_should_fail();

	if (err) {
		if (atomic_load(&io_torn) && n > 1 && write(fd, c, n / 2) < 0)
			err = errno;
		errno = err;
		return errno_status(err);
	}

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno_status(errno);
		}
		c += w;
		n -= (size_t)w;
	}
	return ST_OK;
}

status_t file_read_full(int fd, void *p, size_t n, size_t *got)
{
	char *c = p;
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, c + done, n - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*got = done;
			return errno_status(errno);
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return ST_OK;
}

status_t file_read_all(const char *path, size_t max, char **out, size_t *len,
		       struct err *e)
{
	struct stat st;
	struct buf b;
	char chunk[65536];
	int fd;
	status_t s = ST_OK;

	*out = NULL;
	if (len)
		*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, errno_status(errno), "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return err_set(e, ST_INVAL, "%s: is a directory", path);
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		close(fd);
		return err_set(e, ST_LIMIT, "%s: file is %lld bytes, limit %zu",
			       path, (long long)st.st_size, max);
	}
	buf_init(&b, max);
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			s = err_set(e, errno_status(errno), "%s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		s = buf_append(&b, chunk, (size_t)r);
		if (s == ST_LIMIT) {
			err_set(e, s, "%s: larger than the limit of %zu bytes", path, max);
			break;
		}
		if (s != ST_OK) {
			err_set(e, s, "%s: %s", path, status_str(s));
			break;
		}
	}
	close(fd);
	if (s != ST_OK) {
		buf_release(&b);
		return s;
	}
	*out = buf_detach(&b, len);
	if (!*out)
		return err_set(e, ST_NOMEM, "%s: out of memory", path);
	return ST_OK;
}

status_t fmap_open(struct fmap *m, const char *path, struct err *e)
{
	struct stat st;
	void *p;

	m->data = NULL;
	m->len = 0;
	m->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (m->fd < 0)
		return err_set(e, errno_status(errno), "%s: %s", path, strerror(errno));
	if (fstat(m->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(m->fd);
		m->fd = -1;
		return err_set(e, ST_INVAL, "%s: not a regular file", path);
	}
	if (st.st_size == 0)
		return ST_OK;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, m->fd, 0);
	if (p == MAP_FAILED) {
		int err = errno;
		close(m->fd);
		m->fd = -1;
		return err_set(e, errno_status(err), "%s: mmap: %s", path, strerror(err));
	}
	m->data = p;
	m->len = (size_t)st.st_size;
	return ST_OK;
}

void fmap_release(struct fmap *m)
{
	if (!m)
		return;
	if (m->data)
		munmap((void *)m->data, m->len);
	if (m->fd >= 0)
		close(m->fd);
	m->data = NULL;
	m->len = 0;
	m->fd = -1;
}

/* Splits path into its directory ("." when none) in out. */
static void dir_of(const char *path, char *out, size_t n)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		str_copy(out, ".", n);
	else if (slash == path)
		str_copy(out, "/", n);
	else
		snprintf(out, n, "%.*s", (int)(slash - path), path);
}

status_t file_write_atomic(const char *path, const void *data, size_t len,
			   unsigned mode, struct err *e)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, dfd;
	status_t s;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return err_set(e, ST_INVAL, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return err_set(e, errno_status(errno), "%s: %s", tmp, strerror(errno));
	s = file_write_full(fd, data, len);
	if (s == ST_OK && fchmod(fd, mode) != 0)
		s = errno_status(errno);
	if (s == ST_OK)
		s = file_sync(fd);
	if (close(fd) != 0 && s == ST_OK)
		s = errno_status(errno);
	if (s != ST_OK) {
		int err = errno;
		unlink(tmp);
		return err_set(e, s, "%s: write failed: %s", path, strerror(err));
	}
	if (rename(tmp, path) != 0) {
		int err = errno;
		unlink(tmp);
		return err_set(e, errno_status(err), "%s: rename: %s", path, strerror(err));
	}
	dir_of(path, dir, sizeof dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		int rc = fsync(dfd);
		close(dfd);
		if (rc != 0)
			return err_set(e, ST_IO, "%s: fsync of directory: %s", dir,
				       strerror(errno));
	}
	return ST_OK;
}

status_t file_mkdirs(const char *dir, unsigned mode, struct err *e)
{
	char p[PATH_MAX];
	size_t n = str_copy(p, dir, sizeof p);
	struct stat st;

	if (n >= sizeof p)
		return err_set(e, ST_INVAL, "%s: path too long", dir);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != 0)
			continue;
		char c = p[i];
		p[i] = 0;
		if (mkdir(p, mode) != 0 && errno != EEXIST)
			return err_set(e, errno_status(errno), "%s: %s", p, strerror(errno));
		p[i] = c;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return err_set(e, ST_IO, "%s: not a directory", dir);
	return ST_OK;
}
