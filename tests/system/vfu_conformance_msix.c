/* vfu_conformance: MSI-X: triggering, vector and function masks, the pending bits,
 * malformed DEVICE_SET_IRQS. */
#include <sys/eventfd.h>
#include <unistd.h>

#include "vfu_conformance.h"

/* ---- MSI-X ------------------------------------------------------------------- */

void t_msix_trigger(void)
{
	struct irq_bench b;
	bool pend;
	REQUIRE_RC(bench_setup(&b));
	uint16_t last = (uint16_t)(b.n - 1);
	/* vector 0 unmasked fires, and only its eventfd */
	REQUIRE_RC(msix_mask(0, false));
	REQUIRE_RC(msix_trigger(0));
	REQUIRE_MSG(efd_wait(b.efd[0], EVENT_DEADLINE_MS) == 1, "unmasked vector 0 did not fire (once)");
	for (uint16_t i = 1; i < b.n; i++)
		REQUIRE_MSG(efd_wait(b.efd[i], 0) == 0, "vector %u fired when vector 0 was triggered", i);
	/* the last vector too (range end) */
	REQUIRE_RC(msix_mask(last, false));
	REQUIRE_RC(msix_trigger(last));
	REQUIRE_MSG(efd_wait(b.efd[last], EVENT_DEADLINE_MS) == 1, "unmasked vector %u did not fire (once)", last);
	/* the table does not mask: vector 0 with its table mask bit set (as it
	 * is from reset, and as QEMU leaves it: it never writes the table)
	 * fires all the same, and nothing is left pending */
	{
		uint32_t ctl;
		REQUIRE_RC(msix_table_mask(&b.m, 0, true));
		REQUIRE_RC(msix_vec_ctrl(&b.m, 0, &ctl));
		REQUIRE_MSG(ctl & MSIX_VEC_MASKED, "vector control reads 0x%08x after setting the mask bit", ctl);
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_MSG(efd_wait(b.efd[0], EVENT_DEADLINE_MS) == 1,
		            "vector 0, unmasked by SET_IRQS, did not fire because of its table mask bit");
		REQUIRE_RC(msix_pending(&b.m, 0, &pend));
		REQUIRE_MSG(!pend, "vector 0 fired and is pending too");
	}
	/* DATA_BOOL trigger fires the vectors whose bool is 1 */
	if (b.n > 1) {
		uint8_t bools[2] = { 1, 0 };
		REQUIRE_RC(msix_mask(1, false));
		REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
			   VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 2, NULL, bools));
		REQUIRE_MSG(efd_wait(b.efd[0], EVENT_DEADLINE_MS) == 1, "DATA_BOOL trigger of vector 0 did not fire (once)");
		REQUIRE_MSG(efd_wait(b.efd[1], 100) == 0, "DATA_BOOL 0 fired vector 1");
	}
	/* the eventfd of a vector can be replaced */
	{
		int nfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		REQUIRE_MSG(nfd >= 0, "eventfd: %s", strerror(errno));
		int rc = vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
				      VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &nfd, NULL);
		if (rc) {
			close(nfd);
			REQUIRE_RC(rc);
		}
		int old = b.efd[0];
		b.efd[0] = nfd;
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_MSG(efd_wait(b.efd[0], EVENT_DEADLINE_MS) == 1, "vector 0 did not fire on its new eventfd");
		uint64_t stale = efd_wait(old, 0);
		close(old);
		REQUIRE_MSG(stale == 0, "vector 0 fired on its old eventfd");
	}
	/* a vector de-assigned the way QEMU does it (DATA_EVENTFD, count 1, no
	 * fd) stays silent; what was raised meanwhile waits in the PBA and
	 * fires once when the eventfd comes back (QEMU takes fds away and
	 * gives them back while it reconfigures vectors: nothing is lost) */
	{
		pend = false;
		int none = -1;
		REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
				        VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &none, NULL));
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_RC(vfu_sync(C));
		REQUIRE_MSG(efd_wait(b.efd[0], 100) == 0, "vector 0 fired after its eventfd was de-assigned");
		REQUIRE_RC(msix_pending(&b.m, 0, &pend));
		REQUIRE_MSG(pend, "vector 0 raised without an eventfd: PBA bit clear (the interrupt is lost)");
		REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
			   VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &b.efd[0], NULL));
		REQUIRE_MSG(efd_wait(b.efd[0], EVENT_DEADLINE_MS) == 1,
		            "the interrupt raised while vector 0 had no eventfd did not fire once when it came back");
		REQUIRE_RC(msix_pending(&b.m, 0, &pend));
		REQUIRE_MSG(!pend, "vector 0 still pending after its interrupt was delivered");
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_MSG(efd_wait(b.efd[0], EVENT_DEADLINE_MS) == 1, "vector 0 did not fire on its eventfd given back");
	}
	/* with the index disabled (DATA_NONE, count 0) nothing fires */
	REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0,
			        0, NULL, NULL));
	REQUIRE_RC(msix_trigger(0));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[0], 100) == 0, "vector 0 fired after its eventfd was de-assigned");
