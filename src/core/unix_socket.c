/* See unix_socket.h. */
#include "unix_socket.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int unix_listen(const char *path, mode_t mode, const char *group, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		close(probe);
		if (rc == 0) {
			snprintf(err, errlen, "%s is in use by another running service", path);
			return -EADDRINUSE;
		}
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	/* created with its final mode by bind itself (never a chmod by path,
	 * which would follow a symlink put there meanwhile). The umask is
	 * process-wide, but only the main thread creates files. */
	mode_t old = umask(~mode & 0777);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	if (group && *group) {
		struct group *g = getgrnam(group);
		char *end;
		long gid = g ? (long)g->gr_gid : strtol(group, &end, 10);
		if (!g && *end) {
			rc = -EINVAL;
			snprintf(err, errlen, "no group %s", group);
			goto fail;
		}
		/* lchown: the socket we just made, never what a symlink names */
		if (lchown(path, (uid_t)-1, (gid_t)gid) < 0) {
			rc = -errno;
			snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
			goto fail;
		}
	}
	return fd;
fail:
	close(fd);
	unlink(path);
	return rc;
}

int unix_socket_dir(const char *dir, char *err, size_t errlen)
{
	char path[256];
	struct stat st;

	if (!dir || !*dir || strlen(dir) >= sizeof(path)) {
		snprintf(err, errlen, "invalid socket directory");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(path, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				snprintf(err, errlen, "cannot create %s: %s", path, strerror(e));
				return -e;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	if (lstat(dir, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(e));
		return -e;
	}
	if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is %s, not a directory: refused for sockets", dir,
			 S_ISLNK(st.st_mode) ? "a symbolic link" : "something else");
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "%s belongs to uid %u, not to us: refused for sockets", dir,
			 (unsigned)st.st_uid);
		return -EPERM;
	}
	if (st.st_mode & S_IWOTH) {
		snprintf(err, errlen, "%s is writable by others (mode %03o): refused for sockets", dir,
			 (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	return 0;
}
