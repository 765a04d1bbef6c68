/* SNAP global parameters. See params.h. */
#include "params.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

enum ptype { PT_INT, PT_BOOL, PT_STR };

struct param_def {
	const char *name;
	enum ptype type;
	int64_t def, min, max;
	const char *sdef;
	const char *const *choices;	/* PT_STR: allowed values, NULL = any */
};

static const char *const providers[] = { "dpu", "dpa", "sw", NULL };
static const char *const policies[] = { "none", "weighted_rr", NULL };

static const struct param_def defs[P_NUM] = {
	[P_SNAP_ENABLE_POLL_SKIP] = { "SNAP_ENABLE_POLL_SKIP", PT_BOOL, 0, 0, 1, NULL, NULL },
	[P_SNAP_POLL_CYCLE_SIZE] = { "SNAP_POLL_CYCLE_SIZE", PT_INT, 16, 1, 1024, NULL, NULL },
	[P_SNAP_RPC_LOG_ENABLE] = { "SNAP_RPC_LOG_ENABLE", PT_BOOL, 1, 0, 1, NULL, NULL },
	[P_SNAP_MEMPOOL_SIZE_MB] = { "SNAP_MEMPOOL_SIZE_MB", PT_INT, 1024, 64, 65536, NULL, NULL },
	[P_SNAP_MEMPOOL_4K_BUFFS_PER_CORE] = { "SNAP_MEMPOOL_4K_BUFFS_PER_CORE", PT_INT, 1024, 0, 1 << 20, NULL, NULL },
	[P_SNAP_RDMA_ZCOPY_ENABLE] = { "SNAP_RDMA_ZCOPY_ENABLE", PT_BOOL, 1, 0, 1, NULL, NULL },
	[P_SNAP_TCP_XLIO_ENABLE] = { "SNAP_TCP_XLIO_ENABLE", PT_BOOL, 1, 0, 1, NULL, NULL },
	[P_SNAP_TCP_XLIO_TX_ZCOPY] = { "SNAP_TCP_XLIO_TX_ZCOPY", PT_BOOL, 1, 0, 1, NULL, NULL },
	[P_MLX5_SHUT_UP_BF] = { "MLX5_SHUT_UP_BF", PT_BOOL, 0, 0, 1, NULL, NULL },
	[P_SNAP_SHARED_RX_CQ] = { "SNAP_SHARED_RX_CQ", PT_BOOL, 1, 0, 1, NULL, NULL },
	[P_SNAP_SHARED_TX_CQ] = { "SNAP_SHARED_TX_CQ", PT_BOOL, 1, 0, 1, NULL, NULL },
	[P_NVME_BDEV_RESET_ENABLE] = { "NVME_BDEV_RESET_ENABLE", PT_BOOL, 1, 0, 1, NULL, NULL },
	[P_VBLK_RECOVERY_SHM] = { "VBLK_RECOVERY_SHM", PT_BOOL, 1, 0, 1, NULL, NULL },
	[P_SNAP_EMULATION_MANAGER] = { "SNAP_EMULATION_MANAGER", PT_STR, 0, 0, 0, "", NULL },
	[P_VIRTIO_EMU_PROVIDER] = { "VIRTIO_EMU_PROVIDER", PT_STR, 0, 0, 0, "dpu", providers },
	[P_NVME_EMU_PROVIDER] = { "NVME_EMU_PROVIDER", PT_STR, 0, 0, 0, "dpu", providers },
	[P_IO_CORE_DISTRIBUTION_POLICY] = { "IO_CORE_DISTRIBUTION_POLICY", PT_STR, 0, 0, 0, "none", policies },
	[P_SNAP_LOG_FILE] = { "SNAP_LOG_FILE", PT_STR, 0, 0, 0, "", NULL },
};

static struct {
	bool set;
	int64_t ival;
	char sval[256];
} vals[P_NUM];

static int parse_one(const struct param_def *d, const char *v, int idx, char *err, size_t errlen)
{
	if (d->type == PT_STR) {
		if (strlen(v) >= sizeof(vals[idx].sval)) {
			snprintf(err, errlen, "environment variable %s: value too long", d->name);
			return -EINVAL;
		}
		if (d->choices) {
			bool ok = false;
			for (const char *const *c = d->choices; *c; c++)
				ok |= !strcmp(*c, v);
			if (!ok) {
				snprintf(err, errlen, "environment variable %s: invalid value '%s'", d->name, v);
				return -EINVAL;
			}
		}
		snprintf(vals[idx].sval, sizeof(vals[idx].sval), "%s", v);
		return 0;
	}
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 0);
	if (!*v || *end || errno) {
		snprintf(err, errlen, "environment variable %s: '%s' is not a number", d->name, v);
		return -EINVAL;
	}
	if (n < d->min || n > d->max) {
		snprintf(err, errlen, "environment variable %s: %lld is out of range (%" PRId64 "..%" PRId64 ")",
			 d->name, n, d->min, d->max);
		return -EINVAL;
	}
	vals[idx].ival = n;
	return 0;
}

int params_load(char **env, char *err, size_t errlen)
{
	if (!env)
		env = environ;
	for (int i = 0; i < P_NUM; i++) {
		vals[i].set = false;
		vals[i].ival = defs[i].def;
		snprintf(vals[i].sval, sizeof(vals[i].sval), "%s", defs[i].sdef ? defs[i].sdef : "");
	}
	for (char **e = env; *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		size_t nlen = (size_t)(eq - *e);
		int found = -1;
		for (int i = 0; i < P_NUM; i++)
			if (strlen(defs[i].name) == nlen && !strncmp(defs[i].name, *e, nlen))
				found = i;
		if (found < 0) {
			if (!strncmp(*e, "SNAP_", 5) && strncmp(*e, "SNAP_LD_PRELOAD=", 16))
				log_warn("unknown parameter %.*s ignored", (int)nlen, *e);
			continue;
		}
		int rc = parse_one(&defs[found], eq + 1, found, err, errlen);
		if (rc)
			return rc;
		vals[found].set = true;
	}
	return 0;
}

int64_t param_int(enum param_id id)
{
	return vals[id].ival;
}

const char *param_str(enum param_id id)
{
	return vals[id].sval;
}

bool param_is_set(enum param_id id)
{
	return vals[id].set;
}

size_t param_count(void)
{
	return P_NUM;
}

void param_format(size_t i, char *buf, size_t len)
{
	const struct param_def *d = &defs[i];
	if (d->type == PT_STR)
		snprintf(buf, len, "%s : %s : %s", d->name, vals[i].set ? "set" : "not set", vals[i].sval);
	else
		snprintf(buf, len, "%s : %s : %" PRId64, d->name, vals[i].set ? "set" : "not set",
			 vals[i].ival);
}
