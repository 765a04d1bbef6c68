/* vfu_conformance: what its files share (vfu_conformance.c: options, case
 * table, helper modes, main; vfu_conformance_lib.c: the helpers below;
 * vfu_conformance_AREA.c: the cases of an area). The harness (FAIL,
 * REQUIRE_MSG, REQUIRE_RC, REQUIRE_ERR, diag ...) is tap.h: a case ends at
 * its first failed check (they jump to its `out:` label). */
#ifndef OSNAP_TESTS_SYSTEM_VFU_CONFORMANCE_H
#define OSNAP_TESTS_SYSTEM_VFU_CONFORMANCE_H

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host_mem.h"
#include "host/vfio_user_client.h"
#include "host/vfio_user_proto.h"

#include "tap.h"

/* ---- PCI definitions (PCI Local Bus 3.0, PCIe Base, SR-IOV 1.1) ---------- */

#define CFG			VFIO_PCI_CONFIG_REGION_INDEX
#define NUM_REGIONS		9	/* BAR0-5, ROM, config, VGA */
#define NUM_IRQS		5	/* INTx, MSI, MSI-X, ERR, REQ */
#define CFG_SPACE_SIZE		4096u

#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10
#define PCI_SUBSYS_VENDOR	0x2c
#define PCI_ROM			0x30
#define PCI_CAP_PTR		0x34
#define PCI_INT_PIN		0x3d
#define PCI_STD_END		0x40

#define PCI_COMMAND_MEMORY	0x0002
#define PCI_STATUS_CAP_LIST	0x0010
#define PCI_STATUS_RW1C		0xf900	/* parity, target/master aborts, SERR */

#define PCI_BAR_IO		0x1
#define PCI_BAR_64		0x4
#define PCI_BAR_FLAGS		0xf

#define CAP_PM			0x01
#define CAP_VPD			0x03
#define CAP_VENDOR		0x09
#define CAP_EXP			0x10
#define CAP_MSIX		0x11

#define MSIX_CTRL		2
#define MSIX_TABLE		4
#define MSIX_PBA		8
#define MSIX_CTRL_ENABLE	0x8000
#define MSIX_CTRL_MASKALL	0x4000
#define MSIX_CTRL_QSIZE		0x07ff
#define MSIX_ENTRY		16
#define MSIX_VEC_CTRL		12
#define MSIX_VEC_MASKED		0x1

#define EXP_FLAGS		2
#define EXP_DEVCAP		4
#define EXP_DEVCTL		8
#define EXP_DEVCAP_FLR		(1u << 28)
#define EXP_DEVCTL_FLR		0x8000

#define EXT_CAP_SRIOV		0x0010
#define EXT_CAP_AER		0x0001
#define SRIOV_CTRL		0x08
#define SRIOV_INITIAL_VFS	0x0c
#define SRIOV_TOTAL_VFS		0x0e
#define SRIOV_NUM_VFS		0x10
#define SRIOV_VF_OFFSET		0x14
#define SRIOV_VF_STRIDE		0x16
#define SRIOV_SUP_PGSIZE	0x1c
#define SRIOV_VF_BAR0		0x24
#define SRIOV_CTRL_VFE		0x0001
#define SRIOV_CTRL_MSE		0x0008

/* virtio-pci (virtio 1.x, 4.1.4) */
#define VIRTIO_VENDOR		0x1af4
#define VIRTIO_BLK_MODERN	0x1042
#define VIRTIO_CAP_COMMON	1
#define VIRTIO_CAP_NOTIFY	2
#define VIRTIO_CAP_ISR		3
#define VIRTIO_CAP_DEVICE	4

#define NVME_CLASS		0x010802
#define NVME_BAR0_SIZE		0x4000u
#define NVME_DOORBELL_OFF	0x1000u
#define NVME_DOORBELL_SIZE	0x1000u
#define NVME_MSIX_BAR		4
#define VIRTIO_MSIX_BAR		1
#define VIRTIO_CAP_BAR		4

/* DMA: two IOVAs of ours, sizes, protection */
#define IOVA_A 0x10000000ull
#define IOVA_B 0x20000000ull
#define MIB (1ull << 20)
#define RW (VFU_PROT_READ | VFU_PROT_WRITE)

/* ---- options (vfu_conformance.c) --------------------------------------------- */

struct vfu_conformance_opts {
	const char *sock;
	bool virtio;
	bool mmap_db;
	bool vf;
	const char *vuid;
	int msix;		/* -1: trust the capability */
	int total_vfs;
	int pf_rid, first_vf_rid;	/* -1: not given */
	int set_numvfs;		/* -1: run the cases */
	const char *race_vf;	/* --race-vf-unmap VF_SOCKET */
	int want_vid, want_did;	/* --ids VID:DID (-1: the type's own) */
};

extern struct vfu_conformance_opts opt;

/* ---- the main connection --------------------------------------------------- */

/* The connection the cases flagged MAIN_CONN run on (NULL while closed). */
extern struct vfu_client *C;

/* Connect C to opt.sock unless it is; 0 or a negative errno. */
int main_connect(void);
void main_close(void);

/* ---- raw messages ------------------------------------------------------------ */

struct raw_reply {
	struct vfu_msg_hdr h;
	uint8_t data[4096];
	size_t len;		/* whole message, header included */
};

/* Send a message as given (msg_size may lie about its length); 0 or a
 * negative errno. */
