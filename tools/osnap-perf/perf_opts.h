/* Command line of osnap-perf: what to connect to, the workload, and how to
 * report it. */
#ifndef OSNAP_PERF_OPTS_H
#define OSNAP_PERF_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "perf_clock.h"

#define PERF_MAX_JOBS	64
#define PERF_MAX_QD	4096
/* Completions reaped per pass by default: all there are. spdk_nvme_perf
 * stops at a quarter of the queue (64 of 256 entries); against SPDK's
 * nvmf_tgt that cap measured no better (IOPS per server CPU second at QD128
 * 0.86-1.0x of reaping all, interleaved runs), so it is an option only. */
#define PERF_REAP_DEFAULT	0

enum perf_transport {
	PERF_TR_NONE = 0,
	PERF_TR_VFU_NVME,	/* --vfio-user PATH --nvme */
	PERF_TR_VFU_VIRTIO,	/* --vfio-user PATH --virtio */
	PERF_TR_VHOST_USER,	/* --vhost-user PATH */
};

enum perf_workload {
	PERF_W_RANDREAD,
	PERF_W_RANDWRITE,
	PERF_W_READ,
	PERF_W_WRITE,
	PERF_W_RANDRW,
};

struct perf_opts {
	enum perf_transport transport;
	const char *path;		/* the socket */
	enum perf_workload workload;
	unsigned rwmixread;		/* percent of reads in randrw (default 50) */
	uint32_t bs;			/* bytes per I/O (default 4096) */
	uint32_t qd;			/* I/Os in flight per queue (default 1) */
	uint32_t jobs;			/* queues, one thread each (default 1) */
	int cpus[PERF_MAX_JOBS];	/* --cpus: job i runs on cpus[i % ncpus] */
	unsigned ncpus;
	double time_s;			/* -t (default 10 unless -n) */
	uint64_t count;			/* -n: I/Os in total (0: by time) */
	double ramp_s;			/* --ramp: not measured */
	bool interrupts;		/* complete by interrupt instead of polling */
	bool verify;
	const char *verify_state;	/* --verify-state FILE: load at start, save at end */
	uint32_t nsid;			/* NVMe namespace (default 1) */
	uint64_t size;			/* bytes of the device to use (0: all) */
	uint64_t offset;		/* first byte of the range used */
	bool json;
	bool no_shadow_db;		/* NVMe: no Doorbell Buffer Config */
	bool indirect;			/* virtio: ask for indirect descriptors */
	int server_pid;			/* --server-pid: report its CPU time (0: none) */
	uint64_t seed;			/* random seed (default from the clock) */
	enum perf_clock_kind clock;	/* --clock: latency clock (default auto) */
	uint32_t reap_max;		/* --reap: completions per pass (0: all) */
	uint32_t db_batch;		/* --batch: submissions per doorbell (0: the burst) */
};

/* Parse argv into *o (defaults first). On a usage error write a message
 * (without newline) into err and return -1; return 1 after printing the
 * help (--help); 0 when o is ready to run. */
int perf_opts_parse(int argc, char **argv, struct perf_opts *o, char *err, size_t errlen);

/* Print the usage text on stdout. */
void perf_opts_usage(const char *prog);

/* Name of a workload as given on the command line. */
const char *perf_workload_name(enum perf_workload w);

/* Whether the workload issues reads / writes. */
bool perf_workload_reads(const struct perf_opts *o);
bool perf_workload_writes(const struct perf_opts *o);

#endif
