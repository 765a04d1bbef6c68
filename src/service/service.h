/* Service-level glue: RPC families, start-up, configuration. Main thread. */
#ifndef OSNAP_SERVICE_H
#define OSNAP_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define OSNAP_VERSION "0.1.0"

/* Register every RPC family's table, in a fixed order. */
void rpc_tables_register(void);
/* each RPC file's table, registered by rpc_tables_register() */
void framework_rpc_register(void);
void log_rpc_register(void);
void emulation_rpc_register(void);
void sriov_rpc_register(void);
void nvme_rpc_register(void);
void virtio_blk_rpc_register(void);
void sock_rpc_register(void);
void spdk_log_rpc_register(void);
void reactor_rpc_register(void);
void hotplug_rpc_register(void);
/* the answer to methods no table has (-95 for planned ones, suggestions) */
void unknown_rpc_register(void);

/* --- emulated functions --- */

struct emu_function;
/* fn's entry in emulation_function_list (a PF without its VFs). */
json_t *emulation_fn_entry(struct emu_function *fn);
/* The hot-plug members of a hot-plugged PF's entry o (hotplug_json.c). */
void emulation_hotplug_json(json_t *o, struct emu_function *fn);

/* --- start-up (framework_start_init) --- */

/* What the framework does when it initialises: set by osnapd. Returns 0 or
 * -errno with a message in err. */
typedef int (*framework_init_fn)(char *err, size_t errlen);
void framework_set_init(framework_init_fn fn);
/* Run the init step once and switch the RPC state to RUNTIME. */
int framework_init(char *err, size_t errlen);
bool framework_initialized(void);
/* framework_start_init (with an init function set) does not run the init
 * step inside its handler, which is a callback of the event loop: the step
 * runs the loop itself. The application calls framework_run_pending_init()
 * between rounds of its loop whenever framework_init_pending(); that runs
 * the step and answers the request (cancel: answers -ECANCELED instead, at
 * shutdown). */
bool framework_init_pending(void);
void framework_run_pending_init(bool cancel);
/* Answer the framework_wait_init requests still waiting with -ECANCELED
 * (shutdown). */
void framework_cancel_waiters(void);

/* --- configuration --- */

/* save_config writers, one per subsystem, in registration order. */
typedef void (*config_writer_fn)(json_t *config_array);
void config_register_subsystem(const char *name, config_writer_fn fn);
/* {"subsystems":[{"subsystem":..., "config":[...]}, ...]} */
json_t *config_save(void);

/* Call method(params) in-process and wait for the answer while running the
 * main loop. Returns 0, or the error code with its message in err. */
int config_call(const char *method, json_t *params, char *err, size_t errlen);
/* Replay an init file of osnap-rpc command lines. On failure: -errno or the
 * RPC error code, and "FILE:LINE: ..." in err. */
int config_replay_init_file(const char *path, char *err, size_t errlen);
/* Load a save_config JSON file (SPDK's --json). */
int config_load_json_file(const char *path, char *err, size_t errlen);

#endif
