/* libFuzzer target: the vhost-user message handling of the virtio-blk back
 * end (every request's validation, memory tables, vring setup, config).
 *
 * Input: records [u16 length][flags][message bytes]; flag bit 0 attaches a
 * memfd, bit 1 an eventfd, bit 2 keeps the header's size field as given.
 * Each input is a new front end on the same controller. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bdev/modules/modules.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/thread.h"
#include "emu/emu.h"
#include "virtio_blk/vblk.h"
#include "emu/vhost_user/vhu_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(struct vhu_conn *c, const void *msg, size_t len, const int *fds, int nfds)
{
	(void)c;
	(void)msg;
	(void)len;
	(void)fds;
	(void)nfds;
	return 0;
}

static void resume(struct vhu_conn *c)
{
	(void)c;
}

static const struct vhu_conn_ops ops = { .send = sink, .resume = resume };
static struct vblk_ctrl *g_ctrl;
static int g_memfd = -1;

static void gone(void *arg)
{
	*(int *)arg = 1;
}

static void setup(void)
{
	struct emu_config cfg;
	char err[256];
	char dir[] = "/tmp/osnap-fuzz-vhu-XXXXXX";
	log_set_level(LOG_CRIT);
	thread_lib_init();
	loop_init();
	emu_config_defaults(&cfg);
	cfg.no_endpoints = true;
	if (!mkdtemp(dir))
		abort();
	snprintf(cfg.dir, sizeof(cfg.dir), "%s", dir);
	if (emu_init(&cfg, err, sizeof(err)) || bdev_malloc_create("fz", 2048, 512, NULL, err, sizeof(err)))
		abort();
	struct vblk_params p = { .fn = emu_find_by_index(EMU_TYPE_VBLK, 0, -1), .bdev = "fz", .num_queues = 2,
				 .queue_size = 256, .size_max = 65536, .seg_max = 32, .indirect_desc = true };
	if (!p.fn || vblk_ctrl_create(&p, &g_ctrl, err, sizeof(err)))
		abort();
	g_memfd = memfd_create("guest", 0);
	if (g_memfd < 0 || ftruncate(g_memfd, 1 << 20))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vhu_conn c;
	uint8_t *msg = NULL;
	if (!g_ctrl)
		setup();
	vhu_conn_init(&c, vblk_ctrl_virtio_dev(g_ctrl), &ops, NULL);
	while (size >= 3) {
		size_t len = (size_t)data[0] | (size_t)data[1] << 8;
		uint8_t flags = data[2];
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		free(msg);
		msg = malloc(len + 12);
		if (!msg)
			break;
		memcpy(msg, data, len);
		data += len;
		size -= len;
		if (len >= 12 && !(flags & 4)) {
			uint32_t psize = (uint32_t)(len - 12);
			memcpy(msg + 8, &psize, 4);
		}
		int fds[2], nfds = 0;
		if (flags & 1)
			fds[nfds++] = dup(g_memfd);
		if (flags & 2)
			fds[nfds++] = eventfd(0, EFD_NONBLOCK);
		if (vhu_conn_handle(&c, msg, len, fds, nfds))
			break;
	}
	free(msg);
	int done = 0;
	vhu_conn_gone(&c, gone, &done);
	while (!done)
		thread_process_msgs(64);
	return 0;
}
