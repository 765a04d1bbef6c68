/* vfio-user client: the tests' and benchmarks' side of a vfio-user socket.
 *
 * Written from the protocol specification (QEMU docs/interop/vfio-user.rst)
 * only; it includes nothing from src/emu, src/nvme or src/virtio_blk.
 *
 * Conventions for every function below unless its comment says otherwise:
 * - Return 0 on success or a negative errno. An error reply from the server
 *   returns minus the errno it carried (-EIO when it carried 0).
 * - Protocol violations by the server return -EPROTO: a reply with the
 *   wrong message id, command or type, a malformed size, or bad content. A
 *   server that closed the socket gives -ECONNRESET, one that did not answer
 *   in time -ETIMEDOUT. When the request/reply pairing or the framing is
 *   lost (reset, timeout, a reply that is not ours, a bad msg_size) the
 *   client is marked broken and every later call returns -ENOTCONN (only
 *   vfu_close() remains useful). A reply that is ours but has bad content
 *   is fully consumed, so the client stays usable.
 * - A client object is used by one thread at a time; distinct clients are
 *   independent. There is no hidden global state.
 * - The client sends what the caller asks as long as it can be encoded (so
 *   that tests can send values the server must reject) and checks strictly
 *   what it receives.
 * - Server-to-client commands (DMA_READ, DMA_WRITE, anything else) that
 *   arrive while a reply is awaited are answered with an ENOTSUP error
 *   reply and the wait goes on. */
#ifndef OSNAP_HOST_VFIO_USER_CLIENT_H
#define OSNAP_HOST_VFIO_USER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

struct vfu_client;

#define VFU_DEFAULT_TIMEOUT_MS	5000
#define VFU_MAX_FDS		8	/* fds we accept per message (proposed max_msg_fds) */
#define VFU_MAX_XFER		(1u << 20) /* proposed max_data_xfer_size */

/* Session parameters the server accepted in its VERSION reply; keys it did
 * not send carry the specification's defaults. */
struct vfu_caps {
	uint16_t major, minor;
	uint32_t max_msg_fds;		/* fds the server accepts per message; default 1 */
	uint64_t max_data_xfer_size;	/* largest data count per message; default 1 MiB */
	uint64_t pgsizes;		/* DMA map page sizes; default 4096 */
	uint64_t max_dma_maps;		/* default 65535 */
	bool write_multiple;		/* REGION_WRITE_MULTI accepted; default false */
};

/* ---- connection ---------------------------------------------------------- */

/* Connect to the vfio-user socket at path and negotiate the version (see
 * vfu_negotiate()). On success *out owns the socket; release it with
 * vfu_close(). Errors: -ENAMETOOLONG, connect()'s errno, negotiation errors. */
int vfu_connect(const char *path, struct vfu_client **out);

/* Connect to path without sending anything, for conformance tests of the
 * handshake itself (vfu_send_raw()/vfu_recv_raw(), or vfu_negotiate()). */
int vfu_connect_raw(const char *path, struct vfu_client **out);

/* Adopt an already connected stream socket (socketpair, inherited fd); no
 * message is sent. On success the client owns fd (it is closed by
 * vfu_close()); on failure the caller still owns it. */
int vfu_client_from_fd(int fd, struct vfu_client **out);

/* Send VERSION 0.0 with our capabilities
 * {"capabilities":{"max_msg_fds":8,"max_data_xfer_size":1048576,
 *  "pgsizes":4096,"max_dma_maps":65535,"write_multiple":true}}
 * and check the reply: same major, minor not above ours, a NUL-terminated
 * JSON object whose known capabilities have the right types. The result is
 * available through vfu_get_caps(). -EPROTO on any violation; the caller
 * should then vfu_close() (the specification has no retry). */
int vfu_negotiate(struct vfu_client *c);

/* Capabilities negotiated by vfu_negotiate() (the defaults before it ran).
 * The pointer stays valid until vfu_close(). */
const struct vfu_caps *vfu_get_caps(const struct vfu_client *c);

/* Timeout in milliseconds for each later wait on the socket (sending and
 * waiting for a reply); values <= 0 restore VFU_DEFAULT_TIMEOUT_MS. */
void vfu_set_timeout(struct vfu_client *c, int timeout_ms);

/* The socket, for poll() in tests. Still owned by the client. */
int vfu_socket_fd(const struct vfu_client *c);

/* Unmap every region mapped with vfu_map_region(), close the socket and
 * free c. NULL is allowed. */
void vfu_close(struct vfu_client *c);

/* ---- device and region information --------------------------------------- */

struct vfu_device_info {
	uint32_t flags;		/* VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI */
	uint32_t num_regions;
	uint32_t num_irqs;
};

