/* PRP and SGL builders of the host NVMe driver (spec 1.4 sections 4.3, 4.4):
 * pure functions over IOVA pieces and a descriptor memory area. */
#include <errno.h>
#include <string.h>

#include "host/nvme_host.h"

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Check the PRP rules for the pieces and count the page entries they need. */
static int prp_count(const struct nvme_host_sg *sg, unsigned int nsg, uint32_t page,
		     uint64_t *entries)
{
	uint64_t mask = page - 1;
	uint64_t n = 0;

	if (!sg || nsg == 0 || page < 64 || !is_pow2(page))
		return -EINVAL;
	if (sg[0].iova & 3)
		return -EINVAL;		/* PRP entries are dword aligned */
	for (unsigned int i = 0; i < nsg; i++) {
		uint64_t start = sg[i].iova, len = sg[i].len;

		if (len == 0 || start + len < start)
			return -EINVAL;
		if (i > 0 && (start & mask))
			return -EINVAL;	/* later pieces start on a page */
		if (i + 1 < nsg && ((start + len) & mask))
			return -EINVAL;	/* all but the last end on a page */
		n += ((start & mask) + len + mask) / page;
	}
	*entries = n;
	return 0;
}

/* Entries after PRP1 that go into lists: how many list pages they take when
 * each full page gives its last slot to the chain pointer. */
static uint64_t list_pages_for(uint64_t list_entries, uint32_t page)
{
	uint64_t per = page / 8, pages = 0;

	while (list_entries > per) {
		list_entries -= per - 1;
		pages++;
	}
	return pages + (list_entries ? 1 : 0);
}

int nvme_host_prp_list_pages(const struct nvme_host_sg *sg, unsigned int nsg, uint32_t page)
{
	uint64_t n;
	int rc = prp_count(sg, nsg, page, &n);

	if (rc)
		return rc;
	if (n <= 2)
		return 0;
	return (int)list_pages_for(n - 1, page);
}

/* Walks the page entries of the pieces in order. */
struct prp_iter {
	const struct nvme_host_sg *sg;
	unsigned int nsg, i;
	uint64_t pos, end;	/* current address and end of piece i */
	uint64_t mask;
};

static void prp_iter_init(struct prp_iter *it, const struct nvme_host_sg *sg, unsigned int nsg,
			  uint32_t page)
{
	it->sg = sg;
	it->nsg = nsg;
	it->i = 0;
	it->pos = sg[0].iova;
	it->end = sg[0].iova + sg[0].len;
	it->mask = page - 1;
}

/* The next entry: the current address (an offset only in the very first). */
static uint64_t prp_iter_next(struct prp_iter *it)
{
	uint64_t e = it->pos;

	it->pos = (it->pos & ~it->mask) + it->mask + 1;
	if (it->pos >= it->end && ++it->i < it->nsg) {
		it->pos = it->sg[it->i].iova;
		it->end = it->pos + it->sg[it->i].len;
	}
	return e;
}

int nvme_host_build_prp(const struct nvme_host_sg *sg, unsigned int nsg, uint32_t page,
			const struct nvme_host_dmem *lists, uint64_t *prp1, uint64_t *prp2)
{
	uint64_t n;
	int rc = prp_count(sg, nsg, page, &n);

	if (rc)
		return rc;
	struct prp_iter it;
	prp_iter_init(&it, sg, nsg, page);
	*prp1 = prp_iter_next(&it);
	*prp2 = 0;
	if (n == 1)
		return 0;
	if (n == 2) {
		*prp2 = prp_iter_next(&it);
		return 0;
	}
	uint64_t per = page / 8, left = n - 1;
	uint64_t need = list_pages_for(left, page);

	if (!lists || (lists->iova & (page - 1)) || lists->size / page < need)
		return -ENOSPC;
	uint8_t *va = lists->va;
	uint64_t iova = lists->iova;

	*prp2 = iova;
	while (left) {
		uint64_t *list = (uint64_t *)(void *)va;
		uint64_t k = 0;

		if (left > per) {
			for (; k < per - 1; k++)
				list[k] = prp_iter_next(&it);
			list[k] = iova + page;	/* chain to the next list page */
			left -= per - 1;
		} else {
			for (; k < left; k++)
				list[k] = prp_iter_next(&it);
			left = 0;
		}
		va += page;
		iova += page;
	}
	return 0;
}

static void sgl_set(struct nvme_sgl_desc *d, uint8_t type, uint64_t addr, uint32_t len)
{
	memset(d, 0, sizeof(*d));
	d->addr = addr;
	d->len = len;
	d->id = NVME_SGL_ID(type, 0);
}

int nvme_host_build_sgl(const struct nvme_host_sg *sg, unsigned int nsg, uint32_t seg_max,
			bool dword, const struct nvme_host_dmem *segs, struct nvme_sgl_desc *sgl1)
{
	if (!sg || nsg == 0 || seg_max < 2)
		return -EINVAL;
	for (unsigned int i = 0; i < nsg; i++) {
		if (sg[i].len == 0 || sg[i].iova + sg[i].len < sg[i].iova)
			return -EINVAL;
		if (dword && ((sg[i].iova | sg[i].len) & 3))
			return -EINVAL;
	}
	if (nsg == 1) {
		sgl_set(sgl1, NVME_SGL_TYPE_DATA_BLOCK, sg[0].iova, sg[0].len);
		return 0;
	}
	/* Segments needed: every one but the last carries seg_max - 1 pieces. */
	uint64_t nseg = 1, rest = nsg;
	while (rest > seg_max) {
		rest -= seg_max - 1;
		nseg++;
	}
	uint64_t seg_bytes = (uint64_t)seg_max * sizeof(struct nvme_sgl_desc);
	if (!segs || (segs->iova & 0xf) || segs->size / seg_bytes < nseg)
		return -ENOSPC;

	struct nvme_sgl_desc *link = sgl1;	/* the descriptor that points at segment k */
	uint8_t *va = segs->va;
	uint64_t iova = segs->iova;
	unsigned int i = 0;

	rest = nsg;
	while (rest) {
		struct nvme_sgl_desc *seg = (struct nvme_sgl_desc *)(void *)va;

		if (rest <= seg_max) {
			sgl_set(link, NVME_SGL_TYPE_LAST_SEGMENT, iova,
				(uint32_t)(rest * sizeof(*seg)));
			for (uint64_t k = 0; k < rest; k++, i++)
				sgl_set(&seg[k], NVME_SGL_TYPE_DATA_BLOCK, sg[i].iova, sg[i].len);
			rest = 0;
		} else {
			sgl_set(link, NVME_SGL_TYPE_SEGMENT, iova, (uint32_t)seg_bytes);
			for (uint32_t k = 0; k < seg_max - 1; k++, i++)
				sgl_set(&seg[k], NVME_SGL_TYPE_DATA_BLOCK, sg[i].iova, sg[i].len);
			link = &seg[seg_max - 1];
			rest -= seg_max - 1;
		}
		va += seg_bytes;
		iova += seg_bytes;
	}
	return 0;
}
