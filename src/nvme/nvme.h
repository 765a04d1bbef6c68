/* NVMe emulation: subsystems, namespaces and controllers (SNAP's model).
 *
 * Threading: everything here runs on the main thread (RPCs, register
 * accesses from the device plane, the admin queue). I/O queues run on the
 * reactors; the controller talks to them with messages. */
#ifndef OSNAP_NVME_H
#define OSNAP_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nvme_subsystem;
struct nvme_namespace;
struct nvme_ctrl;
struct emu_function;

/* --- subsystems --- */

struct nvme_subsys_params {
	const char *nqn;
	const char *serial;	/* <= 20 characters; generated when NULL */
	const char *model;	/* <= 40 characters */
	uint32_t nn;		/* highest NSID, 1..0xFFFFFFFE */
	uint32_t mnan;		/* max namespaces, 1..0xFFFFFFFE */
	bool single_ctrl;
};

int nvme_subsystem_create(const struct nvme_subsys_params *p, char *err, size_t errlen);
/* force: destroy its controllers and namespaces too (controllers with a
 * live driver included). Without force, fails while any exist. */
int nvme_subsystem_destroy(const char *nqn, bool force, char *err, size_t errlen);
struct nvme_subsystem *nvme_subsystem_find(const char *nqn);
struct nvme_subsystem *nvme_subsystem_first(void);
struct nvme_subsystem *nvme_subsystem_next(struct nvme_subsystem *s);

/* --- namespaces --- */

struct nvme_ns_params {
	const char *nqn;
	uint32_t nsid;
	const char *bdev;
	const uint8_t *uuid;	/* NULL: generated */
	const uint8_t *nguid;	/* NULL: none */
	const uint8_t *eui64;	/* NULL: none */
};

int nvme_namespace_create(const struct nvme_ns_params *p, char *err, size_t errlen);
int nvme_namespace_destroy(const char *nqn, uint32_t nsid, char *err, size_t errlen);

/* --- controllers --- */

struct nvme_ctrl_params {
	const char *nqn;
	const char *name;		/* NULL: NVMeCtrlN */
	struct emu_function *fn;
	uint32_t num_queues;		/* I/O queues; 0 = as many as MSI-X allows */
	uint32_t mdts;			/* 1..7 */
	uint32_t fw_slots;		/* 1..7 */
	int compare, compare_write, dsm, write_zeroes;	/* -1 auto, 0, 1 */
	bool suspended;
	bool admin_only;
	uint32_t quirks;
};

/* Create and bind to p->fn. On success *out is the controller (its name is
 * nvme_ctrl_name()). */
int nvme_ctrl_create(const struct nvme_ctrl_params *p, struct nvme_ctrl **out, char *err,
		     size_t errlen);
struct nvme_ctrl *nvme_ctrl_find(const char *name);
const char *nvme_ctrl_name(const struct nvme_ctrl *c);
uint16_t nvme_ctrl_cntlid(const struct nvme_ctrl *c);
struct nvme_ctrl *nvme_ctrl_first(void);
struct nvme_ctrl *nvme_ctrl_next(struct nvme_ctrl *c);
/* True while a host driver has the controller enabled. */
bool nvme_ctrl_driver_live(const struct nvme_ctrl *c);

/* Asynchronous operations complete through cb(arg, rc, msg) on the main
 * thread (maybe before returning). */
typedef void (*nvme_done_fn)(void *arg, int rc, const char *msg);

void nvme_ctrl_destroy(struct nvme_ctrl *c, bool force, nvme_done_fn cb, void *arg);
void nvme_ctrl_suspend(struct nvme_ctrl *c, uint32_t timeout_ms, bool admin_only, nvme_done_fn cb,
		       void *arg);
int nvme_ctrl_resume(struct nvme_ctrl *c, char *err, size_t errlen);
void nvme_ctrl_attach_ns(struct nvme_ctrl *c, uint32_t nsid, nvme_done_fn cb, void *arg);
void nvme_ctrl_detach_ns(struct nvme_ctrl *c, uint32_t nsid, nvme_done_fn cb, void *arg);
/* Only while the function is idle (no driver). */
int nvme_ctrl_modify(struct nvme_ctrl *c, bool has_num_queues, uint32_t num_queues, char *err,
		     size_t errlen);

/* At exit: every controller, namespace and subsystem goes. */
void nvme_shutdown_all(void);

#endif
