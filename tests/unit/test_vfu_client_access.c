/* test_vfu_client: region reads and writes (chunked, WRITE_MULTIPLE),
 * interrupts (SET_IRQS, MSI-X) and DMA maps. */
#include "test_vfu_client.h"

/* ---- region access ---------------------------------------------------------------- */

void test_region_rw(void **state)
{
	struct env *e = *state;
	uint8_t buf[300], back[300];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	assert_int_equal(vfu_region_write(e->c, 0, 0x100, buf, sizeof(buf), false), 0);
	assert_memory_equal(e->f.bar + 0x100, buf, sizeof(buf));
	assert_int_equal(vfu_region_read(e->c, 0, 0x100, back, sizeof(back)), 0);
	assert_memory_equal(back, buf, sizeof(buf));
	/* out of range: the server's EINVAL */
	assert_int_equal(vfu_region_read(e->c, 0, BAR0_SIZE - 2, back, 4), -EINVAL);

	/* posted: no reply; the next round trip implies it was processed */
	uint32_t v = 0xfeedf00d, r;
	int writes = e->f.n_writes;
	assert_int_equal(vfu_region_write(e->c, 0, 0x20, &v, 4, true), 0);
	assert_int_equal(vfu_region_write(e->c, 0, 0x24, &v, 4, true), 0);
	assert_int_equal(vfu_sync(e->c), 0);
	assert_int_equal(e->f.n_writes, writes + 2);
	assert_int_equal(vfu_region_read(e->c, 0, 0x24, &r, 4), 0);
	assert_int_equal(r, v);
}

void test_region_rw_chunked(void **state)
{
	(void)state;
	struct env *e = env_new();
	e->f.ver_json = "{\"capabilities\":{\"max_data_xfer_size\":64}}";
	assert_int_equal(vfu_negotiate(e->c), 0);
	uint8_t buf[200], back[200];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i ^ 0x55);
	assert_int_equal(vfu_region_write(e->c, 0, 0x200, buf, sizeof(buf), false), 0);
	assert_int_equal(e->f.n_writes, 4);
	assert_int_equal(vfu_region_read(e->c, 0, 0x200, back, sizeof(back)), 0);
	assert_int_equal(e->f.n_reads, 4);
	assert_int_equal(e->f.max_count, 64);
	assert_memory_equal(back, buf, sizeof(buf));
	env_free(e);
}

void test_write_multi(void **state)
{
	struct env *e = *state;
	struct vfu_write w[3] = {
		{ .region = 0, .count = 4, .offset = 0x300, .data = { 1, 2, 3, 4 } },
		{ .region = 0, .count = 8, .offset = 0x308, .data = { 9, 9, 9, 9, 9, 9, 9, 9 } },
		{ .region = VFIO_PCI_CONFIG_REGION_INDEX, .count = 2, .offset = 0x04, .data = { 6, 0 } },
	};
	assert_int_equal(vfu_region_write_multi(e->c, w, 3, false), 0);
	assert_memory_equal(e->f.bar + 0x300, w[0].data, 4);
	assert_memory_equal(e->f.bar + 0x308, w[1].data, 8);
	assert_int_equal(e->f.cfg[4], 6);
	assert_int_equal(vfu_region_write_multi(e->c, w, 0, false), -EINVAL);
	w[1].count = 9;
	assert_int_equal(vfu_region_write_multi(e->c, w, 3, false), -EINVAL);

	struct env *e2 = env_new();
	e2->f.ver_json = "{\"capabilities\":{}}";
	assert_int_equal(vfu_negotiate(e2->c), 0);
	assert_int_equal(vfu_region_write_multi(e2->c, w, 1, false), -EOPNOTSUPP);
	env_free(e2);
}

/* ---- interrupts and memory --------------------------------------------------------- */

