/* CPU time of osnap-perf itself and of another process (the server under
 * test), for cost-per-I/O figures. */
#ifndef OSNAP_PERF_CPU_H
#define OSNAP_PERF_CPU_H

/* User + system CPU seconds this process has used. */
double perf_self_cpu_s(void);

/* User + system CPU seconds process pid has used (all its threads), from
 * /proc/PID/stat. Returns 0 or a negative errno. */
int perf_proc_cpu_s(int pid, double *s);

#endif
