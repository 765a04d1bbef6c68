/* libFuzzer target: split-virtqueue descriptor-chain walking (device side)
 * against a fuzzed guest memory image: loops, out-of-range indexes,
 * direction order, indirect tables, lengths and addresses.
 *
 * Input: byte 0 picks the queue size (2^(1 + b%8)) and features, then the
 * rest is copied over the guest image that holds the rings and buffers. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/thread.h"
#include "emu/emu_internal.h"
#include "virtio_blk/vq_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GPA 0x100000ull
#define MEM (1u << 20)

static struct emu_function *g_fn;
static uint8_t *g_mem;
static uint8_t *g_dev;	/* the device plane's own mapping of the same memory */

static void setup(void)
{
	struct emu_config cfg;
	char err[256];
	log_set_level(LOG_CRIT);
	thread_lib_init();
	emu_config_defaults(&cfg);
	cfg.no_endpoints = true;
	if (emu_init(&cfg, err, sizeof(err)))
		abort();
	g_fn = emu_pf_first();
	int fd = memfd_create("guest", 0);
	if (fd < 0 || ftruncate(fd, MEM))
		abort();
	g_mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (g_mem == MAP_FAILED || emu_mem_add(g_fn, GPA, MEM, EMU_DMA_READ | EMU_DMA_WRITE, fd, 0))
		abort();
	close(fd);
	struct iovec base;
	if (emu_dma_map(g_fn, GPA, MEM, EMU_DMA_READ, &base, 1) != 1)
		abort();
	g_dev = base.iov_base;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iovec iov[64];
	if (!g_fn)
		setup();
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	memset(g_mem, 0, 65536);
	memcpy(g_mem, data + 1, size - 1 < 65536 ? size - 1 : 65536);

	struct vq q = { .fn = g_fn };
	q.size = 1u << (1 + sel % 8);
	q.event_idx = sel & 0x10;
	q.indirect = sel & 0x20;
	q.desc_gpa = GPA;
	q.avail_gpa = GPA + 0x4000;
	q.used_gpa = GPA + 0x8000;
	if (vq_map(&q))
		return 0;
	q.last_avail = (uint16_t)(sel & 0x40 ? 0xfff0 : 0);
	q.used_idx = q.last_avail;
	for (int n = 0; n < 64; n++) {
		struct vq_chain c = { .iov = iov, .max_iov = (sel & 0x80) ? 4 : 64 };
		int rc = vq_pop(&q, &c);
		if (rc == 0 || rc == -EPROTO)
			break;
		if (c.head < q.size)
			vq_push(&q, c.head, rc > 0 ? c.in_len : 0);
		/* touch what was mapped: it must be inside the guest image */
		for (int i = 0; rc > 0 && i < c.nout + c.nin; i++) {
			uint8_t *p = iov[i].iov_base;
			if (p < g_dev || p + iov[i].iov_len > g_dev + MEM)
				abort();
			if (i >= c.nout && iov[i].iov_len)
				p[iov[i].iov_len - 1] ^= 0;
		}
	}
	vq_flush(&q);
	vq_need_signal(&q);
	vq_enable_kick(&q);
	return 0;
}
