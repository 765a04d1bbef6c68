/* Unix stream sockets for osnap's endpoints (RPC, vfio-user, vhost-user). */
#ifndef OSNAP_UNIX_SOCKET_H
#define OSNAP_UNIX_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Listen on path with the given mode (and group, when not NULL or empty).
 * A socket file somebody answers on belongs to a live service: -EADDRINUSE;
 * a stale one (from a crashed run) is replaced. Returns the non-blocking
 * listening fd, or -errno with a message in err. */
int unix_listen(const char *path, mode_t mode, const char *group, char *err, size_t errlen);

/* A directory for service sockets: create it (and its parents, 0755) when
 * missing, then refuse it when it is a symlink, not a directory, not owned
 * by us (or root), or writable by others: anyone who can write there can
 * replace our sockets. Returns 0 or -errno with a message in err. */
int unix_socket_dir(const char *dir, char *err, size_t errlen);

#endif
