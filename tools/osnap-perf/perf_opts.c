/* Command line of osnap-perf. See perf_opts.h. */
#include "perf_opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const workload_names[] = {
	[PERF_W_RANDREAD] = "randread", [PERF_W_RANDWRITE] = "randwrite",
	[PERF_W_READ] = "read", [PERF_W_WRITE] = "write", [PERF_W_RANDRW] = "randrw",
};

const char *perf_workload_name(enum perf_workload w)
{
	return workload_names[w];
}

bool perf_workload_reads(const struct perf_opts *o)
{
	return o->workload == PERF_W_RANDREAD || o->workload == PERF_W_READ ||
	       (o->workload == PERF_W_RANDRW && o->rwmixread > 0);
}

bool perf_workload_writes(const struct perf_opts *o)
{
	return o->workload == PERF_W_RANDWRITE || o->workload == PERF_W_WRITE ||
	       (o->workload == PERF_W_RANDRW && o->rwmixread < 100);
}

void perf_opts_usage(const char *prog)
{
	printf("usage: %s TARGET [OPTIONS]\n"
	       "targets:\n"
	       "  --vfio-user PATH --nvme     NVMe controller over vfio-user\n"
	       "  --vfio-user PATH --virtio   virtio-blk PCI function over vfio-user\n"
	       "  --vhost-user PATH           vhost-user-blk back end (osnap, qemu-storage-daemon)\n"
	       "workload:\n"
	       "  -w, --rw MODE               randread|randwrite|read|write|randrw (randread)\n"
	       "      --rwmixread PCT         reads in randrw, percent (50)\n"
	       "  -b, --bs BYTES              bytes per I/O, k/m suffixes (4096)\n"
	       "  -q, --iodepth N             I/Os in flight per queue (1)\n"
	       "  -j, --jobs N                queues, one thread each (1)\n"
	       "      --cpus LIST             pin job i to the i-th CPU of LIST (e.g. 1 or 2-3,5)\n"
	       "  -t, --time SECONDS          measured time (10)\n"
	       "  -n, --number IOS            stop after IOS I/Os in total instead\n"
	       "      --ramp SECONDS          run this long before measuring (0)\n"
	       "      --interrupts            complete by interrupt instead of polling\n"
	       "      --size BYTES            use only this much of the device (all)\n"
	       "      --offset BYTES          start of the range used (0)\n"
	       "      --nsid N                NVMe namespace (1)\n"
	       "      --seed N                random seed (from the clock)\n"
	       "data integrity:\n"
	       "      --verify                stamp written blocks (LBA, generation, checksum),\n"
	       "                              check every read\n"
	       "      --verify-state FILE     remember generations across runs (read at start\n"
	       "                              when it exists, written at the end)\n"
	       "transport tuning:\n"
	       "      --no-shadow-db          NVMe: no shadow doorbells (Doorbell Buffer Config)\n"
	       "      --indirect              virtio: use indirect descriptors when offered\n"
	       "      --batch N               ring the doorbell (kick) every N submissions of\n"
	       "                              a burst (0: once per burst, the default)\n"
	       "      --reap N                reap at most N completions before submitting\n"
	       "                              again (0: all there are, the default)\n"
	       "      --clock KIND            latency clock: tsc (the CPU's time-stamp counter),\n"
	       "                              monotonic (clock_gettime), auto (tsc when invariant)\n"
	       "output:\n"
	       "      --json                  JSON result on stdout\n"
	       "      --server-pid PID        also report the CPU time PID used while measuring\n"
	       "  -h, --help\n"
	       "Exit status: 0 success, 1 I/O or verify errors, 2 usage or set-up failure.\n",
	       prog);
}

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* A byte count with an optional k/m/g/t suffix (binary). */
static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || s[0] == '-')
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 1e7)
		return -1;
	*out = v;
	return 0;
}

/* "1", "0-3", "1,3,5-6" into o->cpus. */
static int parse_cpus(const char *s, struct perf_opts *o)
{
	o->ncpus = 0;
	while (*s) {
		char *end;
		long a = strtol(s, &end, 10), b;
		if (end == s || a < 0 || a > 4095)
			return -1;
		b = a;
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a || b > 4095)
				return -1;
		}
		for (long c = a; c <= b; c++) {
			if (o->ncpus == PERF_MAX_JOBS)
				return -1;
			o->cpus[o->ncpus++] = (int)c;
		}
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	return o->ncpus ? 0 : -1;
}

