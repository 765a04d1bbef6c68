/* hostile_client: what its files share (hostile_client.c: options, case
 * table, main; hostile_client_lib.c: the helpers below;
 * hostile_client_AREA.c: the cases of one class of hostile behaviour).
 * The harness (FAIL, CHECK, REQUIRE, diag ...) is tap.h, the data pattern
 * pattern.h, st_str and check_csts_ok nvme_status.h. */
#ifndef OSNAP_TESTS_SYSTEM_HOSTILE_CLIENT_H
#define OSNAP_TESTS_SYSTEM_HOSTILE_CLIENT_H

#define VBLK_HOST_INTERNAL
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host_mem.h"
#include "host/nvme_host.h"
#include "host/nvme_host_priv.h"	/* the arena's memfd and queue rings */
#include "host/vfio_user_client.h"
#include "host/vfio_user_proto.h"
#include "host/vhost_user_front.h"
#include "host/virtio_blk_host.h"

#include "nvme_status.h"
#include "pattern.h"
#include "tap.h"

#define DEADLINE_MS	20000	/* "promptly": generous, for a loaded 2-core machine */
#define XIOVA		0x80000000ull	/* an extra DMA region of ours */
#define XSIZE		(1u << 20)
#define RIOVA		0x90000000ull	/* the DSM range list's own region */
#define RSIZE		(64u << 10)

/* ---- options (hostile_client.c) ------------------------------------------------------------ */

struct hostile_opts {
	const char *sock;
	const char *cas;
	uint32_t nsid, lba;
	uint32_t seed;
	const char *op;
	const char *then;
	int dsm_cmds;
	int count;
};

extern struct hostile_opts O;

/* ---- diagnostics and the Python side (hostile_client_lib.c) ---------------------------------- */

/* "# READY what", then one line on stdin (up to ms); false when none came. */
bool handshake(const char *what, int ms, char *buf, size_t len);

/* Leave without any goodbye: the socket closes with the process. */
__attribute__((noreturn)) void vanish(void);

/* Wait up to ms until the peer of socket fd hangs up (EOF or an error);
 * true when it did. */
bool wait_hangup(int fd, int ms);

/* The data pattern (pattern.h) in blocks of O.lba bytes. */
void pattern_fill_lba(void *buf, uint64_t lba, uint32_t nblk, uint32_t seed);
bool pattern_ok(const void *buf, uint64_t lba, uint32_t nblk, uint32_t seed);

/* ---- NVMe over vfio-user (hostile_client_lib.c) ---------------------------------------------- */

/* Open the controller: polled (no MSI-X), trapped doorbells unless asked. */
struct nvme_host *open_nvme(enum nvme_host_db_mode db, bool enable);

/* Write pattern seed to slba+nlb on I/O queue 1 and read it back. */
bool write_verify(struct nvme_host *h, uint64_t slba, uint32_t nlb, uint32_t seed);

/* Read slba+nlb and check it holds pattern seed. */
bool read_check(struct nvme_host *h, uint64_t slba, uint32_t nlb, uint32_t seed);

/* Poll CSTS until (CSTS & mask) == want, up to ms. */
int wait_csts(struct nvme_host *h, uint32_t mask, uint32_t want, int ms, uint32_t *csts);

/* Share an extra memfd of ours with the controller at iova. */
int map_extra(struct nvme_host *h, uint64_t iova, size_t size, struct host_mem **out);

/* Wait until the server closes the connection: every round trip fails. */
int wait_dropped(struct vfu_client *v, int ms);

/* ---- vhost-user (hostile_client_lib.c) ------------------------------------------------------- */

/* A vhost-user session on O.sock up to SET_OWNER, REPLY_ACK negotiated;
 * NULL after a FAIL. */
struct vhu_front *vhu_open_owned(void);

/* ---- the cases, by area ---------------------------------------------------------------------- */

/* hostile_client_queues.c: plain I/O, a full completion queue */
void case_io(void);
void case_full_cq(void);

/* hostile_client_memory.c: rings unmapped, shared memory truncated, the
 * doorbell page's fd */
void case_aer_unmapped(void);
void case_truncate(void);
void case_truncate_vhost(void);
void case_db_fd(void);

/* hostile_client_irq.c: interrupt fds that are no eventfds, full eventfds */
void case_irq_fds(void);
void case_vhost_fds(void);

/* hostile_client_dsm.c: long Dataset Management commands racing unmaps,
 * resets, suspends and queue deletion */
void case_dsm_unmap_hup(void);
void case_dsm_hold(void);
void case_shn_unmap(void);
void case_reset_storm(void);
void case_suspend_unmap(void);
void case_delete_sq_unmap(void);
void case_dsm_toctou(void);

/* hostile_client_readers.c: clients that read their replies late or never */
void case_noread(void);
void case_noread_vhost(void);
void case_slow_reader(void);

/* hostile_client_vring.c: vhost-user ring sizes and live feature changes */
void case_vring_num(void);
void case_features_live(void);

#endif
