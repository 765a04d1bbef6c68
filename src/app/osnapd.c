/* osnapd: the osnap storage-emulation service. */
#include "bdev/bdev.h"
#include "bdev/modules/modules.h"
#include "core/cpumask.h"
#include "core/event_loop.h"
#include "core/guest_fault.h"
#include "core/log.h"
#include "core/params.h"
#include "core/thread.h"
#include "core/unix_socket.h"
#include "core/tick.h"
#include "emu/emu.h"
#include "nvme/nvme.h"
#include "virtio_blk/vblk.h"
#include "rpc/rpc.h"
#include "rpc/rpc_internal.h"
#include "rpc/rpc_server.h"
#include "service/service.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_RPC_DIR "/var/run/osnap"	/* only root writes there (checked) */
#define DEFAULT_RPC_SOCKET DEFAULT_RPC_DIR "/osnap.sock"
/* SNAP's RPC history file, one per instance: ".NAME" from the RPC socket's
 * file name (osnap.sock -> /var/log/snap-log/rpc-log.osnap) */
#define DEFAULT_RPC_LOG "/var/log/snap-log/rpc-log"
#define DEFAULT_RPC_LOG_SIZE (16ull << 20)
#define MAX_INIT_FILES 16
#define SHUTDOWN_DRAIN_MS 10000	/* SIGTERM: in-flight I/O gets this long to finish */

static struct {
	uint64_t cpumask;
	const char *rpc_socket;
	const char *init_files[MAX_INIT_FILES];
	int ninit;
	const char *json_file;
	bool wait_for_rpc;
	const char *rpc_log;		/* NULL: the default for this instance */
	uint64_t rpc_log_size;
	const char *emu_config;
} g_opts = { .cpumask = 0x1, .rpc_socket = DEFAULT_RPC_SOCKET, .rpc_log_size = DEFAULT_RPC_LOG_SIZE };

static int g_exit_code;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: osnapd [-c FILE] [-m MASK] [-r SOCKET] [--init-rpc FILE]... [--json FILE]\n"
		"              [--wait-for-rpc] [--log-level 0-5] [--rpc-log FILE]\n"
		"              [--rpc-log-size BYTES] [-V] [-h]\n"
		"osnap storage-device emulation service (NVMe and virtio-blk functions).\n\n"
		"  -c, --config FILE       emulation config (firmware parameters and EMU_* keys;\n"
		"                          default: one NVMe PF and one virtio-blk PF)\n"
		"  -m, --cpumask MASK      reactor cores, hex mask or list (default 0x1)\n"
		"  -r, --rpc-socket PATH   JSON-RPC Unix socket (default " DEFAULT_RPC_SOCKET ")\n"
		"      --init-rpc FILE     replay a file of osnap-rpc command lines at start\n"
		"                          (repeatable; as SNAP's snap_rpc_init.conf)\n"
		"      --json FILE         load a configuration written by save_config\n"
		"      --wait-for-rpc      serve only RPCs until framework_start_init\n"
		"      --log-level LEVEL   0 critical, 1 error, 2 warning, 3 info (default),\n"
		"                          4 debug, 5 trace\n"
		"      --rpc-log FILE      RPC history when SNAP_RPC_LOG_ENABLE=1 (default\n"
		"                          " DEFAULT_RPC_LOG ".NAME, NAME: the RPC socket's\n"
		"                          file name without .sock)\n"
		"      --rpc-log-size BYTES  rotate the RPC history past this size, keeping\n"
		"                          3 old files (default 16M; K, M, G suffixes)\n"
		"  -V, --version           print the version\n"
		"  -h, --help              this text\n");
}

