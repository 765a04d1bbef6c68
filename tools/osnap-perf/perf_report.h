/* Results of osnap-perf: summing the jobs, the fio-like text report, the
 * JSON report, and the once-a-second progress line. */
#ifndef OSNAP_PERF_REPORT_H
#define OSNAP_PERF_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "perf_job.h"
#include "perf_opts.h"
#include "perf_target.h"

/* What the main thread measured besides the jobs. */
struct perf_run_info {
	double client_cpu_s;	/* this process, over the measured interval */
	double server_cpu_s;	/* --server-pid over the same interval; < 0 unknown */
};

/* Totals of a set of jobs (or of one). */
struct perf_summary {
	struct perf_hist lat[2];	/* by PERF_DIR_* */
	struct perf_hist all;
	uint64_t ios[2];
	uint64_t io_errors, verify_errors, verify_checked, verify_unwritten;
	struct perf_target_qstats notif;
	double seconds;			/* measured interval */
};

/* Sum n jobs into *s (the interval spans the earliest begin to the latest end). */
void perf_summarize(const struct perf_job *jobs, unsigned n, struct perf_summary *s);

/* The fio-like report. */
void perf_report_text(FILE *out, const struct perf_opts *o, const struct perf_target *t,
		      const struct perf_job *jobs, const struct perf_run_info *ri);

/* The JSON report (one object, newline-terminated). 0 or -ENOMEM. */
int perf_report_json(FILE *out, const struct perf_opts *o, const struct perf_target *t,
		     const struct perf_job *jobs, const struct perf_run_info *ri);

/* Rewrite the progress line: phase name, seconds done of total (total 0:
 * unknown), I/Os completed in the last dt seconds, errors so far. */
void perf_report_progress(FILE *out, const char *phase, double done_s, double total_s,
			  uint64_t ios, double dt, uint32_t bs, uint64_t errors);

/* Erase the progress line. */
void perf_report_progress_end(FILE *out);

#endif
