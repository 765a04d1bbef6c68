/* libFuzzer target: the vhost-user in-flight region as a front end hands it
 * back (SET_INFLIGHT_FD: vhu_inflight_attach checks the description against
 * the file) and what a restarted service recovers from each queue's slice
 * (vinfl_recover: garbage headers, marks, batch lists, counters), then a
 * few fetch / use / publish rounds on it.
 *
 * Input: 24 bytes of the inflight description (mmap_size, mmap_offset,
 * num_queues, queue_size, padding), 2 bytes of used->idx, 1 byte picking
 * the ring size per queue (a power of two up to the slice's), then the
 * region file's contents (64 KiB, zero past the input). Checks: every head
 * to resubmit is in the ring, appears once and comes in counter order; a
 * recovered slice puts last_avail at used->idx + the heads in flight;
 * published heads are no longer marked. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "emu/vhost_user/vhu_inflight.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILE_BYTES (64u << 10)

static int g_fd = -1;

static void no_fault(void *arg)
{
	(void)arg;
}

static void check_slice(struct vinfl_split *s, uint16_t num, uint16_t ring, uint16_t used, const uint8_t *ops,
			size_t nops)
{
	struct vinfl_queue q;
	if (vinfl_queue_init(&q, s, num))
		abort();
	uint16_t last = 0x1234;
	enum vinfl_recovery rv = vinfl_recover(&q, ring, used, &last);
	static uint8_t seen[32768];
	memset(seen, 0, ring);
	uint64_t prev = 0;
	for (uint16_t i = 0; i < q.nresubmit; i++) {
		uint16_t h = q.resubmit[i];
		if (h >= ring || seen[h]++)
			abort();
		uint64_t c = s->desc[h].counter;
		if (i && c < prev)
			abort();
		prev = c;
	}
	if (rv == VINFL_RECOVERED ? last != (uint16_t)(used + q.nresubmit) : (last != 0x1234 || q.nresubmit))
		abort();
	if (rv != VINFL_NONE && (s->version != VINFL_VERSION || s->desc_num != ring))
		abort();
	/* fetch, use and publish as the ops say: resubmitted heads first */
	uint16_t head;
	while (vinfl_resubmit_next(&q, &head))
		vinfl_push(&q, head);
	for (size_t i = 0; i < nops && rv != VINFL_NONE; i++) {
		uint16_t h = (uint16_t)(ops[i] % ring);
		vinfl_fetch(&q, h);
		if (s->desc[h].inflight != 1)
			abort();
		vinfl_push(&q, h);
	}
	vinfl_published(&q, (uint16_t)(used + 1));
	if (rv != VINFL_NONE) {
		for (uint16_t i = 0; i < ring; i++)
			if (seen[i] && s->desc[i].inflight)
				abort();
		if (s->used_idx != (uint16_t)(used + 1))
			abort();
	}
	vinfl_queue_fini(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t file[FILE_BYTES];
	if (g_fd < 0) {
		log_set_level(LOG_CRIT);
		g_fd = memfd_create("fuzz-inflight", MFD_CLOEXEC);
		if (g_fd < 0 || ftruncate(g_fd, FILE_BYTES))
			abort();
	}
	struct vhu_inflight in;
	if (size < sizeof(in) + 3)
		return 0;
	memcpy(&in, data, sizeof(in));
	uint16_t used;
	memcpy(&used, data + sizeof(in), 2);
	uint8_t ring_sel = data[sizeof(in) + 2];
	size_t off = sizeof(in) + 3;
	size_t body = size - off < FILE_BYTES ? size - off : FILE_BYTES;
	memset(file, 0, sizeof(file));
	memcpy(file, data + off, body);
	if (pwrite(g_fd, file, FILE_BYTES, 0) != FILE_BYTES)
		abort();

	struct vhu_inflight_map m;
	vhu_inflight_map_init(&m);
	if (vhu_inflight_attach(&m, &in, g_fd, 64, no_fault, NULL))
		return 0;
	const uint8_t *ops = data + off;
	size_t nops = body < 16 ? body : 16;
	for (uint32_t i = 0; i < m.num_queues && i < 4; i++) {
		uint32_t ring = 1u << ((ring_sel + i) % 16);
		while (ring > m.queue_size)
			ring >>= 1;
		uint16_t num = 0;
		struct vinfl_split *s = vhu_inflight_queue(&m, i, ring, &num);
		if (!s || num != m.queue_size)
			abort();
		check_slice(s, num, (uint16_t)ring, used, ops, nops);
	}
	vhu_inflight_detach(&m);
	return 0;
}
