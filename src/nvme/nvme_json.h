/* NVMe objects as JSON, for the RPC views and save_config: kept apart
 * from the controller's interface (nvme.h), which knows nothing of JSON. */
#ifndef OSNAP_NVME_JSON_H
#define OSNAP_NVME_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme.h"

json_t *nvme_subsystem_json(struct nvme_subsystem *s);
json_t *nvme_namespace_json(struct nvme_namespace *ns);
/* Append the namespaces of nqn (all when NULL) matching nsid (all when 0). */
int nvme_namespace_list(const char *nqn, uint32_t nsid, json_t *arr, char *err, size_t errlen);
json_t *nvme_ctrl_json(struct nvme_ctrl *c);
json_t *nvme_ctrl_io_stats_json(struct nvme_ctrl *c);
json_t *nvme_ctrl_debug_stats_json(struct nvme_ctrl *c);
/* save_config writer ("nvme" subsystem) */
void nvme_write_config(json_t *config_array);

#endif
