/* What the fake devices of the unit tests (test_nvme_host, test_virtio_host,
 * test_vfu_client) share: little-endian fields at raw byte offsets (fakes
 * read the driver's structures at the specification's offsets, never
 * through its C structures, so that layout mistakes show), a listening
 * socket in a fresh temporary directory, and whole messages received and
 * sent with their fds (SCM_RIGHTS), and the vfio-user answers the PCI fakes
 * give alike. */
#ifndef OSNAP_TESTS_UNIT_FAKE_WIRE_H
#define OSNAP_TESTS_UNIT_FAKE_WIRE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "host/vfio_user_proto.h"

static inline uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static inline void wr64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* CLOCK_MONOTONIC in milliseconds. */
int64_t fake_now_ms(void);

/* A listening Unix socket (backlog 1) at dir/name, dir a fresh directory
 * made from tmpl (mkdtemp's "/tmp/xxxXXXXXX"). Fails the test on error. */
int fake_listen(char *dir, size_t dlen, char *path, size_t plen, const char *tmpl, const char *name);

/* Receive exactly len bytes from fd; the fds that come along go to
 * fds[*nfds..maxfds) and, past that (or when fds is NULL), are closed.
 * 0, or -1 at EOF or an error. */
int fake_recv(int fd, void *buf, size_t len, int *fds, int *nfds, int maxfds);

/* Send a then b (blen may be 0) in one message, with nfds fds (at most 8). */
void fake_send(int sfd, const void *a, size_t alen, const void *b, size_t blen, const int *fds, int nfds);

/* vfio-user GET_IRQ_INFO of a PCI function with nvec maskable MSI-X
 * vectors and INTx: the reply to the request payload p. */
void fake_vfu_irq_info(const uint8_t *p, uint32_t nvec, struct vfu_msg_irq_info *ii);

/* Stop a fake's thread th serving one connection (*fd, -1 before its
 * accept on lfd returned): set *stop, wake an accept that still waits,
 * join; then close the sockets and remove path and its directory dir. */
void fake_stop_server(pthread_t th, atomic_bool *stop, atomic_int *fd, int lfd, const char *dir,
		      const char *path);

#endif