enum {
	OPT_VFU = 256, OPT_VHU, OPT_NVME, OPT_VIRTIO, OPT_MIX, OPT_CPUS, OPT_RAMP, OPT_IRQ,
	OPT_VERIFY, OPT_VSTATE, OPT_NSID, OPT_SIZE, OPT_OFFSET, OPT_JSON, OPT_NOSHADOW,
	OPT_INDIRECT, OPT_SPID, OPT_SEED, OPT_CLOCK, OPT_REAP, OPT_BATCH,
};

static const struct option long_opts[] = {
	{ "vfio-user", required_argument, NULL, OPT_VFU },
	{ "vhost-user", required_argument, NULL, OPT_VHU },
	{ "nvme", no_argument, NULL, OPT_NVME },
	{ "virtio", no_argument, NULL, OPT_VIRTIO },
	{ "rw", required_argument, NULL, 'w' },
	{ "rwmixread", required_argument, NULL, OPT_MIX },
	{ "bs", required_argument, NULL, 'b' },
	{ "iodepth", required_argument, NULL, 'q' },
	{ "jobs", required_argument, NULL, 'j' },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "time", required_argument, NULL, 't' },
	{ "number", required_argument, NULL, 'n' },
	{ "ramp", required_argument, NULL, OPT_RAMP },
	{ "interrupts", no_argument, NULL, OPT_IRQ },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "verify-state", required_argument, NULL, OPT_VSTATE },
	{ "nsid", required_argument, NULL, OPT_NSID },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "offset", required_argument, NULL, OPT_OFFSET },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "no-shadow-db", no_argument, NULL, OPT_NOSHADOW },
	{ "indirect", no_argument, NULL, OPT_INDIRECT },
	{ "server-pid", required_argument, NULL, OPT_SPID },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "clock", required_argument, NULL, OPT_CLOCK },
	{ "reap", required_argument, NULL, OPT_REAP },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void defaults(struct perf_opts *o)
{
	struct timespec ts;

	memset(o, 0, sizeof(*o));
	o->workload = PERF_W_RANDREAD;
	o->rwmixread = 50;
	o->bs = 4096;
	o->qd = 1;
	o->jobs = 1;
	o->nsid = 1;
	o->reap_max = PERF_REAP_DEFAULT;
	clock_gettime(CLOCK_REALTIME, &ts);
	o->seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
}

/* Checks between options, after all were read. */
static int check(struct perf_opts *o, bool nvme, bool virtio, bool has_time, char *err, size_t len)
{
	if (!o->path)
		return fail(err, len, "no target: give --vfio-user PATH (--nvme or --virtio) or --vhost-user PATH");
	if (o->transport == PERF_TR_VHOST_USER && (nvme || virtio))
		return fail(err, len, "--nvme and --virtio go with --vfio-user, not --vhost-user");
	if (o->transport == PERF_TR_NONE) {
		if (nvme == virtio)
			return fail(err, len, "--vfio-user needs exactly one of --nvme or --virtio");
		o->transport = nvme ? PERF_TR_VFU_NVME : PERF_TR_VFU_VIRTIO;
	}
	if (has_time && o->count)
		return fail(err, len, "give -t or -n, not both");
	if (!has_time && !o->count)
		o->time_s = 10;
	if (has_time && o->time_s <= 0)
		return fail(err, len, "-t must be more than 0 seconds");
	if (o->count && o->count < o->jobs)
		return fail(err, len, "-n %llu is fewer I/Os than jobs (%u)", (unsigned long long)o->count,
			    o->jobs);
	if (o->verify_state && !o->verify)
		return fail(err, len, "--verify-state needs --verify");
	return 0;
}

