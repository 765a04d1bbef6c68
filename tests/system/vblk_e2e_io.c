/* vblk_e2e: Data on every queue at once: sizes, buffer alignments, interrupts or polling. */
#include <pthread.h>

#include "vblk_e2e.h"

/* ---- multi-queue data ------------------------------------------------------------------------- */

struct mq_thread {
	struct vblk_host *d;
	uint16_t q;
	uint64_t base, span;	/* sectors this thread owns */
	uint32_t seed;
	uint32_t bs;		/* logical block bytes */
	uint32_t seg_bytes;	/* the driver's descriptor size limit */
	unsigned jobs, bytes;
	pthread_t th;
};

struct mq_job {
	struct areq a;
	uint8_t *mem;		/* allocation */
	uint8_t *wbuf;		/* pattern (write) */
};

static const uint32_t MQ_SIZES[] = { 512, 1024, 1536, 4096, 4608, 8192, 12800, 65536, 66048, 131072, 262144 };
static const uint32_t MQ_ALIGNS[] = { 0, 1, 3, 8, 64, 511, 512, 2048, 4095 };

static void *mq_run(void *arg)
{
	struct mq_thread *t = arg;
	struct vblk_host *d = t->d;
	const unsigned nsz = sizeof(MQ_SIZES) / sizeof(MQ_SIZES[0]);
	const unsigned nal = sizeof(MQ_ALIGNS) / sizeof(MQ_ALIGNS[0]);
	unsigned n = nsz * nal;
	struct mq_job *jobs = calloc(n, sizeof(*jobs));
	struct areq *reqs = calloc(n, sizeof(*reqs));
	unsigned count = 0;
	uint64_t sector = t->base;
	if (!jobs || !reqs) {
		FAIL("out of memory");
		goto out;
	}
	uint64_t maxlen = (uint64_t)vblk_host_max_segments(d) * t->seg_bytes;
	if (maxlen > (1u << 20))
		maxlen = 1u << 20;
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = MQ_SIZES[(i + t->q) % nsz];
		uint32_t al = MQ_ALIGNS[i / nsz];
		len = (len + t->bs - 1) / t->bs * t->bs;
		if (len > maxlen)
			len = (uint32_t)(maxlen / t->bs * t->bs);
		if (sector + len / SECTOR > t->base + t->span)
			break;
		struct mq_job *j = &jobs[count];
		j->mem = xalloc(d, (size_t)len * 2 + al + 4096);
		if (!j->mem)
			break;
		j->wbuf = j->mem + al;
		pattern_fill(j->wbuf, sector, len / SECTOR, SECTOR, t->seed);
		reqs[count].r = (struct vblk_host_req){ .type = VH_BLK_T_OUT, .sector = sector, .buf = j->wbuf,
							.len = len };
		sector += len / SECTOR;
		t->bytes += len;
		count++;
	}
	t->jobs = count;
	/* writes, 32 in flight */
	if (!run_batch(d, t->q, reqs, count, 32, 5000))
		goto out;
	for (unsigned i = 0; i < count && tap_failures() < 10; i++) {
		if (reqs[i].ncomp != 1 || reqs[i].r.result || reqs[i].r.status != VH_BLK_S_OK)
			FAIL("q%u write %u (%u bytes at %llu): completed %d times, result %d, status %u", t->q, i,
			     reqs[i].r.len, (unsigned long long)reqs[i].r.sector, reqs[i].ncomp, reqs[i].r.result,
			     reqs[i].r.status);
		else if (reqs[i].r.used_len != 1)
			FAIL("q%u write %u: used length %u, want 1 (the status byte)", t->q, i, reqs[i].r.used_len);
	}
	/* a flush on the way */
	EXPECT_STATUS(rw(d, t->q, VH_BLK_T_FLUSH, 0, NULL, 0), VH_BLK_S_OK, "flush");
	/* reads into the other half of each allocation, with the same offset */
	for (unsigned i = 0; i < count; i++) {
		uint32_t len = reqs[i].r.len;
		uint8_t *rb = jobs[i].wbuf + len + (jobs[i].wbuf - jobs[i].mem) % 7;
		memset(rb, 0x5a, len);
		reqs[i].r = (struct vblk_host_req){ .type = VH_BLK_T_IN, .sector = reqs[i].r.sector, .buf = rb,
						    .len = len };
	}
	if (!run_batch(d, t->q, reqs, count, 32, 5000))
		goto out;
	unsigned bad = 0;
	for (unsigned i = 0; i < count; i++) {
		struct vblk_host_req *r = &reqs[i].r;
		if (reqs[i].ncomp != 1 || r->result || r->status != VH_BLK_S_OK) {
			FAIL("q%u read %u: completed %d times, result %d, status %u", t->q, i, reqs[i].ncomp, r->result,
			     r->status);
			continue;
		}
		if (r->used_len != r->len + 1)
			FAIL("q%u read %u (%u bytes): used length %u, want %u", t->q, i, r->len, r->used_len, r->len + 1);
		long k = pattern_check(r->buf, r->sector, r->len / SECTOR, SECTOR, t->seed);
		if (k >= 0 && bad++ < 5)
			FAIL("q%u: %u bytes at sector %llu, buffer offset %lu: sector %ld differs", t->q, r->len,
			     (unsigned long long)r->sector,
			     (unsigned long)(((uintptr_t)r->buf) & 4095), k);
	}
	struct vblk_host_qstats st;
	vblk_host_qstats(d, t->q, &st);
	CHECK_EQ(st.bad_used, 0);
	CHECK_EQ(st.completed, st.submitted);
