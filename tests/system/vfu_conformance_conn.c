/* vfu_conformance: resets (FLR, DEVICE_RESET) and connections: unknown commands, a
 * second client, a reconnection finds fresh state. */
#include <unistd.h>

#include "vfu_conformance.h"

void t_flr(void)
{
	struct msix_layout m;
	uint16_t ctl, devctl;
	REQUIRE_RC(msix_layout(&m));
	int exp = vfu_cfg_find_cap(C, CAP_EXP);
	REQUIRE_RC(exp);
	REQUIRE_RC(msix_ctrl_set(&m, true, false));
	REQUIRE_RC(msix_table_mask(&m, 0, false));
	REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)exp + EXP_DEVCTL, &devctl));
	REQUIRE_RC(vfu_cfg_write16(C, (uint32_t)exp + EXP_DEVCTL, devctl | EXP_DEVCTL_FLR));
	REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)exp + EXP_DEVCTL, &devctl));
	REQUIRE_MSG(!(devctl & EXP_DEVCTL_FLR), "Initiate FLR reads 1 (DevCtl 0x%04x)", devctl);
	REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)m.cap + MSIX_CTRL, &ctl));
	REQUIRE_MSG(!(ctl & MSIX_CTRL_ENABLE), "MSI-X still enabled after FLR (0x%04x)", ctl);
	uint32_t vc;
	REQUIRE_RC(msix_vec_ctrl(&m, 0, &vc));
	REQUIRE_MSG(vc & MSIX_VEC_MASKED, "vector 0's table mask bit not back to its reset value after FLR");
out:;
}

void t_device_reset(void)
{
	struct msix_layout m;
	uint16_t ctl, cmd;
	REQUIRE_RC(msix_layout(&m));
	REQUIRE_RC(msix_ctrl_set(&m, true, false));
	REQUIRE_RC(msix_table_mask(&m, 0, false));
	REQUIRE_RC(vfu_cfg_read16(C, PCI_COMMAND, &cmd));
	REQUIRE_RC(vfu_cfg_write16(C, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY));
	REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)m.cap + MSIX_CTRL, &ctl));
	REQUIRE_MSG(ctl & MSIX_CTRL_ENABLE, "MSI-X Enable does not stick (0x%04x)", ctl);
	REQUIRE_RC(vfu_device_reset(C));
	REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)m.cap + MSIX_CTRL, &ctl));
	REQUIRE_MSG(!(ctl & MSIX_CTRL_ENABLE), "MSI-X still enabled after DEVICE_RESET (0x%04x)", ctl);
	uint32_t vc;
	REQUIRE_RC(msix_vec_ctrl(&m, 0, &vc));
	REQUIRE_MSG(vc & MSIX_VEC_MASKED, "vector 0's table mask bit not back to its reset value after DEVICE_RESET");
	REQUIRE_RC(vfu_cfg_read16(C, PCI_COMMAND, &cmd));
	REQUIRE_MSG(!(cmd & PCI_COMMAND_MEMORY), "Memory Space still enabled after DEVICE_RESET (0x%04x)", cmd);
	/* a payload is not expected */
	uint32_t junk = 0;
	REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_RESET, &junk, sizeof(junk), NULL, 0, "reset with payload") == 0,
	            "DEVICE_RESET with a payload accepted");
	REQUIRE_RC(vfu_sync(C));
out:;
}

void t_unknown_command(void)
{
	uint32_t junk[4] = { 0 };
	REQUIRE_MSG(expect_error(C, 99, junk, sizeof(junk), NULL, 0, "command 99") == 0,
	            "unknown command 99 not refused");
	REQUIRE_MSG(expect_error(C, 0, NULL, 0, NULL, 0, "command 0") == 0, "command 0 not refused");
	REQUIRE_MSG(expect_error(C, VFU_CMD_DMA_READ, junk, sizeof(junk), NULL, 0, "DMA_READ from the client") == 0,
	            "DMA_READ sent to the server not refused");
	REQUIRE_RC(vfu_sync(C));
	/* an unknown command with the no-reply flag gets no reply */
	REQUIRE_RC(raw_cmd(C, vfu_next_msg_id(C), 99, VFU_F_TYPE_COMMAND | VFU_F_NO_REPLY, junk, sizeof(junk), NULL,
		           0));
	REQUIRE_RC(vfu_sync(C));
out:;
}

void t_second_client(void)
{
	struct vfu_client *c2 = NULL;
	int rc = vfu_connect(opt.sock, &c2);
	REQUIRE_MSG(rc == -ECONNRESET, "a second client while one is connected: %d (%s), want ECONNRESET", rc,
	            rc ? strerror(-rc) : "connected");
	REQUIRE_RC(vfu_sync(C));
	struct vfu_device_info info;
	REQUIRE_RC(vfu_get_device_info(C, &info));
out:
	vfu_close(c2);
}

void t_reconnect_fresh(void)
{
	struct host_mem *m = NULL;
	struct irq_bench b = { .efd = NULL };
	REQUIRE_RC(host_mem_create(MIB, &m));
	REQUIRE_RC(vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW));
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x10000, -1, 0, VFU_PROT_READ));
	REQUIRE_RC(bench_setup(&b));
	REQUIRE_RC(msix_mask(0, false));
	/* keep vector 0's eventfd; the server holds its own copies of all */
	int old0 = b.efd[0];
	for (uint16_t i = 1; i < b.n; i++)
		close(b.efd[i]);
	free(b.efd);
	b.efd = NULL;
	main_close();
	/* a new client at once */
	int rc = vfu_connect(opt.sock, &C);
	if (rc) {
		C = NULL;
		close(old0);
		REQUIRE_MSG(rc == 0, "reconnect right after a disconnect: %s", strerror(-rc));
	}
	rc = vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW);
	if (!rc)
		rc = vfu_dma_map(C, IOVA_B, 0x10000, -1, 0, VFU_PROT_READ);
	if (rc) {
		close(old0);
		REQUIRE_MSG(rc == 0, "the previous client's DMA maps survived: map of the same ranges: %s",
		            strerror(-rc));
	}
	/* nor do its eventfds: MSI-X may still be enabled, but vector 0 has none */
	rc = msix_trigger(0);
	if (!rc)
		rc = vfu_sync(C);
	uint64_t fired = efd_wait(old0, 100);
	close(old0);
	REQUIRE_RC(rc);
	REQUIRE_MSG(fired == 0, "the previous client's eventfd fired for the new client");
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A, MIB));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x10000));
out:
	host_mem_destroy(m);
}