/* DEVICE_GET_INFO. */
int vfu_get_device_info(struct vfu_client *c, struct vfu_device_info *info);

/* A round trip with no side effect (DEVICE_GET_INFO): when it returns 0,
 * every posted (no-reply) message sent before it has been processed. */
int vfu_sync(struct vfu_client *c);

struct vfu_region_info {
	uint32_t index;
	uint32_t flags;		/* VFIO_REGION_INFO_FLAG_READ/WRITE/MMAP/CAPS */
	uint64_t size;
	uint64_t offset;	/* mmap offset in the region fd */
	bool sparse;		/* a SPARSE_MMAP capability was present */
	uint32_t nr_areas;	/* areas it listed (may exceed the caller's array) */
};

/* One mmap-able window of a region, relative to the region start. */
struct vfu_sparse_area {
	uint64_t offset;
	uint64_t size;
};

/* DEVICE_GET_REGION_INFO for region index. Fills *info and copies up to
 * max_areas sparse-mmap areas into areas (may be NULL when max_areas is 0);
 * info->nr_areas tells how many the server listed. When the server asks
 * for a larger argsz than sent, the request is repeated with its size (up
 * to 64 KiB). Areas are checked to lie inside the region.
 * fd: when non-NULL, receives the region's fd (caller owns and closes it)
 * or -1 when the region is not mappable; when NULL a received fd is closed.
 * A MMAP region without an fd, or more than one fd, is -EPROTO. */
int vfu_get_region_info(struct vfu_client *c, uint32_t index, struct vfu_region_info *info,
			struct vfu_sparse_area *areas, uint32_t max_areas, int *fd);

/* Map region index into this process and return its base in *ptr. With a
 * sparse-mmap capability, the whole region size is reserved PROT_NONE and
 * only the listed areas are mapped (so accesses elsewhere fault; use
 * vfu_region_read/write there); without it the whole region is mapped.
 * Protection follows the region's READ/WRITE flags. The mapping belongs to
 * the client: a second call returns the same pointer; it is undone by
 * vfu_unmap_region() or vfu_close(). -EOPNOTSUPP when the region is not
 * mappable, -EINVAL for areas not page aligned, mmap()'s errno. */
int vfu_map_region(struct vfu_client *c, uint32_t index, void **ptr);

/* Undo vfu_map_region(); -ENOENT when the region is not mapped. */
int vfu_unmap_region(struct vfu_client *c, uint32_t index);

/* ---- interrupts ---------------------------------------------------------- */

struct vfu_irq_info {
	uint32_t index;
	uint32_t flags;		/* VFIO_IRQ_INFO_* */
	uint32_t count;
};

/* DEVICE_GET_IRQ_INFO for IRQ index (VFIO_PCI_INTX/MSI/MSIX_IRQ_INDEX...). */
int vfu_get_irq_info(struct vfu_client *c, uint32_t index, struct vfu_irq_info *info);

/* DEVICE_SET_IRQS: flags = one VFIO_IRQ_SET_DATA_* | one VFIO_IRQ_SET_ACTION_*.
 * - DATA_EVENTFD: fds holds count eventfds (still owned by the caller; they
 *   are duplicated into the server). fds == NULL sends none, which
 *   de-assigns start..start+count-1; so does an entry of -1 (vfio-user
 *   has no in-band "no fd": as QEMU's vfio-user-pci does, runs of valid
 *   fds and runs of -1 go in separate messages). More fds than the
 *   server's max_msg_fds are sent as several messages of consecutive
 *   sub-ranges. -EOPNOTSUPP when there are fds to send and the server
 *   takes none (max_msg_fds 0).
 * - DATA_BOOL: bools holds count bytes (0 or 1).
 * - DATA_NONE: neither; count 0 with start 0 disables the whole index.
 * -EINVAL when the data argument does not match the DATA flag, or for an
 * fd below -1. */
int vfu_set_irqs(struct vfu_client *c, uint32_t index, uint32_t flags, uint32_t start,
		 uint32_t count, const int *fds, const uint8_t *bools);

/* ---- MSI-X, the way a VFIO user drives it ------------------------------- */

/* A VFIO client (QEMU's vfio-pci on a kernel device, and its vfio-user-pci)
 * emulates the MSI-X table for its guest and never writes the table in the
 * device's BAR: the device hears about interrupts only through SET_IRQS
 * (one eventfd per vector, ACTION_MASK/UNMASK per vector) and through the
 * MSI-X Enable and Function Mask bits of Message Control in config space,
 * which the client writes through. The helpers below do just that; none
 * of them touches the table. Each finds the MSI-X capability anew. */

