/* The emulation config file. See emu_config.h. */
#include "emu_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_BOOL, K_U32, K_STR, K_MODE, K_SERIAL, K_TRANSPORT, K_DOORBELLS };

struct key {
	const char *name;
	enum kind kind;
	size_t off;
	uint32_t min, max;
	size_t strcap;
};

#define F(field) offsetof(struct emu_config, field)
static const struct key keys[] = {
	{ "SRIOV_EN", K_BOOL, F(sriov_en), 0, 1, 0 },
	{ "PCI_SWITCH_EMULATION_ENABLE", K_BOOL, F(pci_switch_enable), 0, 1, 0 },
	{ "PCI_SWITCH_EMULATION_NUM_PORT", K_U32, F(pci_switch_num_port), 0, 32, 0 },
	{ "NVME_EMULATION_ENABLE", K_BOOL, F(nvme_enable), 0, 1, 0 },
	{ "NVME_EMULATION_NUM_PF", K_U32, F(nvme_num_pf), 0, 2, 0 },
	{ "NVME_EMULATION_NUM_VF", K_U32, F(nvme_num_vf), 0, 256, 0 },
	{ "NVME_EMULATION_NUM_MSIX", K_U32, F(nvme_num_msix), 0, 63, 0 },
	{ "NVME_EMULATION_NUM_VF_MSIX", K_U32, F(nvme_num_vf_msix), 0, 4095, 0 },
	{ "NVME_EMULATION_MAX_QUEUE_DEPTH", K_U32, F(nvme_max_queue_depth), 0, 12, 0 },
	{ "VIRTIO_BLK_EMULATION_ENABLE", K_BOOL, F(vblk_enable), 0, 1, 0 },
	{ "VIRTIO_BLK_EMULATION_NUM_PF", K_U32, F(vblk_num_pf), 0, 4, 0 },
	{ "VIRTIO_BLK_EMULATION_NUM_VF", K_U32, F(vblk_num_vf), 0, 2000, 0 },
	{ "VIRTIO_BLK_EMULATION_NUM_MSIX", K_U32, F(vblk_num_msix), 0, 63, 0 },
	{ "VIRTIO_BLK_EMULATION_NUM_VF_MSIX", K_U32, F(vblk_num_vf_msix), 0, 4095, 0 },
	{ "EMU_DIR", K_STR, F(dir), 0, 0, sizeof(((struct emu_config *)0)->dir) },
	{ "EMU_SERIAL", K_SERIAL, F(serial), 0, 0, 0 },
	{ "EMU_MSIX_POOL", K_U32, F(msix_pool), 0, 1u << 20, 0 },
	{ "EMU_QUEUE_POOL", K_U32, F(queue_pool), 0, 1u << 20, 0 },
	{ "EMU_SOCKET_GROUP", K_STR, F(socket_group), 0, 0, sizeof(((struct emu_config *)0)->socket_group) },
	{ "EMU_SOCKET_MODE", K_MODE, F(socket_mode), 0, 0777, 0 },
	{ "EMU_VIRTIO_BLK_TRANSPORT", K_TRANSPORT, F(vblk_transport), 0, 0, 0 },
	{ "EMU_NVME_DOORBELLS", K_DOORBELLS, F(nvme_doorbells), 0, 0, 0 },
	{ "EMU_NVME_DOZE_MAX_US", K_U32, F(nvme_doze_max_us), 16, 1000000, 0 },
	{ "EMU_HOTPLUG_QMP_SOCKET", K_STR, F(hotplug_qmp), 0, 0, sizeof(((struct emu_config *)0)->hotplug_qmp) },
	{ "EMU_HOTPLUG_TIMEOUT_MS", K_U32, F(hotplug_timeout_ms), 100, 600000, 0 },
};
#undef F

/* 12 characters from /etc/machine-id, stable for this machine. */
static void default_serial(char out[13])
{
	char id[64] = "";
	FILE *f = fopen("/etc/machine-id", "r");
	if (f) {
		if (!fgets(id, sizeof(id), f))
			id[0] = '\0';
		fclose(f);
	}
	size_t n = 0;
	out[n++] = 'O';
	out[n++] = 'S';
	for (size_t i = 0; id[i] && n < 12; i++)
		if (isxdigit((unsigned char)id[i]))
			out[n++] = (char)toupper((unsigned char)id[i]);
	while (n < 12)
		out[n++] = '0';
	out[12] = '\0';
}