out:
	bench_free(&b);
}

/* Per-vector masking over vfio-user is SET_IRQS ACTION_MASK/UNMASK (MSI-X
 * is reported MASKABLE): a masked vector latches its PBA bit and fires once
 * on unmask. The table's mask bit neither masks nor unmasks. */
void t_msix_vector_mask(void)
{
	struct irq_bench b;
	bool pend;
	REQUIRE_RC(bench_setup(&b));
	uint16_t v = b.n > 1 ? 1 : 0;
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(!pend, "vector %u pending before any trigger", v);
	/* masked: latches its PBA bit, does not fire */
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "masked vector %u fired", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(pend, "masked vector %u was triggered but its PBA bit is clear", v);
	/* the PBA is read-only */
	{
		uint64_t zero = 0;
		REQUIRE_RC(vfu_region_write(C, b.m.pba_bir, b.m.pba_off + (uint64_t)(v / 64) * 8, &zero, 8, false));
		REQUIRE_RC(msix_pending(&b.m, v, &pend));
		REQUIRE_MSG(pend, "a write of 0 to the PBA cleared vector %u's pending bit", v);
	}
	/* clearing the table's mask bit does not unmask it */
	REQUIRE_RC(msix_table_mask(&b.m, v, false));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired when its table mask bit was cleared", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(pend, "vector %u lost its pending bit when its table mask bit was cleared", v);
	/* a second trigger while masked: still one pending interrupt */
	REQUIRE_RC(msix_trigger(v));
	/* unmask (table mask bit set again, which does not matter): fires
	 * exactly once and clears the bit */
	REQUIRE_RC(msix_table_mask(&b.m, v, true));
	REQUIRE_RC(msix_mask(v, false));
	REQUIRE_MSG(efd_wait(b.efd[v], EVENT_DEADLINE_MS) == 1, "vector %u did not fire exactly once on unmask", v);
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired again after its delivery", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(!pend, "vector %u still pending after delivery", v);
	/* mask and unmask again: no stale delivery */
	REQUIRE_RC(msix_mask(v, true));
	REQUIRE_RC(msix_mask(v, false));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired again without a trigger", v);
	/* unmasked, it fires at once */
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_MSG(efd_wait(b.efd[v], EVENT_DEADLINE_MS) == 1, "unmasked vector %u did not fire", v);
	/* DATA_BOOL: only the vectors whose bool is 1 change */
	if (b.n > 1) {
		uint8_t bools[2] = { 0, 1 };
		REQUIRE_RC(msix_mask(0, false));
		REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK,
				        0, 2, NULL, bools));
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_RC(msix_trigger(1));
		REQUIRE_MSG(efd_wait(b.efd[0], EVENT_DEADLINE_MS) == 1, "vector 0 (bool 0: left unmasked) did not fire");
		REQUIRE_RC(vfu_sync(C));
		REQUIRE_MSG(efd_wait(b.efd[1], 100) == 0, "vector 1 masked with DATA_BOOL fired");
		REQUIRE_RC(msix_pending(&b.m, 1, &pend));
		REQUIRE_MSG(pend, "vector 1 masked with DATA_BOOL did not latch");
		REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
			   VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_UNMASK, 0, 2, NULL, bools));
		REQUIRE_MSG(efd_wait(b.efd[1], EVENT_DEADLINE_MS) == 1, "vector 1 unmasked with DATA_BOOL did not fire once");
	}
	/* Vector Control: only the mask bit is writable (storage) */
	{
		uint32_t ctl;
		uint32_t le = htole32(0xfffffffeu);
		REQUIRE_RC(vfu_region_write(C, b.m.table_bir,
				            b.m.table_off + (uint64_t)v * MSIX_ENTRY + MSIX_VEC_CTRL, &le, 4, false));
		REQUIRE_RC(msix_vec_ctrl(&b.m, v, &ctl));
		REQUIRE_MSG(ctl == 0, "vector control reads 0x%08x after writing 0xfffffffe", ctl);
	}
out:
	bench_free(&b);
}

/* Config space masks too: the Function Mask holds every vector (latching),
 * MSI-X Enable off sends and latches nothing. */
