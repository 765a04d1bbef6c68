/* PCI setup of the host NVMe driver (nvme_host_pci.c), used by nvme_host.c
 * while opening and closing a handle. Not for users of the driver. */
#ifndef OSNAP_HOST_NVME_HOST_PCI_H
#define OSNAP_HOST_NVME_HOST_PCI_H

#include <stdint.h>

struct nvme_host;

/* Set Memory Space, Bus Master and INTx Disable in the PCI command register.
 * 0 or a vfio-user error. */
int nvme_host_pci_enable(struct nvme_host *h);

/* Read BAR0's region info (size); -EPROTO when it cannot hold the admin
 * doorbells. */
int nvme_host_bar0_probe(struct nvme_host *h);

/* Decide how doorbells are written for queues 0..max_qid (needs h->dstrd):
 * map BAR0 when the options allow it and a sparse area (or the whole
 * mappable region) covers the doorbells, else leave them trapped. 0, or
 * -EOPNOTSUPP / a mapping error when NVME_HOST_DB_MMAP was required. */
int nvme_host_doorbells_setup(struct nvme_host *h, uint16_t max_qid);

/* Enable MSI-X with up to want vectors (bounded by the capability's table
 * size and the IRQ info count) as QEMU's vfio-pci does (vfu_msix_enable()):
 * eventfds into h->efds/h->nvec, given to the server with SET_IRQS
 * (DATA_EVENTFD | ACTION_TRIGGER), MSI-X Enable set and Function Mask
 * cleared in config space; the MSI-X table is never written. 0 or a
 * negative errno (nothing left enabled then); -ENOENT without an MSI-X
 * capability. */
int nvme_host_msix_setup(struct nvme_host *h, uint16_t want);

/* Take the eventfds back from the server (SET_IRQS count 0), disable
 * MSI-X in config space, close the fds. */
void nvme_host_msix_teardown(struct nvme_host *h);

/* Close and forget the eventfds only. */
void nvme_host_msix_close_fds(struct nvme_host *h);

#endif
