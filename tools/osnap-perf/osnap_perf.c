/* osnap-perf: block I/O load generator and data-integrity checker for
 * emulated storage devices (NVMe over vfio-user, virtio-blk over vhost-user
 * or vfio-user). The main thread sets the target up, starts one job thread
 * per queue, moves them through ramp, measurement and stop, prints progress
 * and the report. See perf_opts.c for the command line. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "perf_cpu.h"
#include "perf_job.h"
#include "perf_opts.h"
#include "perf_report.h"
#include "perf_target.h"
#include "perf_verify.h"

#define EXIT_ERRORS	1	/* I/O or verify errors */
#define EXIT_SETUP	2	/* usage or set-up failure */

static int g_phase;			/* enum perf_phase, read by the jobs */
static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

static void set_phase(int ph)
{
	__atomic_store_n(&g_phase, ph, __ATOMIC_RELEASE);
}

/* The part of the device under test, in I/O blocks. */
static int make_range(const struct perf_opts *o, const struct perf_target *t, struct perf_range *r,
		      char *err, size_t len)
{
	uint64_t dev = t->nlba * t->lba_size;

	if (o->bs % t->lba_size) {
		snprintf(err, len, "-b %u is not a multiple of the %u-byte logical block", o->bs, t->lba_size);
		return -1;
	}
	if (o->offset % o->bs) {
		snprintf(err, len, "--offset %" PRIu64 " is not a multiple of -b %u", o->offset, o->bs);
		return -1;
	}
	if (o->offset >= dev) {
		snprintf(err, len, "--offset %" PRIu64 " is beyond the device (%" PRIu64 " bytes)", o->offset, dev);
		return -1;
	}
	uint64_t bytes = dev - o->offset;
	if (o->size) {
		if (o->size > bytes) {
			snprintf(err, len, "--size %" PRIu64 " runs past the device (%" PRIu64 " bytes from the offset)",
				 o->size, bytes);
			return -1;
		}
		bytes = o->size;
	}
	r->first_lba = o->offset / t->lba_size;
	r->nblocks = bytes / o->bs;
	r->lbas_per_block = o->bs / t->lba_size;
	if (r->nblocks < o->jobs) {
		snprintf(err, len, "the range holds %" PRIu64 " blocks of %u bytes, fewer than the %u jobs",
			 r->nblocks, o->bs, o->jobs);
		return -1;
	}
	return 0;
}

static int open_target(const struct perf_opts *o, struct perf_target **t, char *err, size_t len)
{
	if (o->transport == PERF_TR_VFU_NVME)
		return perf_target_open_nvme(o, t, err, len);
	return perf_target_open_vblk(o, t, err, len);
}

/* Everything of one run, for clean-up in one place. */
struct run {
	struct perf_opts o;
	struct perf_target *t;
	struct perf_range r;
	struct perf_vtable vt;
	struct perf_vgeom geom;
	bool have_vt;
	struct perf_job *jobs;
	unsigned started;
	bool joined;
	struct perf_run_info ri;
	double cpu0, srv0;
};

static uint64_t total_done(const struct run *x)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < x->started; i++)
		n += perf_job_done(&x->jobs[i]);
	return n;
}

static uint64_t total_errors(const struct run *x)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < x->started; i++)
		n += perf_job_errors(&x->jobs[i]);
	return n;
}

static bool all_finished(const struct run *x)
{
	for (unsigned i = 0; i < x->started; i++)
		if (!perf_job_finished(&x->jobs[i]))
			return false;
	return true;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	nanosleep(&ts, NULL);
}

/* CPU counters at the start of the measured interval. */
static void measure_begin(struct run *x)
{
	x->cpu0 = perf_self_cpu_s();
	x->ri.server_cpu_s = -1;
	if (x->o.server_pid && perf_proc_cpu_s(x->o.server_pid, &x->srv0) == 0)
		x->ri.server_cpu_s = 0;
}

static void measure_end(struct run *x)
{
	double srv;
	x->ri.client_cpu_s = perf_self_cpu_s() - x->cpu0;
	if (x->ri.server_cpu_s >= 0 && perf_proc_cpu_s(x->o.server_pid, &srv) == 0)
		x->ri.server_cpu_s = srv - x->srv0;
	else
		x->ri.server_cpu_s = -1;
}

/* Wait until `until` (monotonic seconds; 0: until every job finished),
 * printing progress once a second when asked. Returns false when every job
 * finished or the user interrupted. */
static bool run_phase(struct run *x, const char *name, double start, double until, double total,
		      bool progress)
{
	double last = perf_now_ns() / 1e9;
	uint64_t last_done = total_done(x);

	for (;;) {
		double now = perf_now_ns() / 1e9;
		if (g_interrupted || all_finished(x))
			return false;
		if (until > 0 && now >= until)
			return true;
		double next = last + 1.0;
		if (until > 0 && until < next)
			next = until;
		double step = next - now;
		if (step > 0.05)
			step = 0.05;	/* look at the jobs and signals often */
		if (step > 0)
			sleep_s(step);
		now = perf_now_ns() / 1e9;
		if (now - last >= 1.0) {
			/* `last` moves on with or without a progress line: were it
			 * left behind, `next` would lie in the past and this thread
			 * (pinned to the first job's CPU) would spin instead of
			 * sleeping, taking half that job's core */
			uint64_t d = total_done(x);
			if (progress)
				perf_report_progress(stdout, name, now - start, total, d - last_done,
						     now - last, x->o.bs, total_errors(x));
			last = now;
			last_done = d;
		}
	}
}