void t_msix_function_mask(void)
{
	struct irq_bench b;
	bool pend;
	REQUIRE_RC(bench_setup(&b));
	uint16_t v = 0;
	REQUIRE_RC(msix_mask(v, false));
	REQUIRE_RC(msix_ctrl_set(&b.m, true, true));
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired under the function mask", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(pend, "vector %u triggered under the function mask but its PBA bit is clear", v);
	REQUIRE_RC(msix_ctrl_set(&b.m, true, false));
	REQUIRE_MSG(efd_wait(b.efd[v], EVENT_DEADLINE_MS) == 1, "vector %u did not fire (once) when the function mask cleared",
	            v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(!pend, "vector %u still pending after delivery", v);
	/* masked twice over (function and SET_IRQS): clearing one is not enough */
	REQUIRE_RC(msix_mask(v, true));
	REQUIRE_RC(msix_ctrl_set(&b.m, true, true));
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_RC(msix_ctrl_set(&b.m, true, false));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired while still masked by SET_IRQS", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(pend, "vector %u masked twice over did not latch", v);
	REQUIRE_RC(msix_mask(v, false));
	REQUIRE_MSG(efd_wait(b.efd[v], EVENT_DEADLINE_MS) == 1, "vector %u did not fire (once) when both masks were gone", v);
	/* MSI-X disabled: nothing fires and nothing latches, so nothing comes
	 * when it is enabled again */
	REQUIRE_RC(msix_ctrl_set(&b.m, false, false));
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired with MSI-X disabled", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(!pend, "vector %u latched a trigger with MSI-X disabled", v);
	REQUIRE_RC(msix_ctrl_set(&b.m, true, false));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired when MSI-X was enabled again", v);
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_MSG(efd_wait(b.efd[v], EVENT_DEADLINE_MS) == 1, "vector %u did not fire with MSI-X enabled again", v);
out:
	bench_free(&b);
}

struct irq_set_raw {
	struct vfu_msg_irq_set s;
	uint8_t data[8];
} __attribute__((packed));

void t_set_irqs_bad(void)
{
	int efd[2] = { -1, -1 };
	struct msix_layout m;
	REQUIRE_RC(msix_layout(&m));
	uint32_t n = m.n, msix = VFIO_PCI_MSIX_IRQ_INDEX;
	REQUIRE_ERR(vfu_set_irqs(C, msix, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL |
			         VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL, NULL), "two DATA flags");
	REQUIRE_ERR(vfu_set_irqs(C, msix, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK |
			         VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL, NULL), "two ACTION flags");
	REQUIRE_ERR(vfu_set_irqs(C, msix, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, n - 1, 2, NULL,
			         NULL), "start + count beyond the vectors");
	REQUIRE_ERR(vfu_set_irqs(C, msix, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, n, 1, NULL, NULL),
	            "start at the vector count");
	REQUIRE_ERR(vfu_set_irqs(C, msix, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0xffffffffu, 2,
			         NULL, NULL), "start + count wrapping");
	REQUIRE_ERR(vfu_set_irqs(C, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0,
			         1, NULL, NULL), "MSI index with count 1");
	REQUIRE_ERR(vfu_set_irqs(C, NUM_IRQS, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL,
			         NULL), "IRQ index 5");
	/* bools shorter than count */
	{
		struct irq_set_raw r = {
			.s = { .argsz = sizeof(struct vfu_msg_irq_set) + 1,
			       .flags = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
			       .index = msix, .start = 0, .count = 2 },
			.data = { 1 },
		};
		REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_SET_IRQS, &r, sizeof(r.s) + 1, NULL, 0,
				         "one bool for count 2") == 0, "DATA_BOOL shorter than count accepted");
	}
	/* fewer eventfds than count */
	if (n >= 2) {
		efd[0] = eventfd(0, EFD_CLOEXEC);
		REQUIRE_MSG(efd[0] >= 0, "eventfd: %s", strerror(errno));
		struct vfu_msg_irq_set s = {
			.argsz = sizeof(s), .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = msix, .start = 0, .count = 2,
		};
		REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_SET_IRQS, &s, sizeof(s), efd, 1,
			    "1 eventfd for count 2") == 0, "DATA_EVENTFD with fewer fds than count accepted");
	}
	/* argsz that does not match the message */
	{
		struct vfu_msg_irq_set s = {
			.argsz = sizeof(s) + 4, .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = msix, .start = 0, .count = 1,
		};
		REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_SET_IRQS, &s, sizeof(s), NULL, 0, "argsz too large") == 0,
		            "SET_IRQS with a wrong argsz accepted");
	}
	REQUIRE_RC(vfu_sync(C));
out:
	for (int i = 0; i < 2; i++)
		if (efd[i] >= 0)
			close(efd[i]);
}
