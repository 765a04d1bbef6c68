/* Results of osnap-perf. See perf_report.h. */
#include "perf_report.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const double pcts[] = { 50, 90, 99, 99.9 };
static const char *const pct_keys[] = { "p50", "p90", "p99", "p999" };

void perf_summarize(const struct perf_job *jobs, unsigned n, struct perf_summary *s)
{
	uint64_t begin = UINT64_MAX, end = 0;

	memset(s, 0, sizeof(*s));
	perf_hist_reset(&s->lat[0]);
	perf_hist_reset(&s->lat[1]);
	perf_hist_reset(&s->all);
	for (unsigned i = 0; i < n; i++) {
		const struct perf_stats *st = &jobs[i].st;
		for (int d = 0; d < 2; d++) {
			perf_hist_merge(&s->lat[d], &st->lat[d]);
			perf_hist_merge(&s->all, &st->lat[d]);
			s->ios[d] += st->ios[d];
		}
		s->io_errors += st->io_errors;
		s->verify_errors += st->verify_errors;
		s->verify_checked += st->verify_checked;
		s->verify_unwritten += st->verify_unwritten;
		s->notif.notifies += st->notif.notifies;
		s->notif.notifies_skipped += st->notif.notifies_skipped;
		s->notif.irqs += st->notif.irqs;
		if (st->begin_ns && st->begin_ns < begin)
			begin = st->begin_ns;
		if (st->end_ns > end)
			end = st->end_ns;
	}
	s->seconds = begin < end ? (double)(end - begin) / 1e9 : 0;
}

static double rate(uint64_t v, double s)
{
	return s > 0 ? (double)v / s : 0;
}

static double mib_s(uint64_t ios, uint32_t bs, double s)
{
	return rate(ios, s) * bs / (1024.0 * 1024.0);
}

/* ---- text ------------------------------------------------------------------------ */

static void text_lat(FILE *out, const struct perf_hist *h)
{
	fprintf(out, "    lat (usec): min=%.2f, avg=%.2f, p50=%.2f, p90=%.2f, p99=%.2f, p99.9=%.2f, max=%.2f\n",
		h->count ? (double)h->min / 1e3 : 0, perf_hist_mean(h) / 1e3,
		(double)perf_hist_percentile(h, 50) / 1e3, (double)perf_hist_percentile(h, 90) / 1e3,
		(double)perf_hist_percentile(h, 99) / 1e3, (double)perf_hist_percentile(h, 99.9) / 1e3,
		(double)h->max / 1e3);
}

static void text_dir(FILE *out, const char *name, uint64_t ios, const struct perf_hist *h,
		     uint32_t bs, double s)
{
	fprintf(out, "  %-5s: IOPS=%.0f, BW=%.1fMiB/s (%.1fMB/s), ios=%llu\n", name, rate(ios, s),
		mib_s(ios, bs, s), rate(ios, s) * bs / 1e6, (unsigned long long)ios);
	text_lat(out, h);
}

