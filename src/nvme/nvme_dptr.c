/* Data pointers: PRP entries, PRP lists and SGLs turned into iovecs that
 * point into guest memory. Every entry is checked; nothing is copied. */
#include "nvme_internal.h"

#include <string.h>

#define MAX_SGL_DESCS 512	/* bound on one command's descriptors */

static uint16_t add_range(struct nvme_ctrl *c, struct nvme_req *r, uint64_t gpa, uint64_t len, int prot)
{
	if (r->iovcnt >= r->max_iov)
		return NVME_SC_INVALID_FIELD;
	int n = emu_dma_map(c->fn, gpa, len, prot, &r->iov[r->iovcnt], r->max_iov - r->iovcnt);
	if (n < 0)
		return NVME_SC_DATA_XFER_ERROR;
	/* merge with the previous piece when contiguous locally */
	if (r->iovcnt && (uint8_t *)r->iov[r->iovcnt - 1].iov_base + r->iov[r->iovcnt - 1].iov_len ==
			     r->iov[r->iovcnt].iov_base) {
		r->iov[r->iovcnt - 1].iov_len += r->iov[r->iovcnt].iov_len;
		if (n > 1)
			memmove(&r->iov[r->iovcnt], &r->iov[r->iovcnt + 1], (size_t)(n - 1) * sizeof(struct iovec));
		n--;
	}
	r->iovcnt += n;
	return NVME_SC_SUCCESS;
}

static uint16_t map_prp(struct nvme_ctrl *c, struct nvme_req *r, uint64_t len, int prot)
{
	const uint64_t page = NVME_PAGE;
	uint64_t prp1 = r->cmd.prp1, prp2 = r->cmd.prp2;
	uint64_t first = page - (prp1 & (page - 1));
	uint16_t st;

	if (first > len)
		first = len;
	if ((st = add_range(c, r, prp1, first, prot)))
		return st;
	len -= first;
	if (!len)
		return NVME_SC_SUCCESS;
	if (len <= page) {
		/* PRP2 is the second data page */
		if (prp2 & (page - 1))
			return NVME_SC_PRP_OFFSET_INVALID;
		return add_range(c, r, prp2, len, prot);
	}
	/* PRP2 points to a PRP list, qword aligned, possibly mid-page */
	if (prp2 & 7)
		return NVME_SC_PRP_OFFSET_INVALID;
	uint64_t list = prp2;
	while (len) {
		uint32_t nent = (uint32_t)((page - (list & (page - 1))) / 8);
		struct iovec liov;
		if (emu_dma_map(c->fn, list, (uint64_t)nent * 8, EMU_DMA_READ, &liov, 1) != 1)
			return NVME_SC_DATA_XFER_ERROR;
		const uint64_t *ents = liov.iov_base;
		for (uint32_t i = 0; i < nent && len; i++) {
			uint64_t e = __atomic_load_n(&ents[i], __ATOMIC_RELAXED);
			/* the last entry of a full list page chains to the next one */
			if (i == nent - 1 && len > page) {
				/* a chained list page starts on a page boundary */
				if (e & (page - 1))
					return NVME_SC_PRP_OFFSET_INVALID;
				list = e;
				goto next_list;
			}
			if (e & (page - 1))
				return NVME_SC_PRP_OFFSET_INVALID;
			uint64_t take = len < page ? len : page;
			if ((st = add_range(c, r, e, take, prot)))
				return st;
			len -= take;
		}
		break;
next_list:;
	}
	return NVME_SC_SUCCESS;
}

/* Scratch for bit-bucket descriptors: reads land there and are dropped. */
static uint8_t g_bit_bucket[NVME_PAGE * 16];

static uint16_t add_bucket(struct nvme_req *r, uint64_t len)
{
	while (len) {
		uint64_t take = len < sizeof(g_bit_bucket) ? len : sizeof(g_bit_bucket);
		if (r->iovcnt >= r->max_iov)
			return NVME_SC_INVALID_FIELD;
		r->iov[r->iovcnt++] = (struct iovec){ g_bit_bucket, take };
		len -= take;
	}
	return NVME_SC_SUCCESS;
}

