/* Which transport presents a virtio device: the emulation config's
 * EMU_VIRTIO_BLK_TRANSPORT (vhost-user by default, or virtio-pci over
 * vfio-user). */
#include "emu.h"
#include "virtio_dev.h"

int virtio_transport_attach(struct virtio_dev *d, struct virtio_transport **out, char *err, size_t errlen)
{
	if (emu_get_config()->vblk_transport == EMU_VBLK_VFIO_USER)
		return virtio_pci_attach(d, out, err, errlen);
	return vhu_endpoint_create(d, out, err, errlen);
}