struct vfu_msix_info {
	int cap;		/* config-space offset of the MSI-X capability */
	uint16_t ctrl;		/* Message Control as read */
	uint32_t table_size;	/* vectors in the table (Message Control + 1) */
	uint32_t table_bar, table_off;	/* Table BIR and offset */
	uint32_t pba_bar, pba_off;	/* PBA BIR and offset */
	uint32_t irq_count;	/* DEVICE_GET_IRQ_INFO count of the MSI-X index */
	uint32_t irq_flags;	/* its flags (VFIO_IRQ_INFO_MASKABLE, ...) */
};

/* The MSI-X capability and the MSI-X IRQ info. -ENOENT without an MSI-X
 * capability, -EPROTO for a BIR above 5. */
int vfu_msix_info(struct vfu_client *c, struct vfu_msix_info *mi);

/* Enable MSI-X with eventfd fds[i] on vector i for i < n (n >= 1; -1
 * leaves vector i without one), in the order QEMU's vfio-pci follows when
 * a guest enables MSI-X:
 *   1. Message Control: MSI-X Enable and Function Mask set;
 *   2. SET_IRQS DATA_EVENTFD | ACTION_TRIGGER of vector 0 without an fd
 *      (QEMU's "enabled, no vector in use yet");
 *   3. SET_IRQS DATA_EVENTFD | ACTION_TRIGGER of vectors 0..n-1 with the
 *      fds (see vfu_set_irqs());
 *   4. Message Control: Function Mask cleared.
 * The per-vector VFIO masks are left as they are (clear on a fresh
 * connection). -EINVAL for n of 0 or above the table size or the IRQ
 * count; on any failure MSI-X is disabled again. */
int vfu_msix_enable(struct vfu_client *c, const int *fds, uint32_t n);

/* Disable MSI-X: SET_IRQS DATA_NONE | ACTION_TRIGGER with count 0 (the
 * server lets go of every eventfd), then MSI-X Enable and Function Mask
 * cleared in Message Control. Both steps are tried; the first error is
 * returned. */
int vfu_msix_disable(struct vfu_client *c);

/* Mask (mask true) or unmask vectors start..start+count-1 (count >= 1):
 * SET_IRQS DATA_NONE | ACTION_MASK or ACTION_UNMASK. A masked vector that
 * fires latches its PBA bit; unmasking delivers it. */
int vfu_msix_mask(struct vfu_client *c, uint32_t start, uint32_t count, bool mask);

/* Set (mask true) or clear the Function Mask bit of Message Control,
 * keeping the other bits. */
int vfu_msix_function_mask(struct vfu_client *c, bool mask);

/* The Pending Bit of vector v, read from the PBA in the device's BAR (QEMU's
 * vfio-user-pci forwards guest reads of the PBA to the device as well). */
int vfu_msix_pending(struct vfu_client *c, uint32_t v, bool *pending);

/* ---- region access ------------------------------------------------------- */

/* REGION_READ of len bytes at off of region index into buf. Longer
 * requests than the server's max_data_xfer_size are split. The reply must
 * echo offset, region and count and carry exactly count bytes. */
int vfu_region_read(struct vfu_client *c, uint32_t index, uint64_t off, void *buf, size_t len);

/* REGION_WRITE of len bytes from buf at off of region index. posted: set
 * the no-reply flag and return once sent; the server reports nothing, the
 * next non-posted request's reply (e.g. vfu_sync()) implies it was
 * processed. Split like vfu_region_read(). */
int vfu_region_write(struct vfu_client *c, uint32_t index, uint64_t off, const void *buf,
		     size_t len, bool posted);

/* One write of REGION_WRITE_MULTI. */
struct vfu_write {
	uint32_t region;
	uint32_t count;		/* 1..8 */
	uint64_t offset;
	uint8_t data[8];
};

/* REGION_WRITE_MULTI of n (1..64) writes in one message. -EOPNOTSUPP when
 * the server did not accept write_multiple, -EINVAL for n or a count out of
 * range, -EIO when the reply's wr_cnt is not n. posted as for
 * vfu_region_write(). */
int vfu_region_write_multi(struct vfu_client *c, const struct vfu_write *wrs, size_t n,
			   bool posted);

/* ---- client memory --------------------------------------------------------- */

#define VFU_PROT_READ	0x1u
#define VFU_PROT_WRITE	0x2u

/* DMA_MAP: share [iova, iova+size) with the server. fd >= 0 is sent with
 * the message (still owned by the caller) and mapped by the server at
 * file_offset; fd -1 maps without an fd, as QEMU does for memory it does
 * not share (a VM's firmware ROM): the server cannot reach such memory
 * except through DMA_READ/WRITE, which this client refuses, so commands
 * pointing there must fail on the server's side. prot: VFU_PROT_*. */