static uint16_t map_sgl(struct nvme_ctrl *c, struct nvme_req *r, uint64_t len, int prot)
{
	struct nvme_sgl_desc d;
	const struct nvme_sgl_desc *seg = NULL;
	uint32_t nseg = 1, idx = 0, total = 0;
	bool last_segment = false;
	uint16_t st;

	memcpy(&d, &r->cmd.prp1, sizeof(d));
	seg = &d;
	for (;;) {
		if (idx == nseg)
			break;
		if (++total > MAX_SGL_DESCS)
			return NVME_SC_INVALID_SGL_COUNT;
		struct nvme_sgl_desc e;
		memcpy(&e, &seg[idx], sizeof(e));
		uint8_t type = e.type >> 4, sub = e.type & 0xf;
		if (sub != 0)
			return NVME_SC_SGL_TYPE_INVALID;	/* only address subtypes on PCIe */
		switch (type) {
		case NVME_SGL_TYPE_DATA_BLOCK:
			if (e.len > len)
				return NVME_SC_DATA_SGL_LEN_INVALID;	/* longer than the transfer */
			if (len && e.len) {
				uint64_t take = e.len < len ? e.len : len;
				if ((st = add_range(c, r, e.addr, take, prot)))
					return st;
				len -= take;
			}
			idx++;
			break;
		case NVME_SGL_TYPE_BIT_BUCKET:
			if (prot != EMU_DMA_WRITE)	/* only reads may drop data */
				return NVME_SC_SGL_TYPE_INVALID;
			if (e.len > len)
				return NVME_SC_DATA_SGL_LEN_INVALID;
			if (len && e.len) {
				uint64_t take = e.len < len ? e.len : len;
				if ((st = add_bucket(r, take)))
					return st;
				len -= take;
			}
			idx++;
			break;
		case NVME_SGL_TYPE_SEGMENT:
		case NVME_SGL_TYPE_LAST_SEGMENT:
			/* a segment descriptor anywhere but last in its segment:
			 * Invalid Number of SGL Descriptors; one inside the last
			 * segment, or a segment length of 0 or not a multiple of
			 * 16: Invalid SGL Segment Descriptor (NVMe 1.4 Fig. 128) */
			if (idx != nseg - 1)
				return NVME_SC_INVALID_SGL_COUNT;
			if (last_segment || !e.len || e.len % 16)
				return NVME_SC_INVALID_SGL_LAST_SEG;
			if (e.addr & 0x3)
				return NVME_SC_DATA_SGL_LEN_INVALID;
			{
				struct iovec siov;
				if (emu_dma_map(c->fn, e.addr, e.len, EMU_DMA_READ, &siov, 1) != 1)
					return NVME_SC_DATA_XFER_ERROR;
				seg = siov.iov_base;
				nseg = e.len / 16;
				idx = 0;
				last_segment = type == NVME_SGL_TYPE_LAST_SEGMENT;
			}
			break;
		default:
			return NVME_SC_SGL_TYPE_INVALID;
		}
	}
	return len ? NVME_SC_DATA_SGL_LEN_INVALID : NVME_SC_SUCCESS;
}

uint16_t nvme_map_dptr(struct nvme_ctrl *c, struct nvme_req *r, uint64_t len, int prot)
{
	r->iovcnt = 0;
	if (!len)
		return NVME_SC_SUCCESS;
	switch (NVME_SQE_PSDT(r->cmd.flags)) {
	case NVME_PSDT_PRP:
		return map_prp(c, r, len, prot);
	case NVME_PSDT_SGL_MPTR_CONTIG:
	case NVME_PSDT_SGL_MPTR_SGL:
		if (r->sq->qid == 0)
			return NVME_SC_INVALID_FIELD;	/* admin commands use PRPs */
		return map_sgl(c, r, len, prot);
	default:
		return NVME_SC_INVALID_FIELD;
	}
}