int raw_send(struct vfu_client *c, uint16_t id, uint16_t cmd, uint32_t flags, uint32_t msg_size,
	     const void *payload, size_t plen, const int *fds, int nfds);

/* Send a well-framed command. */
int raw_cmd(struct vfu_client *c, uint16_t id, uint16_t cmd, uint32_t flags, const void *payload, size_t plen,
	    const int *fds, int nfds);

/* Receive one message into r (at most cap bytes of it), waiting up to
 * timeout_ms; 0 or a negative errno. */
int raw_recv_cap(struct vfu_client *c, struct raw_reply *r, size_t cap, int timeout_ms);
int raw_recv(struct vfu_client *c, struct raw_reply *r, int timeout_ms);

/* Send cmd and require an error reply to it: the header only, our id and
 * command echoed, the reply type, the error flag and a non-zero errno. */
int expect_error(struct vfu_client *c, uint16_t cmd, const void *payload, size_t plen, const int *fds, int nfds,
		 const char *what);

/* Send cmd and require an error reply carrying exactly errno err. */
int expect_errno(struct vfu_client *c, uint16_t cmd, const void *payload, size_t plen, int err, const char *what);

/* Send cmd and require a successful reply; *r gets it (fds closed). */
int expect_reply(struct vfu_client *c, uint16_t cmd, const void *payload, size_t plen, struct raw_reply *r,
		 const char *what);

/* A GET_*_INFO request of plen bytes: the fixed part req (rlen bytes) with
 * its argsz set to argsz, zeroes after it. Returns 0 and the reply in *r,
 * or -1 (diagnosed) for an error reply. */
int info_request(uint16_t cmd, const void *req, size_t rlen, uint32_t argsz, size_t plen, struct raw_reply *r,
		 const char *what);

/* Wait for the server to close c: error replies may come first. */
int expect_close(struct vfu_client *c, int timeout_ms, const char *what);

/* ---- helpers --------------------------------------------------------------- */

/* The regions' sizes, as DEVICE_GET_REGION_INFO gave them (load_region_sizes). */
extern uint64_t region_size[NUM_REGIONS];
int load_region_sizes(void);

/* The BAR the MSI-X table and PBA should live in, by function type. */
int msix_bar_expected(void);

/* The MSI-X capability: where it is, its size, its table and PBA. */
struct msix_layout {
	int cap;
	uint16_t n;
	uint32_t table_bir, table_off, pba_bir, pba_off;
};

int msix_layout(struct msix_layout *m);

/* Set MSI-X Enable and Function Mask in the capability. */
int msix_ctrl_set(const struct msix_layout *m, bool enable, bool maskall);

/* Write the mask bit of vector v's Vector Control in the MSI-X table. A
 * VFIO client emulates the table itself, so for the device the table is
 * plain storage: this masks nothing (see the msix_* cases). */
int msix_table_mask(const struct msix_layout *m, uint16_t v, bool masked);

/* What masks a vector over vfio-user: SET_IRQS ACTION_MASK / ACTION_UNMASK. */
int msix_mask(uint16_t v, bool masked);

/* Vector v's Vector Control word in the table, and its PBA bit. */
int msix_vec_ctrl(const struct msix_layout *m, uint16_t v, uint32_t *val);
int msix_pending(const struct msix_layout *m, uint16_t v, bool *pending);

/* SET_IRQS ACTION_TRIGGER of vector v (DATA_NONE). */
int msix_trigger(uint16_t v);

/* Read an eventfd's counter if it fires within timeout_ms; 0 when silent. */
uint64_t efd_wait(int fd, int timeout_ms);

/* MSI-X test bench: eventfds for every vector, MSI-X enabled, function
 * unmasked, every vector masked with SET_IRQS ACTION_MASK, nothing
 * pending. */
struct irq_bench {
	struct msix_layout m;
	int *efd;
	uint16_t n;
};

void bench_free(struct irq_bench *b);
int bench_setup(struct irq_bench *b);

/* bus:device.function (hex) as a routing ID, or UINT32_MAX. */
uint32_t parse_bdf(const char *s);

/* ---- the cases, by area (their order is the table's, in vfu_conformance.c) --------------- */

/* vfu_conformance_handshake.c */
void t_version_caps(void);
void t_version_not_first(void);
void t_msg_size_small(void);
void t_msg_size_huge(void);
void t_version_negotiated(void);
void t_version_second(void);

/* vfu_conformance_info.c */
void t_device_info(void);
void t_region_info(void);
void t_irq_info(void);

/* vfu_conformance_cfg.c */
void t_cfg_ids(void);
void t_cfg_readonly(void);
void t_cfg_status(void);
void t_cfg_bar_sizing(void);
void t_cfg_caps(void);
void t_msix_cap(void);
void t_cfg_vpd(void);
void t_cfg_sriov(void);

/* vfu_conformance_msix.c */
void t_msix_trigger(void);
void t_msix_vector_mask(void);
void t_msix_function_mask(void);
void t_set_irqs_bad(void);

/* vfu_conformance_dma.c */
void t_dma_map(void);
void t_dma_bad(void);
void t_dma_fdless(void);
void t_dma_unmap_wrong(void);

/* vfu_conformance_region.c */
void t_region_bad(void);
void t_posted_write(void);
void t_write_multi(void);
void t_doorbells(void);

/* vfu_conformance_conn.c */
void t_flr(void);
void t_device_reset(void);
void t_unknown_command(void);
void t_second_client(void);
void t_reconnect_fresh(void);

#endif