/* "4096", "64K", "16M", "1G": 4 KiB .. 1 TiB */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	int shift = 0;
	if (*end) {
		const char *u = strchr("KMGT", *end & ~32);
		if (!u || end[1])
			return -1;
		shift = 10 * (int)(u - "KMGT" + 1);
	}
	if (v > (1ull << 40) >> shift)
		return -1;
	v <<= shift;
	if (v < 4096)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv)
{
	enum { O_INIT = 256, O_JSON, O_WAIT, O_LOG, O_RPCLOG, O_RPCLOGSIZE };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "cpumask", required_argument, NULL, 'm' },
		{ "rpc-socket", required_argument, NULL, 'r' },
		{ "init-rpc", required_argument, NULL, O_INIT },
		{ "json", required_argument, NULL, O_JSON },
		{ "wait-for-rpc", no_argument, NULL, O_WAIT },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "rpc-log", required_argument, NULL, O_RPCLOG },
		{ "rpc-log-size", required_argument, NULL, O_RPCLOGSIZE },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, lvl;

	while ((c = getopt_long(argc, argv, "c:m:r:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (cpumask_parse(optarg, &g_opts.cpumask)) {
				fprintf(stderr, "osnapd: invalid core mask '%s' (e.g. 0x3 or [0,1])\n", optarg);
				return -1;
			}
			break;
		case 'c':
			g_opts.emu_config = optarg;
			break;
		case 'r':
			g_opts.rpc_socket = optarg;
			break;
		case O_INIT:
			if (g_opts.ninit == MAX_INIT_FILES) {
				fprintf(stderr, "osnapd: at most %d --init-rpc files\n", MAX_INIT_FILES);
				return -1;
			}
			g_opts.init_files[g_opts.ninit++] = optarg;
			break;
		case O_JSON:
			g_opts.json_file = optarg;
			break;
		case O_WAIT:
			g_opts.wait_for_rpc = true;
			break;
		case O_LOG:
			lvl = log_parse_level(optarg);
			if (lvl < 0) {
				fprintf(stderr, "osnapd: invalid log level '%s' (0..5)\n", optarg);
				return -1;
			}
			log_set_level(lvl);
			break;
		case O_RPCLOG:
			g_opts.rpc_log = optarg;
			break;
		case O_RPCLOGSIZE:
			if (parse_size(optarg, &g_opts.rpc_log_size)) {
				fprintf(stderr, "osnapd: invalid --rpc-log-size '%s' (bytes, 4K..1T; K, M, G suffixes)\n",
					optarg);
				return -1;
			}
			break;
		case 'V':
			printf("osnapd " OSNAP_VERSION "\n");
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "osnapd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

/* framework_start_init: reactors, then the configuration files. */
static int app_init(char *err, size_t errlen)
{
	tick_init();	/* the per-I/O clock, before any I/O */
	int rc = reactors_start(g_opts.cpumask);
	if (rc) {
		snprintf(err, errlen, "cannot start reactors on core mask 0x%llx: %s",
			 (unsigned long long)g_opts.cpumask, strerror(-rc));
		return rc;
	}
	struct emu_config ecfg;
	emu_config_defaults(&ecfg);
	if (g_opts.emu_config) {
		rc = emu_config_load(&ecfg, g_opts.emu_config, err, errlen);
		if (rc)
			return rc;
	}
	/* adaptive doorbells: how long an idle reactor may doze */
	reactors_set_doze_max_us(ecfg.nvme_doze_max_us);
	rc = emu_init(&ecfg, err, errlen);
	if (rc)
		return rc;
	if (g_opts.json_file) {
		rc = config_load_json_file(g_opts.json_file, err, errlen);
		if (rc)
			return rc;
	}
	for (int i = 0; i < g_opts.ninit; i++) {
		rc = config_replay_init_file(g_opts.init_files[i], err, errlen);
		if (rc)
			return rc;
	}
	log_info("osnapd initialized");
	return 0;
}

/* Start the RPC server. The default socket's directory is made if missing
 * and refused when others could write there (a squatter would receive the
 * operator's RPCs); a socket given with -r is the operator's choice. */
static int rpc_listen(void)
{
	if (!strcmp(g_opts.rpc_socket, DEFAULT_RPC_SOCKET)) {
		char err[256];
		if (unix_socket_dir(DEFAULT_RPC_DIR, err, sizeof(err))) {
			log_err("RPC server: %s", err);
			fprintf(stderr, "osnapd: %s\n", err);
			if (geteuid() != 0)
				fprintf(stderr, "osnapd: not root: give -r SOCKET in a directory of yours, and EMU_DIR=DIR "
					"in a -c FILE (or use make run, which does)\n");
			return -EACCES;
		}
	}
	return rpc_server_start(g_opts.rpc_socket);
}

static void on_signal(void *arg, uint32_t events)
{
	int fd = *(int *)arg;
	struct signalfd_siginfo si;
	(void)events;
	if (read(fd, &si, sizeof(si)) == sizeof(si)) {
		log_info("signal %d received: shutting down", (int)si.ssi_signo);
		loop_stop();
	}
}

static bool any_bdev_open(void)
{
	for (struct bdev *b = bdev_first(); b; b = bdev_next(b))
		if (b->open_count)
			return true;
	return false;
}

/* controllers whose shutdown suspend has not answered yet */
static int g_draining;

static void drained_one(void *arg, int rc, const char *msg)
{
	(void)arg;
	if (rc)
		log_warn("shutdown: %s", msg ? msg : strerror(-rc));
	g_draining--;
}

/* Suspend every controller: nothing new is fetched from the guests' queues,
 * and what was fetched completes to them while their connections are still
 * up (the guest sees its started I/O finish). Waits until deadline at most. */
static void drain_controllers(uint64_t deadline)
{
	uint64_t t0 = now_ns();
	int n = 0;
	uint32_t left_ms = (uint32_t)((deadline - t0) / 1000000u);
	for (struct nvme_ctrl *c = nvme_ctrl_first(); c; c = nvme_ctrl_next(c), n++) {
		g_draining++;
		nvme_ctrl_suspend(c, left_ms ? left_ms : 1, false, drained_one, NULL);
	}
	for (struct vblk_ctrl *c = vblk_ctrl_first(); c; c = vblk_ctrl_next(c), n++) {
		g_draining++;
		vblk_ctrl_suspend(c, drained_one, NULL);
	}
	while (g_draining > 0 && now_ns() < deadline)
		loop_run_once(10);
	if (g_draining > 0)
		log_warn("shutdown: %d of %d controllers still had I/O in flight after %d ms; closing anyway",
			 g_draining, n, SHUTDOWN_DRAIN_MS);
	else
		log_info("shutdown: %d controllers suspended, their I/O in flight completed in %llu ms", n,
			 (unsigned long long)((now_ns() - t0) / 1000000u));
}

/* Stop accepting RPCs, let I/O already started finish (bounded), then close
 * the connections and stop the reactors. */
static void app_shutdown(void)
{
	uint64_t deadline = now_ns() + (uint64_t)SHUTDOWN_DRAIN_MS * 1000000u;
	rpc_server_stop();
	/* no new I/O; what the controllers fetched completes to the clients */
	drain_controllers(deadline);
	/* then the clients go */
	emu_stop_clients();
	nvme_shutdown_all();
	vblk_shutdown_all();
	while (any_bdev_open() && now_ns() < deadline)
		loop_run_once(10);
	if (any_bdev_open())
		log_warn("I/O still in flight after %d ms; stopping anyway", SHUTDOWN_DRAIN_MS);
	reactors_stop();
	/* what reactors sent back on their way out (grace periods) */
	while (thread_process_msgs(1024) > 0)
		;
	emu_fini();
	while (thread_process_msgs(1024) > 0)
		;
	bdev_nvme_shutdown();
	bdev_unregister_all();
#ifdef OSNAP_HAVE_RBD
	bdev_rbd_fini();
#endif
	rpc_log_close();
}

static void open_log_file(void)
{
	const char *path = param_str(P_SNAP_LOG_FILE);
	if (!*path)
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		log_warn("cannot open SNAP_LOG_FILE %s: %s", path, strerror(errno));
	else
		log_set_fd(fd);
}

static void open_rpc_log(void)
{
	if (!param_int(P_SNAP_RPC_LOG_ENABLE))
		return;
	static char def[256];	/* kept: g_opts.rpc_log points at it */
	char dir[256];
	if (!g_opts.rpc_log) {
		const char *base = strrchr(g_opts.rpc_socket, '/');
		base = base ? base + 1 : g_opts.rpc_socket;
		size_t n = strlen(base);
		if (n > 5 && !strcmp(base + n - 5, ".sock"))
			n -= 5;
		snprintf(def, sizeof(def), "%s.%.*s", DEFAULT_RPC_LOG, (int)n, base);
		g_opts.rpc_log = def;
	}
	snprintf(dir, sizeof(dir), "%s", g_opts.rpc_log);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);	/* one level, as /var/log/snap-log */
	}
	rpc_log_open(g_opts.rpc_log, g_opts.rpc_log_size);
	log_info("RPC history in %s", g_opts.rpc_log);
}