/* Ramp, measure, stop. */
static void drive(struct run *x)
{
	const struct perf_opts *o = &x->o;
	bool progress = !o->json && isatty(STDOUT_FILENO);
	double t0 = perf_now_ns() / 1e9;

	if (o->ramp_s > 0) {
		if (!run_phase(x, "ramp", t0, t0 + o->ramp_s, o->ramp_s, progress)) {
			set_phase(PERF_PH_STOP);
			measure_begin(x);
			measure_end(x);
			return;
		}
		set_phase(PERF_PH_MEASURE);
	}
	measure_begin(x);
	double m0 = perf_now_ns() / 1e9;
	if (o->count)
		run_phase(x, "run", m0, 0, 0, progress);
	else
		run_phase(x, "run", m0, m0 + o->time_s, o->time_s, progress);
	set_phase(PERF_PH_STOP);
	measure_end(x);
	if (progress)
		perf_report_progress_end(stdout);
}

static int setup(struct run *x, char *err, size_t len)
{
	const struct perf_opts *o = &x->o;
	int rc = open_target(o, &x->t, err, len);
	if (rc)
		return rc;
	if (make_range(o, x->t, &x->r, err, len))
		return -EINVAL;
	if (o->verify) {
		if (perf_vtable_init(&x->vt, x->r.nblocks, (uint32_t)(o->seed >> 17))) {
			snprintf(err, len, "out of memory for the generations of %" PRIu64 " blocks", x->r.nblocks);
			return -ENOMEM;
		}
		x->have_vt = true;
		x->geom = (struct perf_vgeom){ x->t->lba_size, o->bs, x->r.first_lba };
		if (o->verify_state && perf_vtable_load(&x->vt, o->verify_state, &x->geom, err, len) < 0)
			return -EINVAL;
	}
	rc = perf_clock_init(o->clock);
	if (rc) {
		snprintf(err, len, "--clock tsc: no usable time-stamp counter on this CPU");
		return rc;
	}
	x->jobs = perf_jobs_alloc(o->jobs);
	if (!x->jobs) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < o->jobs; i++) {
		rc = perf_job_init(&x->jobs[i], i, o, x->t, x->have_vt ? &x->vt : NULL, &x->r, &g_phase,
				   err, len);
		if (rc)
			return rc;
	}
	/* without a ramp the first I/O is measured (-n N then does exactly N) */
	set_phase(o->ramp_s > 0 ? PERF_PH_RAMP : PERF_PH_MEASURE);
	for (unsigned i = 0; i < o->jobs; i++) {
		rc = perf_job_start(&x->jobs[i]);
		if (rc) {
			snprintf(err, len, "cannot start a thread: %s", strerror(-rc));
			return rc;
		}
		x->started++;
	}
	if (o->ncpus)
		perf_pin_cpu(o->cpus[0]);	/* keep the main thread off the server's cores */
	return 0;
}

/* Stop the jobs, disconnect (cancelling what is in flight), keep the state. */
static int teardown(struct run *x, char *err, size_t len)
{
	int rc = 0;

	if (!x->joined) {
		set_phase(PERF_PH_STOP);
		for (unsigned i = 0; i < x->started; i++)
			perf_job_join(&x->jobs[i]);
		x->joined = true;
	}
	if (x->t)
		x->t->ops->close(x->t);
	x->t = NULL;
	if (x->have_vt && x->o.verify_state && x->started == x->o.jobs &&
	    perf_vtable_save(&x->vt, x->o.verify_state, &x->geom, err, len))
		rc = -EIO;
	if (x->jobs) {
		for (unsigned i = 0; i < x->o.jobs; i++)
			perf_job_fini(&x->jobs[i]);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static struct run x;
	char err[512] = "";

	int rc = perf_opts_parse(argc, argv, &x.o, err, sizeof(err));
	if (rc) {
		if (rc > 0)
			return 0;
		fprintf(stderr, "osnap-perf: %s (see --help)\n", err);
		return EXIT_SETUP;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	rc = setup(&x, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "osnap-perf: %s\n", err);
		err[0] = '\0';
		teardown(&x, err, sizeof(err));
		free(x.jobs);
		if (x.have_vt)
			perf_vtable_fini(&x.vt);
		return EXIT_SETUP;
	}
	drive(&x);
	/* report before the disconnect: its cancellations are not results */
	const struct perf_target *t = x.t;
	bool fatal = false;
	for (unsigned i = 0; i < x.o.jobs; i++) {
		perf_job_join(&x.jobs[i]);
		fatal |= x.jobs[i].fatal != 0;
	}
	x.joined = true;
	if (x.o.json)
		perf_report_json(stdout, &x.o, t, x.jobs, &x.ri);
	else
		perf_report_text(stdout, &x.o, t, x.jobs, &x.ri);
	fflush(stdout);
	uint64_t errors = total_errors(&x);
	int trc = teardown(&x, err, sizeof(err));
	if (trc)
		fprintf(stderr, "osnap-perf: cannot save the verify state: %s\n", err);
	free(x.jobs);
	if (x.have_vt)
		perf_vtable_fini(&x.vt);
	if (errors || fatal)
		return EXIT_ERRORS;
	return trc ? EXIT_SETUP : 0;
}
