/* test_vfu_client: VERSION negotiation, connecting, device and region
 * information, mapping a region. */
#include "test_vfu_client.h"

/* ---- VERSION ----------------------------------------------------------------- */

void test_version_ok(void **state)
{
	struct env *e = *state;
	assert_string_equal(e->f.got_json, default_caps);
	const struct vfu_caps *caps = vfu_get_caps(e->c);
	assert_int_equal(caps->max_msg_fds, 8);
	assert_int_equal(caps->max_data_xfer_size, 1048576);
	assert_int_equal(caps->pgsizes, 4096);
	assert_int_equal(caps->max_dma_maps, 65535);
	assert_true(caps->write_multiple);
}

static int negotiate_with(const char *json, uint16_t major, uint16_t minor, bool no_nul,
			  struct vfu_caps *caps)
{
	struct env *e = env_new();
	e->f.ver_json = json;
	e->f.ver_major = major;
	e->f.ver_minor = minor;
	e->f.ver_no_nul = no_nul;
	int rc = vfu_negotiate(e->c);
	if (caps)
		*caps = *vfu_get_caps(e->c);
	env_free(e);
	return rc;
}

void test_version_defaults(void **state)
{
	(void)state;
	struct vfu_caps caps;
	assert_int_equal(negotiate_with("{\"capabilities\":{\"max_msg_fds\":4}}", 0, 0, false, &caps), 0);
	assert_int_equal(caps.max_msg_fds, 4);
	assert_int_equal(caps.max_data_xfer_size, 1u << 20);
	assert_int_equal(caps.pgsizes, 4096);
	assert_int_equal(caps.max_dma_maps, 65535);
	assert_false(caps.write_multiple);
	/* No version data at all: every default. */
	assert_int_equal(negotiate_with(NULL, 0, 0, false, &caps), 0);
	assert_int_equal(caps.max_msg_fds, 1);
	assert_false(caps.write_multiple);
	/* Unknown keys and a declined twin socket are fine. */
	assert_int_equal(negotiate_with("{\"capabilities\":{\"future\":1,"
					"\"twin_socket\":{\"supported\":false}}}", 0, 0, false, NULL), 0);
}

void test_version_bad(void **state)
{
	(void)state;
	assert_int_equal(negotiate_with(default_caps, 1, 0, false, NULL), -EPROTO);
	assert_int_equal(negotiate_with(default_caps, 0, 1, false, NULL), -EPROTO);
	assert_int_equal(negotiate_with(default_caps, 0, 0, true, NULL), -EPROTO);
	assert_int_equal(negotiate_with("{\"capabilities\":", 0, 0, false, NULL), -EPROTO);
	assert_int_equal(negotiate_with("[1]", 0, 0, false, NULL), -EPROTO);
	assert_int_equal(negotiate_with("{\"capabilities\":{\"max_msg_fds\":\"8\"}}", 0, 0, false, NULL),
			 -EPROTO);
	assert_int_equal(negotiate_with("{\"capabilities\":{\"max_data_xfer_size\":0}}", 0, 0, false, NULL),
			 -EPROTO);
	assert_int_equal(negotiate_with("{\"capabilities\":{\"write_multiple\":1}}", 0, 0, false, NULL),
			 -EPROTO);
	assert_int_equal(negotiate_with("{\"capabilities\":{\"twin_socket\":{\"supported\":true,"
					"\"fd_index\":0}}}", 0, 0, false, NULL), -EPROTO);
}

void test_connect_path(void **state)
{
	(void)state;
	struct vfu_client *c;
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(vfu_connect(longpath, &c), -ENAMETOOLONG);
	assert_int_equal(vfu_connect("/nonexistent/osnap-vfu.sock", &c), -ENOENT);
}

/* ---- information --------------------------------------------------------------- */

