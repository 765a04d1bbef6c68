/* The io_uring socket I/O of one NVMe/TCP queue pair ("uring" socket
 * implementation): at most one send and one receive in the kernel at a
 * time, prepared while the queue pair is polled and submitted together by
 * one io_uring_enter at the end of the poll; completions are reaped from
 * the ring's memory at the start of the next poll (no system call). An
 * eventfd registered with the ring wakes the sleeping reactor.
 *
 * Sends: the caller's iovecs (headers, digests and guest memory) go to
 * IORING_OP_SENDMSG as they are; the number of bytes the kernel took is
 * handed back by the next nvme_tcp_uring_send() call, which the caller
 * makes with iovecs that start where the previous ones started (its send
 * queue does not move until it accounts the bytes).
 *
 * Receives: small reads (PDU headers, digests) are served from a 64 KiB
 * buffer that one IORING_OP_RECV fills (many PDUs per completion); a large
 * read of PDU data with the buffer empty is received straight into the
 * caller's iovecs (IORING_OP_RECVMSG, never past the length asked), and
 * the next call with the same iovecs returns how much landed there.
 *
 * Threading: created, polled and destroyed on one thread (the reactor
 * owning the queue pair); IORING_SETUP_SINGLE_ISSUER when the kernel has
 * it. Before the memory of anything in flight is released (the queue
 * pair fails or is destroyed), nvme_tcp_uring_quiesce() cancels and waits
 * for every operation. */
#ifndef OSNAP_NVME_TCP_URING_H
#define OSNAP_NVME_TCP_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct nvme_tcp_uring;

/* For the connected socket fd (not owned; made blocking: io_uring waits
 * for it). NULL with errno (the message in err). */
struct nvme_tcp_uring *nvme_tcp_uring_create(int fd, char *err, size_t errlen);
/* Quiesces, then frees (unless quiescing failed: then the ring and its
 * buffers are left to the kernel, never freed under it). */
void nvme_tcp_uring_destroy(struct nvme_tcp_uring *u);
/* The eventfd that a completion writes. */
int nvme_tcp_uring_event_fd(const struct nvme_tcp_uring *u);

/* Take the completions in the ring (no system call). Returns how many. */
int nvme_tcp_uring_reap(struct nvme_tcp_uring *u);
/* Submit what was prepared: one io_uring_enter, none when nothing was.
 * Returns the operations submitted, or -errno when the ring is broken. */
int nvme_tcp_uring_submit(struct nvme_tcp_uring *u);

/* Bytes received into v now (> 0); 0 when nothing is there yet (a
 * receive is prepared or in flight); -EPIPE at the end of the stream;
 * -errno for a receive error. */
ssize_t nvme_tcp_uring_recv(struct nvme_tcp_uring *u, const struct iovec *v, int n);
/* Bytes of the front of v the kernel took (> 0), from the send made with
 * the iovecs of an earlier call; 0 when a send is in flight or was just
 * prepared from v; -errno for a send error. */
ssize_t nvme_tcp_uring_send(struct nvme_tcp_uring *u, const struct iovec *v, int n);
/* A send is in flight, or its result is not taken yet. */
bool nvme_tcp_uring_send_busy(const struct nvme_tcp_uring *u);
/* Something for the poller: completions, operations not submitted, or
 * received bytes not taken. */
bool nvme_tcp_uring_pending(const struct nvme_tcp_uring *u);

/* Cancel every operation in flight and wait (at most about 5 s) until the
 * kernel is done with their memory. Call after shutdown(2) of the socket.
 * 0, or -ETIMEDOUT when operations are still in flight. */
int nvme_tcp_uring_quiesce(struct nvme_tcp_uring *u);

#endif
