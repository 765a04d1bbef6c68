/* test_virtio_host: asynchronous requests on several queues, one thread a
 * queue (run_async), for both transports. */
#include "test_virtio_host.h"

/* ---- async, several queues on several threads --------------------------------------------- */

struct aq {
	struct vblk_host *d;
	uint16_t q;
	int done, failures;
	uint8_t *bufs[AQ_DEPTH];
	struct vblk_host_req req[AQ_DEPTH];
	int free[AQ_DEPTH], nfree;	/* slots not in flight (completion order is free) */
	int max_inflight;
	bool reading;
};

static void aq_done(struct vblk_host_req *r)
{
	struct aq *a = r->arg;
	a->done++;
	a->free[a->nfree++] = (int)(r - a->req);
	if (r->result || r->status != VH_BLK_S_OK)
		a->failures++;
	if (a->reading) {
		uint8_t expect[4096];
		fill(expect, 4096, (uint32_t)r->sector);
		if (r->used_len != 4097 || memcmp(r->buf, expect, 4096))
			a->failures++;
	}
}

static void *aq_main(void *arg)
{
	struct aq *a = arg;
	for (int phase = 0; phase < 2; phase++) {
		a->reading = phase == 1;
		a->done = 0;
		a->nfree = AQ_DEPTH;
		for (int k = 0; k < AQ_DEPTH; k++)
			a->free[k] = k;
		int next = 0;
		while (a->done < AQ_TOTAL) {
			/* top the queue up to AQ_DEPTH */
			while (next < AQ_TOTAL && a->nfree > 0) {
				int slot = a->free[--a->nfree];
				struct vblk_host_req *r = &a->req[slot];
				uint64_t sector = (uint64_t)a->q * 1024 + (uint64_t)(next % 128) * 8;
				if (!a->reading)
					fill(a->bufs[slot], 4096, (uint32_t)sector);
				*r = (struct vblk_host_req){ .type = a->reading ? VH_BLK_T_IN : VH_BLK_T_OUT,
							     .sector = sector, .buf = a->bufs[slot],
							     .len = 4096, .cb = aq_done, .arg = a };
				if (vblk_host_queue_req(a->d, a->q, r)) {
					a->failures++;
					return NULL;
				}
				next++;
			}
			vblk_host_kick(a->d, a->q);
			int inflight = (int)vblk_host_inflight(a->d, a->q);
			if (inflight > a->max_inflight)
				a->max_inflight = inflight;
			int rc = vblk_host_wait(a->d, a->q, 5000);
			if (rc < 0) {
				a->failures += 1000;
				return NULL;
			}
		}
	}
	return NULL;
}

/* 4 queues, one thread each, 32 requests in flight per queue. */
void run_async(struct vblk_host *d, uint16_t nq)
{
	struct aq a[4];
	pthread_t th[4];
	for (uint16_t i = 0; i < nq; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].d = d;
		a[i].q = i;
		for (int k = 0; k < AQ_DEPTH; k++) {
			a[i].bufs[k] = vblk_host_alloc(d, 4096);
			assert_non_null(a[i].bufs[k]);
		}
		assert_int_equal(pthread_create(&th[i], NULL, aq_main, &a[i]), 0);
	}
	for (uint16_t i = 0; i < nq; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].failures, 0);
		assert_int_equal(a[i].max_inflight, AQ_DEPTH);
		for (int k = 0; k < AQ_DEPTH; k++)
			vblk_host_free(d, a[i].bufs[k]);
	}
}