out:
	for (unsigned i = 0; jobs && i < count; i++)
		vblk_host_free(d, jobs[i].mem);
	free(jobs);
	free(reqs);
	return NULL;
}

/* One pass of the threads over a device opened with o. */
static void mq_pass(struct vblk_host_opts *o, const char *what, uint32_t seed)
{
	struct vblk_host *d = open_all(o);
	struct mq_thread *t = NULL;
	if (!d)
		return;
	uint16_t nq = vblk_host_num_queues(d);
	uint32_t bs = blk_sectors(d) * SECTOR;
	uint64_t cap = capacity(d);
	t = calloc(nq, sizeof(*t));
	REQUIRE(t && cap >= (uint64_t)nq * 64);
	uint64_t span = cap / nq / (bs / SECTOR) * (bs / SECTOR);
	if (span > 16384)
		span = 16384;	/* 8 MiB per queue is plenty */
	for (uint16_t q = 0; q < nq; q++) {
		t[q] = (struct mq_thread){ .d = d, .q = q, .base = (uint64_t)q * span, .span = span,
					   .seed = seed + q, .bs = bs,
					   .seg_bytes = o->seg_bytes ? o->seg_bytes :
							(vblk_host_features(d) & VH_BIT(VH_BLK_F_SIZE_MAX)) ?
							vblk_host_config(d)->size_max : 1u << 20 };
		pthread_create(&t[q].th, NULL, mq_run, &t[q]);
	}
	unsigned jobs = 0, bytes = 0;
	for (uint16_t q = 0; q < nq; q++) {
		pthread_join(t[q].th, NULL);
		jobs += t[q].jobs;
		bytes += t[q].bytes;
	}
	diag("%s: %u queues, %u requests, %u bytes each way, features 0x%llx", what, nq, jobs, bytes,
	     (unsigned long long)vblk_host_features(d));
	CHECK(jobs >= nq * 20u);
	/* every queue's data is still there when read through another queue */
	for (uint16_t q = 0; q < nq; q++)
		CHECK(read_check(d, (uint16_t)((q + 1) % nq), t[q].base, 8 * SECTOR, seed + q));
out:
	free(t);
	vblk_host_close(d);
}

void case_io_mq(void)
{
	struct vblk_host_opts o;
	if (O.read_only) {
		FAIL("io_mq writes: not for a read-only controller");
		return;
	}
	base_opts(&o);
	o.direct_only = true;
	mq_pass(&o, "direct descriptors", O.seed * 7 + 1);
	if (O.indirect > 0) {
		base_opts(&o);
		mq_pass(&o, "indirect tables", O.seed * 7 + 2);
	}
	/* descriptors of odd lengths (not multiples of 512) */
	base_opts(&o);
	o.seg_bytes = 1000;
	o.direct_only = true;
	mq_pass(&o, "1000-byte descriptors", O.seed * 7 + 3);
	/* interrupts off: completions polled */
	base_opts(&o);
	o.irq = VBLK_HOST_IRQ_POLL;
	mq_pass(&o, "polled", O.seed * 7 + 4);
}
