/* One JSON-RPC exchange over a Unix stream socket.
 *
 * The reply is read as a stream: bytes are accumulated and, whenever a
 * chunk could have completed a JSON value, jansson is asked to parse the
 * buffer with JSON_DISABLE_EOF_CHECK (stop after one complete value). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpc_client.h"

#define MAX_RESPONSE (1024u * 1024u * 1024u)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds left before deadline (-1: no deadline; 0: expired). */
static int ms_left(double deadline)
{
	double left;

	if (deadline <= 0)
		return -1;
	left = deadline - now_s();
	if (left <= 0)
		return 0;
	return left > 2e9 / 1000 ? 2000000000 : (int)(left * 1000) + 1;
}

/* Wait until fd is ready for events; 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, double deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int ms = ms_left(deadline);
		int n;

		if (ms == 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int connect_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "cannot connect to %s: socket path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
		return rc;
	}
	do {
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	} while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot connect to %s: %s (is osnapd running? use -s SOCKET)",
			 path, strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len, double deadline, const char *path,
		    char *err, size_t errlen)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_fd(fd, POLLOUT, deadline);

			if (rc == -ETIMEDOUT) {
				snprintf(err, errlen, "timed out sending the request to %s", path);
				return rc;
			}
			if (rc)
				return rc;
			continue;
		}
		snprintf(err, errlen, "cannot send the request to %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Read until buf holds one complete JSON value; returns it or NULL. */
static int recv_value(int fd, double deadline, const char *path, json_t **out,
		      char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	json_error_t jerr;
	int rc = 0;

	*out = NULL;
	for (;;) {
		ssize_t n;

		if (cap - len < 65536) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *nb;

			if (ncap > MAX_RESPONSE) {
				snprintf(err, errlen, "response from %s is larger than %u bytes",
					 path, MAX_RESPONSE);
				rc = -EPROTO;
				break;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				snprintf(err, errlen, "out of memory");
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap = ncap;
		}
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc == -ETIMEDOUT) {
			snprintf(err, errlen, "timed out waiting for a response from %s", path);
			break;
		}
		if (rc) {
			snprintf(err, errlen, "cannot read from %s: %s", path, strerror(-rc));
			break;
		}
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot read from %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0) {
			if (len > 0)
				*out = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &jerr);
			if (!*out) {
				rc = -EPROTO;
				if (len == 0)
					snprintf(err, errlen, "%s closed the connection without a response", path);
				else
					snprintf(err, errlen, "invalid response from %s: %s", path, jerr.text);
			}
			break;
		}
		/* A complete value ends with '}' or ']' (responses are objects). */
		if (memchr(buf + len, '}', (size_t)n) || memchr(buf + len, ']', (size_t)n)) {
			len += (size_t)n;
			*out = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &jerr);
			if (*out)
				break;
		} else {
			len += (size_t)n;
		}
	}
	free(buf);
	return rc;
}

/* See rpc_client.h. */
int rpc_client_call(const char *path, double timeout_s, json_t *request, json_t **response,
		    char *err, size_t errlen)
{
	double deadline = timeout_s > 0 ? now_s() + timeout_s : 0;
	char *text;
	int fd, rc;

	*response = NULL;
	fd = connect_unix(path, err, errlen);
	if (fd < 0)
		return fd;
	text = json_dumps(request, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text) {
		snprintf(err, errlen, "cannot encode the request");
		close(fd);
		return -EINVAL;
	}
	rc = send_all(fd, text, strlen(text), deadline, path, err, errlen);
	free(text);
	if (rc == 0)
		rc = recv_value(fd, deadline, path, response, err, errlen);
	close(fd);
	return rc;
}
