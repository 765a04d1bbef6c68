/* libFuzzer target: the emulation config file parser (osnapd -c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emu/emu_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct emu_config cfg;
	char err[512];
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	emu_config_defaults(&cfg);
	if (emu_config_parse(&cfg, "fuzz.conf", text, err, sizeof(err)) == 0) {
		/* whatever was accepted stays inside the documented ranges */
		if (cfg.nvme_num_pf > 2 || cfg.vblk_num_pf > 4 || cfg.nvme_num_vf > 256 ||
		    cfg.vblk_num_vf > 2000 || cfg.nvme_max_queue_depth > 12 || cfg.nvme_num_msix > 63 ||
		    cfg.socket_mode > 0777 || strlen(cfg.serial) != 12 ||
		    ((cfg.nvme_num_vf || cfg.vblk_num_vf) && !cfg.sriov_en))
			abort();
	}
	free(text);
	return 0;
}