void test_device_info(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	assert_int_equal(vfu_get_device_info(e->c, &di), 0);
	assert_int_equal(di.flags, VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI);
	assert_int_equal(di.num_regions, 9);
	assert_int_equal(di.num_irqs, 5);

	struct vfu_irq_info ii;
	assert_int_equal(vfu_get_irq_info(e->c, VFIO_PCI_MSIX_IRQ_INDEX, &ii), 0);
	assert_int_equal(ii.index, VFIO_PCI_MSIX_IRQ_INDEX);
	assert_int_equal(ii.count, 4);
	assert_int_equal(ii.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
	assert_int_equal(vfu_device_reset(e->c), 0);
	assert_int_equal(e->f.n_reset, 1);
}

void test_region_info_sparse(void **state)
{
	struct env *e = *state;
	struct vfu_region_info ri;
	struct vfu_sparse_area a[4];
	int fd = -1;
	assert_int_equal(vfu_get_region_info(e->c, 0, &ri, a, 4, &fd), 0);
	assert_int_equal(ri.index, 0);
	assert_int_equal(ri.size, BAR0_SIZE);
	assert_true(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_true(ri.sparse);
	assert_int_equal(ri.nr_areas, 1);
	assert_int_equal(a[0].offset, 0x1000);
	assert_int_equal(a[0].size, 0x1000);
	struct stat st;
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, BAR0_SIZE);
	close(fd);
	assert_int_equal(e->f.n_region_info, 1);
	/* the request carries argsz bytes (its whole reply buffer) */
	assert_true(e->f.region_info_argsz[0] > 32);
	assert_int_equal(e->f.region_info_plen[0], e->f.region_info_argsz[0]);

	/* Config space: no fd, no caps. */
	assert_int_equal(vfu_get_region_info(e->c, VFIO_PCI_CONFIG_REGION_INDEX, &ri, NULL, 0, &fd), 0);
	assert_int_equal(fd, -1);
	assert_false(ri.sparse);
	assert_int_equal(ri.size, CFG_SIZE);
	/* A bad index gets the server's errno. */
	assert_int_equal(vfu_get_region_info(e->c, 99, &ri, NULL, 0, NULL), -EINVAL);
}

void test_region_info_retry(void **state)
{
	struct env *e = *state;
	struct vfu_region_info ri;
	struct vfu_sparse_area a[4];
	e->f.big_sparse = true;
	assert_int_equal(vfu_get_region_info(e->c, 0, &ri, a, 4, NULL), 0);
	/* the first argsz was too small: asked again with the server's size */
	assert_int_equal(e->f.n_region_info, 2);
	assert_int_equal(e->f.region_info_argsz[1], 32 + 16 + 20 * 16);
	assert_true(e->f.region_info_argsz[0] < e->f.region_info_argsz[1]);
	/* both rounds sent argsz bytes */
	assert_int_equal(e->f.region_info_plen[0], e->f.region_info_argsz[0]);
	assert_int_equal(e->f.region_info_plen[1], e->f.region_info_argsz[1]);
	assert_int_equal(ri.nr_areas, 20);	/* all listed, 4 copied */
	assert_int_equal(a[3].offset, 0x1000);
	assert_int_equal(a[2].offset, 0x3000);
	/* mapping with more areas than the client's first guess */
	void *p;
	assert_int_equal(vfu_map_region(e->c, 0, &p), 0);
	((uint8_t *)p)[0x3004] = 0x77;
	assert_int_equal(e->f.bar[0x3004], 0x77);
}

void test_region_info_bad(void **state)
{
	struct env *e = *state;
	struct vfu_region_info ri;
	int fd = 7777;
	atomic_store(&e->f.mode, FK_BAD_SPARSE);
	assert_int_equal(vfu_get_region_info(e->c, 0, &ri, NULL, 0, &fd), -EPROTO);
	assert_int_equal(fd, -1);
	atomic_store(&e->f.mode, FK_NO_FD);
	assert_int_equal(vfu_get_region_info(e->c, 0, &ri, NULL, 0, &fd), -EPROTO);
	/* content errors leave the client usable */
	assert_int_equal(vfu_sync(e->c), 0);
}

void test_map_region(void **state)
{
	struct env *e = *state;
	void *p, *q;
	assert_int_equal(vfu_map_region(e->c, 0, &p), 0);
	assert_int_equal(vfu_map_region(e->c, 0, &q), 0);
	assert_ptr_equal(p, q);
	/* the sparse area is the server's memory */
	memcpy((uint8_t *)p + 0x1000, "doorbell", 8);
	assert_memory_equal(e->f.bar + 0x1000, "doorbell", 8);
	e->f.bar[0x1ff0] = 0x5a;
	assert_int_equal(((uint8_t *)p)[0x1ff0], 0x5a);
	assert_int_equal(vfu_unmap_region(e->c, 0), 0);
	assert_int_equal(vfu_unmap_region(e->c, 0), -ENOENT);
	/* config space is not mappable */
	assert_int_equal(vfu_map_region(e->c, VFIO_PCI_CONFIG_REGION_INDEX, &p), -EOPNOTSUPP);
	/* left mapped on purpose: vfu_close() must undo it */
	assert_int_equal(vfu_map_region(e->c, 0, &p), 0);
}