int main(int argc, char **argv)
{
	char err[1024];
	int sfd;
	struct loop_fd *sig_lf;
	sigset_t set;

	if (parse_args(argc, argv))
		return 2;
	if (params_load(NULL, err, sizeof(err))) {
		fprintf(stderr, "osnapd: %s\n", err);
		return 1;
	}
	open_log_file();
	signal(SIGPIPE, SIG_IGN);
	/* Block the stop signals before any thread starts, so they all inherit
	 * the mask and the signals reach only the main loop's signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

	if (thread_lib_init() || loop_init() || sfd < 0) {
		fprintf(stderr, "osnapd: cannot initialise: %s\n", strerror(errno));
		return 1;
	}
	sig_lf = loop_add_fd(sfd, EPOLLIN, on_signal, &sfd);
	if (!sig_lf) {
		fprintf(stderr, "osnapd: cannot watch signals: %s\n", strerror(errno));
		return 1;
	}
	/* a client truncating the memory it shares must not kill the service */
	if (guest_fault_init()) {
		fprintf(stderr, "osnapd: cannot install the SIGBUS handler: %s\n", strerror(errno));
		return 1;
	}
	rpc_tables_register();
	framework_set_init(app_init);
	open_rpc_log();
	log_info("osnapd " OSNAP_VERSION " starting (core mask 0x%llx)",
		 (unsigned long long)g_opts.cpumask);

	if (g_opts.wait_for_rpc) {
		rpc_set_state(RPC_STARTUP);
		if (rpc_listen()) {
			g_exit_code = 1;
			goto out;
		}
		log_info("waiting for framework_start_init");
	} else {
		if (framework_init(err, sizeof(err))) {
			log_err("start-up failed: %s", err);
			fprintf(stderr, "osnapd: %s\n", err);
			g_exit_code = 1;
			goto out;
		}
		if (rpc_listen()) {
			g_exit_code = 1;
			goto out;
		}
	}
	/* loop_run(), with the deferred framework_start_init between rounds
	 * (never from inside a loop callback: see service.h) */
	while (!loop_stopping()) {
		loop_run_once(-1);
		if (framework_init_pending() && !loop_stopping())
			framework_run_pending_init(false);
	}
	framework_run_pending_init(true);
	framework_cancel_waiters();
out:
	app_shutdown();
	loop_del_fd(sig_lf);	/* freed by loop_fini */
	loop_fini();
	thread_lib_fini();
	close(sfd);
	log_info("osnapd stopped");
	return g_exit_code;
}