int perf_opts_parse(int argc, char **argv, struct perf_opts *o, char *err, size_t len)
{
	bool nvme = false, virtio = false, has_time = false;
	uint64_t v;
	int c;

	defaults(o);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":w:b:q:j:t:n:h", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_VFU:
		case OPT_VHU:
			if (o->path)
				return fail(err, len, "only one target");
			o->path = optarg;
			o->transport = c == OPT_VHU ? PERF_TR_VHOST_USER : PERF_TR_NONE;
			break;
		case OPT_NVME: nvme = true; break;
		case OPT_VIRTIO: virtio = true; break;
		case 'w': {
			unsigned i;
			for (i = 0; i < sizeof(workload_names) / sizeof(workload_names[0]); i++)
				if (!strcmp(optarg, workload_names[i]))
					break;
			if (i == sizeof(workload_names) / sizeof(workload_names[0]))
				return fail(err, len, "-w %s: use randread, randwrite, read, write or randrw", optarg);
			o->workload = (enum perf_workload)i;
			break;
		}
		case OPT_MIX:
			if (parse_u64(optarg, &v) || v > 100)
				return fail(err, len, "--rwmixread %s: a percentage 0..100", optarg);
			o->rwmixread = (unsigned)v;
			break;
		case 'b':
			if (parse_bytes(optarg, &v) || v < 512 || v > (64u << 20) || v % 512)
				return fail(err, len, "-b %s: a multiple of 512 up to 64 MiB", optarg);
			o->bs = (uint32_t)v;
			break;
		case 'q':
			if (parse_u64(optarg, &v) || v < 1 || v > PERF_MAX_QD)
				return fail(err, len, "-q %s: 1..%u", optarg, PERF_MAX_QD);
			o->qd = (uint32_t)v;
			break;
		case 'j':
			if (parse_u64(optarg, &v) || v < 1 || v > PERF_MAX_JOBS)
				return fail(err, len, "-j %s: 1..%u", optarg, PERF_MAX_JOBS);
			o->jobs = (uint32_t)v;
			break;
		case OPT_CPUS:
			if (parse_cpus(optarg, o))
				return fail(err, len, "--cpus %s: a list like 1 or 0-3,6 (at most %u CPUs)",
					    optarg, PERF_MAX_JOBS);
			break;
		case 't':
			if (parse_seconds(optarg, &o->time_s))
				return fail(err, len, "-t %s: seconds", optarg);
			has_time = true;
			break;
		case 'n':
			if (parse_bytes(optarg, &o->count) || o->count == 0)
				return fail(err, len, "-n %s: a positive number of I/Os", optarg);
			break;
		case OPT_RAMP:
			if (parse_seconds(optarg, &o->ramp_s))
				return fail(err, len, "--ramp %s: seconds", optarg);
			break;
		case OPT_IRQ: o->interrupts = true; break;
		case OPT_VERIFY: o->verify = true; break;
		case OPT_VSTATE: o->verify_state = optarg; break;
		case OPT_NSID:
			if (parse_u64(optarg, &v) || v < 1 || v > 0xfffffffeu)
				return fail(err, len, "--nsid %s: 1..0xfffffffe", optarg);
			o->nsid = (uint32_t)v;
			break;
		case OPT_SIZE:
			if (parse_bytes(optarg, &o->size) || o->size == 0)
				return fail(err, len, "--size %s: a positive byte count", optarg);
			break;
		case OPT_OFFSET:
			if (parse_bytes(optarg, &o->offset))
				return fail(err, len, "--offset %s: a byte count", optarg);
			break;
		case OPT_JSON: o->json = true; break;
		case OPT_NOSHADOW: o->no_shadow_db = true; break;
		case OPT_INDIRECT: o->indirect = true; break;
		case OPT_SPID:
			if (parse_u64(optarg, &v) || v < 1 || v > 0x7fffffff)
				return fail(err, len, "--server-pid %s: a process id", optarg);
			o->server_pid = (int)v;
			break;
		case OPT_SEED:
			if (parse_u64(optarg, &o->seed))
				return fail(err, len, "--seed %s: a number", optarg);
			break;
		case OPT_BATCH:
			if (parse_u64(optarg, &v) || v > PERF_MAX_QD)
				return fail(err, len, "--batch %s: 0 (a whole burst) .. %u", optarg, PERF_MAX_QD);
			o->db_batch = (uint32_t)v;
			break;
		case OPT_REAP:
			if (parse_u64(optarg, &v) || v > PERF_MAX_QD)
				return fail(err, len, "--reap %s: 0 (all) .. %u", optarg, PERF_MAX_QD);
			o->reap_max = (uint32_t)v;
			break;
		case OPT_CLOCK:
			if (!strcmp(optarg, "auto"))
				o->clock = PERF_CLOCK_AUTO;
			else if (!strcmp(optarg, "tsc"))
				o->clock = PERF_CLOCK_TSC;
			else if (!strcmp(optarg, "monotonic"))
				o->clock = PERF_CLOCK_MONOTONIC;
			else
				return fail(err, len, "--clock %s: use auto, tsc or monotonic", optarg);
			break;
		case 'h':
			perf_opts_usage(argv[0]);
			return 1;
		case ':':
			return fail(err, len, "%s needs a value", argv[optind - 1]);
		default:
			return fail(err, len, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(err, len, "unexpected argument %s", argv[optind]);
	return check(o, nvme, virtio, has_time, err, len);
}
