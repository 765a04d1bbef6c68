/* test_vfu_client: what its files share: the fake server (its state is
 * read by the cases), the fixtures, and the case functions, by file. */
#ifndef OSNAP_TESTS_UNIT_TEST_VFU_CLIENT_H
#define OSNAP_TESTS_UNIT_TEST_VFU_CLIENT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host/host_mem.h"
#include "host/vfio_user_client.h"
#include "host/vfio_user_proto.h"

#include "fake_wire.h"

/* ---- the fake server ------------------------------------------------------- */

enum fake_mode {
	FK_NORMAL,
	FK_ERROR,		/* error reply, errno EACCES */
	FK_ERROR_ZERO,		/* error flag with errno 0 */
	FK_ERROR_PAYLOAD,	/* error flag plus a payload */
	FK_WRONG_ID,		/* reply with msg_id + 1 */
	FK_WRONG_CMD,		/* reply with another command */
	FK_CLOSE,		/* close the socket instead of replying */
	FK_HALF_REPLY,		/* send part of a reply, then close */
	FK_SILENT,		/* never reply */
	FK_DMA_FIRST,		/* send a DMA_READ command before the reply */
	FK_BAD_SPARSE,		/* sparse area outside the region */
	FK_NO_FD,		/* MMAP region info without its fd */
	FK_HUGE_SIZE,		/* header msg_size beyond any bound */
};

#define BAR0_SIZE	0x4000u
#define CFG_SIZE	0x1000u
#define VPD_CAP		0x40u

struct fake {
	int fd;
	pthread_t th;
	atomic_int mode;
	/* VERSION reply */
	uint16_t ver_major, ver_minor;
	const char *ver_json;		/* NULL: no version data */
	bool ver_no_nul;
	/* device */
	int bar_fd;
	uint8_t *bar;			/* BAR0 contents, shared with bar_fd */
	uint8_t cfg[CFG_SIZE];
	uint8_t vpd[256];
	int vpd_delay;			/* reads of the address before F rises; -1 never */
	int vpd_pending;
	bool big_sparse;		/* region 0 lists 20 sparse areas (argsz retry) */
	/* observations, read by the test after its call returned */
	char got_json[512];
	int n_region_info;
	uint32_t region_info_argsz[4];
	size_t region_info_plen[4];	/* payload bytes of each request */
	int n_bar_writes;		/* REGION_WRITEs to region 0 */
	uint32_t max_count;
	int n_reads, n_writes, n_replies_to_posted;
	int n_irq_msgs;
	uint32_t irq_start[8], irq_count[8], irq_flags[8];
	int irq_nfds[8];
	uint8_t irq_bools[8];
	int dma_nfds;
	uint64_t dma_iova, dma_size;
	uint32_t dma_flags;
	bool dma_wrote;
	uint16_t dma_reply_id, dma_reply_cmd;
	uint32_t dma_reply_flags, dma_reply_error;
	int n_reset;
	uint8_t *rx;
};
struct env {
	struct fake f;
	struct vfu_client *c;
};

/* ---- the fake and the fixtures (test_vfu_client_fake.c) ---- */

/* The capabilities the fake answers VERSION with. */
extern const char default_caps[];

/* A fake on a socketpair and a client on the other end, not negotiated. */
struct env *env_new(void);
void env_free(struct env *e);
/* cmocka fixtures: an env, negotiated (setup) or not (setup_raw). */
int setup(void **state);
int setup_raw(void **state);
int teardown(void **state);

/* ---- the cases (test_vfu_client_AREA.c) ---- */

#define TEST_VPD_LEN 74
/* The fake's VPD image (test_vfu_client_cfg.c). */
extern const uint8_t test_vpd[TEST_VPD_LEN];

/* handshake */
void test_version_ok(void **state);
void test_version_defaults(void **state);
void test_version_bad(void **state);
void test_connect_path(void **state);
void test_device_info(void **state);
void test_region_info_sparse(void **state);
void test_region_info_retry(void **state);
void test_region_info_bad(void **state);
void test_map_region(void **state);

/* access */
void test_region_rw(void **state);
void test_region_rw_chunked(void **state);
void test_write_multi(void **state);
void test_set_irqs(void **state);
void test_msix(void **state);
void test_dma_map(void **state);

/* faults */
void test_error_reply(void **state);
void test_wrong_id(void **state);
void test_wrong_cmd(void **state);
void test_server_closes(void **state);
void test_server_half_reply(void **state);
void test_huge_size(void **state);
void test_timeout(void **state);
void test_server_command(void **state);
void test_raw(void **state);

/* cfg */
void test_cfg_caps(void **state);
void test_cfg_vpd(void **state);
void test_vpd_parse(void **state);

#endif