void emu_config_defaults(struct emu_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nvme_enable = true;
	cfg->nvme_num_pf = 1;
	cfg->nvme_num_msix = 32;
	cfg->nvme_num_vf_msix = 4;
	cfg->vblk_enable = true;
	cfg->vblk_num_pf = 1;
	cfg->vblk_num_msix = 32;
	cfg->vblk_num_vf_msix = 4;
	snprintf(cfg->dir, sizeof(cfg->dir), "/var/run/osnap");
	default_serial(cfg->serial);
	cfg->msix_pool = 16384;
	cfg->queue_pool = 32768;
	cfg->socket_mode = 0600;
	cfg->vblk_transport = EMU_VBLK_VHOST_USER;
	cfg->nvme_doorbells = EMU_DB_ADAPTIVE;
	cfg->nvme_doze_max_us = 4000;
	cfg->hotplug_timeout_ms = 30000;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int set_value(struct emu_config *cfg, const struct key *k, const char *v, char *msg, size_t len)
{
	char *end;
	unsigned long n;
	void *field = (char *)cfg + k->off;

	switch (k->kind) {
	case K_BOOL:
	case K_U32:
	case K_MODE:
		errno = 0;
		n = strtoul(v, &end, k->kind == K_MODE ? 8 : 0);
		if (!*v || *end || errno || v[0] == '-') {
			snprintf(msg, len, "%s: '%s' is not a%s number", k->name, v,
				 k->kind == K_MODE ? "n octal" : "");
			return -EINVAL;
		}
		if (n < k->min || n > k->max) {
			snprintf(msg, len, "%s: %lu is out of range [%u-%u]", k->name, n, k->min, k->max);
			return -EINVAL;
		}
		if (k->kind == K_BOOL)
			*(bool *)field = n != 0;
		else
			*(uint32_t *)field = (uint32_t)n;
		return 0;
	case K_STR:
		if (strlen(v) >= k->strcap || !*v) {
			snprintf(msg, len, "%s: value must be 1..%zu characters", k->name, k->strcap - 1);
			return -EINVAL;
		}
		snprintf(field, k->strcap, "%s", v);
		return 0;
	case K_SERIAL:
		if (strlen(v) != 12) {
			snprintf(msg, len, "EMU_SERIAL: must be exactly 12 characters (got %zu)", strlen(v));
			return -EINVAL;
		}
		for (const char *p = v; *p; p++) {
			if (!isupper((unsigned char)*p) && !isdigit((unsigned char)*p)) {
				snprintf(msg, len, "EMU_SERIAL: only A-Z and 0-9 are allowed");
				return -EINVAL;
			}
		}
		snprintf(cfg->serial, sizeof(cfg->serial), "%s", v);
		return 0;
	case K_TRANSPORT:
		if (!strcmp(v, "vhost-user"))
			cfg->vblk_transport = EMU_VBLK_VHOST_USER;
		else if (!strcmp(v, "vfio-user"))
			cfg->vblk_transport = EMU_VBLK_VFIO_USER;
		else {
			snprintf(msg, len, "%s: must be vhost-user or vfio-user", k->name);
			return -EINVAL;
		}
		return 0;
	case K_DOORBELLS:
		if (!strcmp(v, "trap"))
			cfg->nvme_doorbells = EMU_DB_TRAP;
		else if (!strcmp(v, "mmap"))
			cfg->nvme_doorbells = EMU_DB_MMAP;
		else if (!strcmp(v, "adaptive"))
			cfg->nvme_doorbells = EMU_DB_ADAPTIVE;
		else {
			snprintf(msg, len, "%s: must be trap, mmap or adaptive", k->name);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

int emu_config_parse(struct emu_config *cfg, const char *name, const char *text,
		     char *err, size_t errlen)
{
	char *copy = strdup(text), *save = NULL, msg[256];
	int lineno = 0, rc = 0;
	int line_of[sizeof(keys) / sizeof(keys[0])] = { 0 };

	if (!copy)
		return -ENOMEM;
	/* strtok_r would merge empty lines and break the numbering */
	for (char *line = copy; line; line = save) {
		save = strchr(line, '\n');
		if (save)
			*save++ = '\0';
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *l = trim(line);
		if (!*l)
			continue;
		char *eq = strchr(l, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected NAME=VALUE", name, lineno);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		char *k = trim(l), *v = trim(eq + 1);
		size_t i;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(keys[i].name, k))
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			snprintf(err, errlen, "%s:%d: unknown parameter %s", name, lineno, k);
			rc = -EINVAL;
			break;
		}
		if (set_value(cfg, &keys[i], v, msg, sizeof(msg))) {
			snprintf(err, errlen, "%s:%d: %s", name, lineno, msg);
			rc = -EINVAL;
			break;
		}
		line_of[i] = lineno;
	}
	free(copy);
	if (rc)
		return rc;
	/* cross-field rules of the firmware parameters */
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *kn = keys[i].name;
		if (!line_of[i])
			continue;
		if (!cfg->sriov_en && ((!strcmp(kn, "NVME_EMULATION_NUM_VF") && cfg->nvme_num_vf) ||
				       (!strcmp(kn, "VIRTIO_BLK_EMULATION_NUM_VF") && cfg->vblk_num_vf))) {
			snprintf(err, errlen, "%s:%d: %s is valid only with SRIOV_EN=1", name, line_of[i], kn);
			return -EINVAL;
		}
		if (!strcmp(kn, "PCI_SWITCH_EMULATION_NUM_PORT") && cfg->pci_switch_num_port == 1) {
			snprintf(err, errlen, "%s:%d: PCI_SWITCH_EMULATION_NUM_PORT must be 0 or 2-32", name,
				 line_of[i]);
			return -EINVAL;
		}
	}
	return 0;
}

int emu_config_load(struct emu_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(text);
		text = strdup("");
	}
	int rc = emu_config_parse(cfg, path, text ? text : "", err, errlen);
	free(text);
	return rc;
}

uint32_t emu_config_nvme_max_queue_entries(const struct emu_config *cfg)
{
	return cfg->nvme_max_queue_depth ? 1u << cfg->nvme_max_queue_depth : 64;
}

uint32_t emu_config_pf_msix(const struct emu_config *cfg, int type)
{
	uint32_t v = type == 0 ? cfg->nvme_num_msix : cfg->vblk_num_msix;
	return v ? v : 32;
}

uint32_t emu_config_vf_msix(const struct emu_config *cfg, int type)
{
	uint32_t v = type == 0 ? cfg->nvme_num_vf_msix : cfg->vblk_num_vf_msix;
	return v ? v : 4;
}