void test_set_irqs(void **state)
{
	(void)state;
	struct env *e = env_new();
	e->f.ver_json = "{\"capabilities\":{\"max_msg_fds\":2}}";
	assert_int_equal(vfu_negotiate(e->c), 0);
	int efd[5];
	for (int i = 0; i < 5; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint32_t trig = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX, trig, 0, 5, efd, NULL), 0);
	/* split by the server's max_msg_fds = 2 */
	assert_int_equal(e->f.n_irq_msgs, 3);
	assert_int_equal(e->f.irq_start[0], 0);
	assert_int_equal(e->f.irq_count[0], 2);
	assert_int_equal(e->f.irq_nfds[0], 2);
	assert_int_equal(e->f.irq_start[2], 4);
	assert_int_equal(e->f.irq_count[2], 1);
	assert_int_equal(e->f.irq_nfds[2], 1);
	/* the fake fired every vector through the fd it received */
	for (int i = 0; i < 5; i++) {
		uint64_t n = 0;
		assert_int_equal(read(efd[i], &n, sizeof(n)), sizeof(n));
		assert_int_equal(n, 1);
	}
	/* mask with bools, unmask with no data, de-assign without fds */
	uint8_t bools[3] = { 1, 0, 1 };
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX,
				      VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK, 1, 3, NULL, bools), 0);
	assert_int_equal(e->f.irq_count[3], 3);
	assert_memory_equal(e->f.irq_bools, bools, 3);
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX,
				      VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, 0, 4, NULL, NULL), 0);
	assert_int_equal(e->f.irq_flags[4], VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK);
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX, trig, 0, 4, NULL, NULL), 0);
	assert_int_equal(e->f.irq_nfds[5], 0);
	/* mismatched data */
	assert_int_equal(vfu_set_irqs(e->c, 2, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				      0, 1, efd, NULL), -EINVAL);
	int bad[1] = { -2 };
	assert_int_equal(vfu_set_irqs(e->c, 2, trig, 0, 1, bad, NULL), -EINVAL);
	/* -1 entries: runs of fds and runs of "no fd" in separate messages
	 * (as QEMU's vfio-user-pci sends them), each run split at max_msg_fds */
	int mixed[6] = { efd[0], -1, -1, -1, efd[1], efd[2] };
	e->f.n_irq_msgs = 0;
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX, trig, 0, 6, mixed, NULL), 0);
	assert_int_equal(e->f.n_irq_msgs, 4);
	static const uint32_t want_start[4] = { 0, 1, 3, 4 }, want_count[4] = { 1, 2, 1, 2 };
	static const int want_nfds[4] = { 1, 0, 0, 2 };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(e->f.irq_start[i], want_start[i]);
		assert_int_equal(e->f.irq_count[i], want_count[i]);
		assert_int_equal(e->f.irq_nfds[i], want_nfds[i]);
		assert_int_equal(e->f.irq_flags[i], trig);
	}
	int none[1] = { -1 };
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX, trig, 0, 1, none, NULL), 0);
	assert_int_equal(e->f.irq_nfds[4], 0);
	assert_int_equal(e->f.irq_count[4], 1);
	for (int i = 0; i < 5; i++)
		close(efd[i]);
	env_free(e);
}