void perf_report_text(FILE *out, const struct perf_opts *o, const struct perf_target *t,
		      const struct perf_job *jobs, const struct perf_run_info *ri)
{
	static struct perf_summary s;	/* large: keep it off the stack */

	perf_summarize(jobs, o->jobs, &s);
	fprintf(out, "osnap-perf: %s\n", t->desc);
	fprintf(out, "  %s", perf_workload_name(o->workload));
	if (o->workload == PERF_W_RANDRW)
		fprintf(out, " (%u%% reads)", o->rwmixread);
	fprintf(out, ", bs=%u, iodepth=%u, jobs=%u, %s%s: %.2f s measured", o->bs, o->qd, o->jobs,
		o->interrupts ? "interrupts" : "polled", o->verify ? ", verify" : "", s.seconds);
	if (o->ramp_s > 0)
		fprintf(out, " after %.1f s ramp", o->ramp_s);
	char clk[48];
	fprintf(out, ", clock %s\n", perf_clock_desc(clk, sizeof(clk)));
	if (s.ios[PERF_DIR_READ])
		text_dir(out, "read", s.ios[0], &s.lat[0], o->bs, s.seconds);
	if (s.ios[PERF_DIR_WRITE])
		text_dir(out, "write", s.ios[1], &s.lat[1], o->bs, s.seconds);
	if (s.ios[0] && s.ios[1])
		text_dir(out, "all", s.ios[0] + s.ios[1], &s.all, o->bs, s.seconds);
	fprintf(out, "  errors: %llu (I/O %llu, verify %llu)", (unsigned long long)(s.io_errors + s.verify_errors),
		(unsigned long long)s.io_errors, (unsigned long long)s.verify_errors);
	if (o->verify)
		fprintf(out, "; verify: %llu reads checked, %llu of never-written blocks",
			(unsigned long long)s.verify_checked, (unsigned long long)s.verify_unwritten);
	fprintf(out, "\n");
	fprintf(out, "  notifications: %llu sent, %llu suppressed, %llu interrupts (whole run)\n",
		(unsigned long long)s.notif.notifies, (unsigned long long)s.notif.notifies_skipped,
		(unsigned long long)s.notif.irqs);
	uint64_t ios = s.ios[0] + s.ios[1];
	fprintf(out, "  cpu: client %.2f s", ri->client_cpu_s);
	if (ri->server_cpu_s >= 0) {
		fprintf(out, ", server %.2f s (pid %d)", ri->server_cpu_s, o->server_pid);
		if (ios)
			fprintf(out, " = %.2f s per million I/O", ri->server_cpu_s * 1e6 / (double)ios);
	}
	fprintf(out, "\n");
	if (o->jobs < 2)
		return;
	for (unsigned i = 0; i < o->jobs; i++) {
		const struct perf_stats *st = &jobs[i].st;
		static struct perf_hist h;
		perf_hist_reset(&h);
		perf_hist_merge(&h, &st->lat[0]);
		perf_hist_merge(&h, &st->lat[1]);
		double js = st->end_ns > st->begin_ns ? (double)(st->end_ns - st->begin_ns) / 1e9 : 0;
		uint64_t n = st->ios[0] + st->ios[1];
		fprintf(out, "  job %u", i);
		if (jobs[i].cpu >= 0)
			fprintf(out, " (cpu %d)", jobs[i].cpu);
		fprintf(out, ": IOPS=%.0f, avg=%.2f us, p99=%.2f us, errors=%llu\n", rate(n, js),
			perf_hist_mean(&h) / 1e3, (double)perf_hist_percentile(&h, 99) / 1e3,
			(unsigned long long)(st->io_errors + st->verify_errors));
	}
}

/* ---- JSON ------------------------------------------------------------------------ */

static json_t *lat_json(const struct perf_hist *h)
{
	json_t *l = json_object();
	json_object_set_new(l, "min", json_real(h->count ? (double)h->min / 1e3 : 0));
	json_object_set_new(l, "avg", json_real(perf_hist_mean(h) / 1e3));
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		json_object_set_new(l, pct_keys[i], json_real((double)perf_hist_percentile(h, pcts[i]) / 1e3));
	json_object_set_new(l, "max", json_real((double)h->max / 1e3));
	return l;
}

/* iops, mib_s, lat_us, ios of one direction or of all. */
static json_t *perf_json(uint64_t ios, const struct perf_hist *h, uint32_t bs, double s)
{
	json_t *o = json_object();
	json_object_set_new(o, "ios", json_integer((json_int_t)ios));
	json_object_set_new(o, "iops", json_real(rate(ios, s)));
	json_object_set_new(o, "mib_s", json_real(mib_s(ios, bs, s)));
	json_object_set_new(o, "lat_us", lat_json(h));
	return o;
}

