/* save_config, --json loading and init-file replay. */
#include "service.h"
#include "bdev/bdev.h"
#include "cli/cli.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "rpc/rpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUBSYSTEMS 16

static struct {
	const char *name;
	config_writer_fn fn;
} g_subsys[MAX_SUBSYSTEMS];
static int g_nsubsys;

void config_register_subsystem(const char *name, config_writer_fn fn)
{
	if (g_nsubsys < MAX_SUBSYSTEMS) {
		g_subsys[g_nsubsys].name = name;
		g_subsys[g_nsubsys].fn = fn;
		g_nsubsys++;
	}
}

json_t *config_save(void)
{
	json_t *subs = json_array();
	json_t *cfg = json_array();
	/* the block devices come first: everything else refers to them */
	bdev_write_config_all(cfg);
	json_array_append_new(subs, json_pack("{s:s, s:o}", "subsystem", "bdev", "config", cfg));
	for (int i = 0; i < g_nsubsys; i++) {
		cfg = json_array();
		g_subsys[i].fn(cfg);
		json_array_append_new(subs, json_pack("{s:s, s:o}", "subsystem", g_subsys[i].name,
						      "config", cfg));
	}
	return json_pack("{s:o}", "subsystems", subs);
}

int config_call(const char *method, json_t *params, char *err, size_t errlen)
{
	struct rpc_local_result res;
	rpc_call_local(method, params, &res);
	while (!res.done)
		loop_run_once(100);
	if (res.code) {
		snprintf(err, errlen, "%s", res.message);
		return res.code;
	}
	json_decref(res.result);
	return 0;
}

int config_replay_init_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, msg[512];
	size_t cap = 0;
	int lineno = 0, rc = 0;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	while (getline(&line, &cap, f) >= 0) {
		int argc;
		char **argv;
		const char *method;
		json_t *params = NULL;

		lineno++;
		if (cli_split_line(line, &argc, &argv)) {
			snprintf(err, errlen, "%s:%d: unbalanced quotes", path, lineno);
			rc = -EINVAL;
			break;
		}
		if (argc == 0) {
			cli_free_argv(argc, argv);
			continue;
		}
		rc = cli_parse_command(argc, argv, &method, &params, msg, sizeof(msg), NULL);
		cli_free_argv(argc, argv);
		if (rc) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, rc == 1 ? "help requested" : msg);
			rc = rc == 1 ? -EINVAL : rc;
			break;
		}
		log_info("%s:%d: %s", path, lineno, method);
		rc = config_call(method, params, msg, sizeof(msg));
		json_decref(params);
		if (rc) {
			snprintf(err, errlen, "%s:%d: %s failed (%d): %s", path, lineno, method, rc, msg);
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

int config_load_json_file(const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	char msg[512];
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	if (!root) {
		snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		return -EINVAL;
	}
	json_t *subs = json_object_get(root, "subsystems");
	if (!json_is_array(subs)) {
		snprintf(err, errlen, "%s: no \"subsystems\" array", path);
		json_decref(root);
		return -EINVAL;
	}
	size_t i, j;
	json_t *sub, *entry;
	int rc = 0;
	json_array_foreach(subs, i, sub) {
		const char *name = json_string_value(json_object_get(sub, "subsystem"));
		json_t *cfg = json_object_get(sub, "config");
		if (!name || (cfg && !json_is_array(cfg) && !json_is_null(cfg))) {
			snprintf(err, errlen, "%s: subsystem entry %zu is malformed", path, i);
			rc = -EINVAL;
			break;
		}
		json_array_foreach(cfg, j, entry) {
			const char *method = json_string_value(json_object_get(entry, "method"));
			if (!method) {
				snprintf(err, errlen, "%s: subsystem %s, entry %zu has no method", path, name, j);
				rc = -EINVAL;
				goto out;
			}
			rc = config_call(method, json_object_get(entry, "params"), msg, sizeof(msg));
			if (rc) {
				snprintf(err, errlen, "%s: subsystem %s, entry %zu: %s failed (%d): %s", path,
					 name, j, method, rc, msg);
				goto out;
			}
		}
	}
out:
	json_decref(root);
	return rc;
}
