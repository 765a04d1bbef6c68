/* libFuzzer target: vfio-user message handling of the server (every
 * command's validation and effect on a function: config space, BARs,
 * MSI-X, DMA map/unmap, resets).
 *
 * Input: a sequence of records [u16 length][flags byte][message bytes].
 * Flag bit 0 attaches a memfd (for DMA_MAP), bit 1 attaches two eventfds
 * (for SET_IRQS), bit 2 keeps the header's size field as given instead of
 * fixing it to the record length. Each input starts from a reset function. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/thread.h"
#include "emu/emu_internal.h"
#include "emu/vfio_user/vfu_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(struct vfu_conn *c, const void *msg, size_t len, const int *fds, int nfds)
{
	(void)c;
	(void)msg;
	(void)len;
	(void)fds;
	(void)nfds;
	return 0;
}

static void resume(struct vfu_conn *c)
{
	(void)c;
}

static const struct vfu_conn_ops ops = { .send = sink, .resume = resume };
static int g_memfd = -1;

static struct emu_function *setup(void)
{
	static struct emu_function *fn;
	if (fn)
		return fn;
	log_set_level(LOG_CRIT);
	thread_lib_init();
	struct emu_config cfg;
	char err[256];
	emu_config_defaults(&cfg);
	cfg.no_endpoints = true;
	cfg.sriov_en = true;
	cfg.nvme_num_vf = 2;
	cfg.nvme_num_msix = 8;
	if (emu_init(&cfg, err, sizeof(err)))
		abort();
	g_memfd = memfd_create("fuzzmem", 0);
	if (g_memfd < 0 || ftruncate(g_memfd, 1 << 20))
		abort();
	fn = emu_pf_first();
	return fn;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct emu_function *fn = setup();
	struct vfu_conn c;
	uint8_t *msg = NULL;

	/* the second PF function (virtio-blk) gets every other input */
	if (size && (data[0] & 0x80) && emu_pf_next(fn))
		fn = emu_pf_next(fn);
	vfu_conn_init(&c, fn, &ops, NULL);
	while (size >= 3) {
		size_t len = (size_t)data[0] | (size_t)data[1] << 8;
		uint8_t flags = data[2];
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		free(msg);
		msg = malloc(len + sizeof(struct vfu_hdr));
		if (!msg)
			break;
		memcpy(msg, data, len);
		data += len;
		size -= len;
		if (len >= sizeof(struct vfu_hdr) && !(flags & 4))
			((struct vfu_hdr *)msg)->size = (uint32_t)len;
		int fds[2], nfds = 0;
		if (flags & 1)
			fds[nfds++] = dup(g_memfd);
		if (flags & 2) {
			fds[nfds++] = eventfd(0, EFD_NONBLOCK);
			if (nfds < 2)
				fds[nfds++] = eventfd(0, EFD_NONBLOCK);
		}
		if (vfu_conn_handle(&c, msg, len, fds, nfds))
			break;
	}
	free(msg);
	vfu_conn_gone(&c);
	emu_fn_reset(fn, EMU_RESET_FLR);
	return 0;
}
