/* virtio-blk controllers as JSON, for the RPC views and save_config: kept
 * apart from the controller's interface (vblk.h). */
#ifndef OSNAP_VBLK_JSON_H
#define OSNAP_VBLK_JSON_H

#include <jansson.h>

#include "vblk.h"

json_t *vblk_ctrl_json(struct vblk_ctrl *c);
json_t *vblk_ctrl_io_stats_json(struct vblk_ctrl *c);
json_t *vblk_ctrl_debug_stats_json(struct vblk_ctrl *c);
void vblk_write_config(json_t *cfg);

#endif