/* The common keys of the total and of each job, from a summary. */
static json_t *summary_json(const struct perf_summary *s, uint32_t bs)
{
	json_t *o = perf_json(s->ios[0] + s->ios[1], &s->all, bs, s->seconds);
	json_object_set_new(o, "runtime_s", json_real(s->seconds));
	json_object_set_new(o, "errors", json_integer((json_int_t)(s->io_errors + s->verify_errors)));
	json_object_set_new(o, "io_errors", json_integer((json_int_t)s->io_errors));
	json_object_set_new(o, "verify_errors", json_integer((json_int_t)s->verify_errors));
	json_object_set_new(o, "verify_checked", json_integer((json_int_t)s->verify_checked));
	json_object_set_new(o, "verify_unwritten", json_integer((json_int_t)s->verify_unwritten));
	json_object_set_new(o, "notifications",
			    json_pack("{s:I, s:I, s:I}", "sent", (json_int_t)s->notif.notifies,
				      "suppressed", (json_int_t)s->notif.notifies_skipped,
				      "interrupts", (json_int_t)s->notif.irqs));
	if (s->ios[0])
		json_object_set_new(o, "read", perf_json(s->ios[0], &s->lat[0], bs, s->seconds));
	if (s->ios[1])
		json_object_set_new(o, "write", perf_json(s->ios[1], &s->lat[1], bs, s->seconds));
	return o;
}

int perf_report_json(FILE *out, const struct perf_opts *o, const struct perf_target *t,
		     const struct perf_job *jobs, const struct perf_run_info *ri)
{
	struct perf_summary *s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	perf_summarize(jobs, o->jobs, s);
	uint64_t ios = s->ios[0] + s->ios[1];
	json_t *root = summary_json(s, o->bs);
	json_object_set_new(root, "target", json_string(t->desc));
	json_object_set_new(root, "workload", json_string(perf_workload_name(o->workload)));
	if (o->workload == PERF_W_RANDRW)
		json_object_set_new(root, "rwmixread", json_integer(o->rwmixread));
	json_object_set_new(root, "bs", json_integer(o->bs));
	json_object_set_new(root, "iodepth", json_integer(o->qd));
	json_object_set_new(root, "numjobs", json_integer(o->jobs));
	json_object_set_new(root, "interrupts", json_boolean(o->interrupts));
	json_object_set_new(root, "verify", json_boolean(o->verify));
	char clk[48];
	json_object_set_new(root, "clock", json_string(perf_clock_desc(clk, sizeof(clk))));
	json_object_set_new(root, "ramp_s", json_real(o->ramp_s));
	json_object_set_new(root, "client_cpu_s", json_real(ri->client_cpu_s));
	if (ri->server_cpu_s >= 0) {
		json_object_set_new(root, "server_pid", json_integer(o->server_pid));
		json_object_set_new(root, "server_cpu_s", json_real(ri->server_cpu_s));
		json_object_set_new(root, "server_cpu_s_per_mio",
				    json_real(ios ? ri->server_cpu_s * 1e6 / (double)ios : 0));
	}
	json_t *arr = json_array();
	for (unsigned i = 0; i < o->jobs; i++) {
		perf_summarize(&jobs[i], 1, s);
		json_t *j = summary_json(s, o->bs);
		json_object_set_new(j, "job", json_integer(i));
		json_object_set_new(j, "cpu", json_integer(jobs[i].cpu));
		json_array_append_new(arr, j);
	}
	json_object_set_new(root, "jobs", arr);
	free(s);
	char *txt = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	json_decref(root);
	if (!txt)
		return -ENOMEM;
	fprintf(out, "%s\n", txt);
	free(txt);
	return 0;
}

/* ---- progress ----------------------------------------------------------------------- */

void perf_report_progress(FILE *out, const char *phase, double done_s, double total_s,
			  uint64_t ios, double dt, uint32_t bs, uint64_t errors)
{
	double iops = rate(ios, dt);
	fprintf(out, "\r\033[K[%s %.0f", phase, done_s);
	if (total_s > 0)
		fprintf(out, "/%.0f", total_s);
	fprintf(out, " s] %.1fk IOPS, %.1f MiB/s, errors %llu", iops / 1e3, iops * bs / 1048576.0,
		(unsigned long long)errors);
	fflush(out);
}

void perf_report_progress_end(FILE *out)
{
	fprintf(out, "\r\033[K");
	fflush(out);
}