int vfu_dma_map(struct vfu_client *c, uint64_t iova, uint64_t size, int fd, uint64_t file_offset,
		uint32_t prot);

/* DMA_UNMAP of exactly a range given to vfu_dma_map(). A reply payload, if
 * any, must echo the range. */
int vfu_dma_unmap(struct vfu_client *c, uint64_t iova, uint64_t size);

/* DEVICE_RESET (the wait is bounded by the timeout like every other). */
int vfu_device_reset(struct vfu_client *c);

/* ---- raw messages, for conformance tests of bad input -------------------- */

/* Send len bytes exactly as given (header included, nothing checked or
 * rewritten) with nfds fds (caller keeps them). */
int vfu_send_raw(struct vfu_client *c, const void *msg, size_t len, const int *fds, int nfds);

/* Receive one whole message (framed by its header's msg_size) as the
 * server sent it, without any check beyond framing. *len gets the
 * message size; when it exceeds cap, cap bytes are copied and -EMSGSIZE
 * is returned (the message is consumed). fds (capacity *nfds on entry)
 * receives the message's fds, owned by the caller; *nfds gets their count;
 * fds beyond the capacity are closed and flagged with -EMSGSIZE too.
 * fds/nfds may be NULL to close any fd. timeout_ms <= 0 uses the client's
 * timeout. -ECONNRESET when the server closed the socket, -ETIMEDOUT when
 * nothing complete arrived (the client stays usable if no byte arrived),
 * -EPROTO for a msg_size below 16 or above the receive bound. Does not
 * mark the client broken unless framing was lost. */
int vfu_recv_raw(struct vfu_client *c, void *buf, size_t cap, size_t *len, int *fds, int *nfds,
		 int timeout_ms);

/* A fresh message id for hand-built messages (the client's counter). */
uint16_t vfu_next_msg_id(struct vfu_client *c);

/* ---- PCI config space helpers (region VFIO_PCI_CONFIG_REGION_INDEX) ------ */

/* Read/write len bytes of config space at off (non-posted writes). */
int vfu_cfg_read(struct vfu_client *c, uint32_t off, void *buf, size_t len);
int vfu_cfg_write(struct vfu_client *c, uint32_t off, const void *buf, size_t len);

/* Typed accessors; config space is little endian, values are host order. */
int vfu_cfg_read8(struct vfu_client *c, uint32_t off, uint8_t *val);
int vfu_cfg_read16(struct vfu_client *c, uint32_t off, uint16_t *val);
int vfu_cfg_read32(struct vfu_client *c, uint32_t off, uint32_t *val);
int vfu_cfg_write16(struct vfu_client *c, uint32_t off, uint16_t val);
int vfu_cfg_write32(struct vfu_client *c, uint32_t off, uint32_t val);

/* Offset (> 0) of the first standard capability with this id, walking the
 * list from 0x34 (only when the status register has the capability list
 * bit). -ENOENT when absent, -ELOOP when the list loops, -EPROTO for a
 * pointer into the header (below 0x40), or an access error. */
int vfu_cfg_find_cap(struct vfu_client *c, uint8_t id);

/* Offset (>= 0x100) of the first PCIe extended capability with this id,
 * walking from 0x100. -ENOENT when absent or when config space is smaller
 * than 4 KiB, -ELOOP, -EPROTO as for vfu_cfg_find_cap(). */
int vfu_cfg_find_ext_cap(struct vfu_client *c, uint16_t id);

/* Read len bytes of VPD from address 0 through the VPD capability
 * (id 0x03): for every dword, write the address with F = 0, wait until the
 * device sets F (bounded, about 100 ms per dword), read the data register.
 * len up to 32 KiB. -ENOENT without a VPD capability, -ETIMEDOUT when F
 * never rises, -EINVAL for len too large. */
int vfu_cfg_read_vpd(struct vfu_client *c, void *buf, size_t len);

/* Find keyword kw (2 characters, e.g. "VU", "SN") in the VPD-R (0x90) or
 * VPD-W (0x91) resource of a VPD image; the identifier string (0x82) and
 * small resources are skipped, the end tag (0x78) stops the walk. Copies
 * the value into out and NUL-terminates it when there is room. Returns the
 * value length (>= 0), -ENOENT when absent, -ENOSPC when cap is smaller
 * than the value, -EBADMSG when a resource or keyword runs past len,
 * -EINVAL when kw is not 2 characters. Pure function, no client needed. */
int vfu_vpd_find_keyword(const void *vpd, size_t len, const char *kw, void *out, size_t cap);

#endif