/* MSI-X the VFIO way: config space and SET_IRQS only, the table untouched. */
void test_msix(void **state)
{
	struct env *e = *state;
	struct vfu_msix_info mi;
	assert_int_equal(vfu_msix_info(e->c, &mi), 0);
	assert_int_equal(mi.cap, 0x50);
	assert_int_equal(mi.table_size, 4);
	assert_int_equal(mi.table_bar, 0);
	assert_int_equal(mi.table_off, 0x2000);
	assert_int_equal(mi.pba_bar, 0);
	assert_int_equal(mi.pba_off, 0x2800);
	assert_int_equal(mi.irq_count, 4);
	assert_int_equal(mi.irq_flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);

	int efd[5];
	for (int i = 0; i < 5; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint32_t trig = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	assert_int_equal(vfu_msix_enable(e->c, efd, 5), -EINVAL);	/* above the table */
	assert_int_equal(vfu_msix_enable(e->c, efd, 0), -EINVAL);
	assert_int_equal(e->f.n_irq_msgs, 0);
	e->f.cfg[0x53] |= 0x08;		/* a reserved bit (11): kept by every update */
	assert_int_equal(vfu_msix_enable(e->c, efd, 3), 0);
	assert_int_equal(e->f.n_irq_msgs, 2);
	assert_int_equal(e->f.irq_flags[0], trig);	/* vector 0 without an fd first */
	assert_int_equal(e->f.irq_start[0], 0);
	assert_int_equal(e->f.irq_count[0], 1);
	assert_int_equal(e->f.irq_nfds[0], 0);
	assert_int_equal(e->f.irq_flags[1], trig);
	assert_int_equal(e->f.irq_start[1], 0);
	assert_int_equal(e->f.irq_count[1], 3);
	assert_int_equal(e->f.irq_nfds[1], 3);
	assert_int_equal(e->f.cfg[0x53] & 0xc0, 0x80);	/* enabled, function unmasked */
	assert_int_equal(e->f.cfg[0x52], 0x03);
	assert_int_equal(e->f.cfg[0x53] & 0x3f, 0x08);
	assert_int_equal(e->f.n_bar_writes, 0);		/* the table never written */

	assert_int_equal(vfu_msix_mask(e->c, 1, 2, true), 0);
	assert_int_equal(e->f.irq_flags[2], VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK);
	assert_int_equal(e->f.irq_start[2], 1);
	assert_int_equal(e->f.irq_count[2], 2);
	assert_int_equal(vfu_msix_mask(e->c, 2, 1, false), 0);
	assert_int_equal(e->f.irq_flags[3], VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK);
	assert_int_equal(e->f.irq_start[3], 2);
	assert_int_equal(vfu_msix_mask(e->c, 0, 0, true), -EINVAL);

	assert_int_equal(vfu_msix_function_mask(e->c, true), 0);
	assert_int_equal(e->f.cfg[0x53] & 0xc0, 0xc0);
	assert_int_equal(vfu_msix_function_mask(e->c, false), 0);
	assert_int_equal(e->f.cfg[0x53] & 0xc0, 0x80);
	assert_int_equal(e->f.cfg[0x52], 0x03);
	assert_int_equal(e->f.cfg[0x53] & 0x3f, 0x08);

	bool pend = true;
	assert_int_equal(vfu_msix_pending(e->c, 1, &pend), 0);
	assert_false(pend);
	e->f.bar[0x2800] = 0x02;
	assert_int_equal(vfu_msix_pending(e->c, 1, &pend), 0);
	assert_true(pend);
	assert_int_equal(vfu_msix_pending(e->c, 0, &pend), 0);
	assert_false(pend);
	assert_int_equal(vfu_msix_pending(e->c, 4, &pend), -EINVAL);

	assert_int_equal(vfu_msix_disable(e->c), 0);
	assert_int_equal(e->f.irq_flags[4], VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER);
	assert_int_equal(e->f.irq_count[4], 0);
	assert_int_equal(e->f.cfg[0x53] & 0xc0, 0);
	assert_int_equal(e->f.cfg[0x52], 0x03);
	assert_int_equal(e->f.cfg[0x53] & 0x3f, 0x08);
	assert_int_equal(e->f.n_bar_writes, 0);
	for (int i = 0; i < 5; i++)
		close(efd[i]);
}

void test_dma_map(void **state)
{
	struct env *e = *state;
	struct host_mem *m;
	assert_int_equal(host_mem_create(100000, &m), 0);
	assert_int_equal(m->size % 4096, 0);
	assert_int_equal(vfu_dma_map(e->c, 0x100000, m->size, m->fd, 0, VFU_PROT_READ | VFU_PROT_WRITE), 0);
	assert_true(e->f.dma_wrote);
	assert_int_equal(e->f.dma_nfds, 1);
	assert_int_equal(e->f.dma_iova, 0x100000);
	assert_int_equal(e->f.dma_size, m->size);
	assert_int_equal(e->f.dma_flags, 3);
	assert_string_equal(m->ptr, "written by the server");
	assert_int_equal(vfu_dma_unmap(e->c, 0x100000, m->size), 0);
	/* without fd */
	assert_int_equal(vfu_dma_map(e->c, 0x200000, 4096, -1, 0, VFU_PROT_READ), 0);
	assert_int_equal(e->f.dma_nfds, 0);
	host_mem_destroy(m);
	assert_int_equal(host_mem_create(0, &m), -EINVAL);
}
