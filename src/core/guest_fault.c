/* SIGBUS in client memory becomes the client's failure; see guest_fault.h. */
#include "guest_fault.h"
#include "event_loop.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

/* Every DMA region of every function may be watched at once: enough for
 * 16 fully mapped functions (512 regions each) or many more usual ones. */
#define SLOTS 8192

struct slot {
	/* read by the signal handler on any thread: start != 0 publishes the
	 * slot (release after len, cb and arg are set) */
	_Atomic uintptr_t start;
	_Atomic size_t len;
	atomic_int faulted;
	void (*cb)(void *arg);
	void *arg;
};

static struct slot g_slots[SLOTS];
static int g_efd = -1;
static struct loop_fd *g_lf;
static struct sigaction g_prev;
static bool g_installed;
static long g_page;

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	int saved = errno;
	(void)uctx;
	for (int i = 0; i < SLOTS; i++) {
		/* acquire: pairs with the release publishing the slot */
		uintptr_t s = atomic_load_explicit(&g_slots[i].start, memory_order_acquire);
		if (!s || a < s || a - s >= atomic_load_explicit(&g_slots[i].len, memory_order_relaxed))
			continue;
		/* mmap is async-signal-safe: put a private zero page where the
		 * client's file ended, so that the access can be retried */
		void *p = (void *)(a & ~(uintptr_t)(g_page - 1));
		if (mmap(p, (size_t)g_page, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
			break;	/* e.g. a huge page mapping: nothing we can do */
		atomic_store(&g_slots[i].faulted, 1);
		uint64_t one = 1;
		ssize_t w = write(g_efd, &one, sizeof(one));
		(void)w;
		errno = saved;
		return;
	}
	/* not client memory: a real bug; the previous action (default: core
	 * dump, or a sanitizer's report) takes it when the access repeats */
	sigaction(sig, &g_prev, NULL);
	errno = saved;
}

static void on_notify(void *arg, uint32_t events)
{
	uint64_t n;
	(void)arg;
	(void)events;
	ssize_t r = read(g_efd, &n, sizeof(n));
	(void)r;
	for (int i = 0; i < SLOTS; i++) {
		if (!atomic_exchange(&g_slots[i].faulted, 0))
			continue;
		if (atomic_load(&g_slots[i].start) && g_slots[i].cb)
			g_slots[i].cb(g_slots[i].arg);
	}
}

int guest_fault_init(void)
{
	if (g_installed)
		return 0;
	g_page = sysconf(_SC_PAGESIZE);
	g_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g_efd < 0)
		return -errno;
	g_lf = loop_add_fd(g_efd, EPOLLIN, on_notify, NULL);
	if (!g_lf) {
		int e = errno;
		close(g_efd);
		g_efd = -1;
		return -e;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &g_prev) < 0) {
		int e = errno;
		loop_del_fd(g_lf);
		close(g_efd);
		g_efd = -1;
		return -e;
	}
	g_installed = true;
	return 0;
}

void guest_fault_fini(void)
{
	if (!g_installed)
		return;
	sigaction(SIGBUS, &g_prev, NULL);
	loop_del_fd(g_lf);
	close(g_efd);
	g_efd = -1;
	g_installed = false;
}

int guest_fault_watch(void *hva, size_t len, void (*cb)(void *arg), void *arg)
{
	if (!hva || !len)
		return -EINVAL;
	for (int i = 0; i < SLOTS; i++) {
		if (atomic_load_explicit(&g_slots[i].start, memory_order_relaxed))
			continue;
		g_slots[i].cb = cb;
		g_slots[i].arg = arg;
		atomic_store(&g_slots[i].faulted, 0);
		atomic_store_explicit(&g_slots[i].len, len, memory_order_relaxed);
		/* release: len, cb and arg are set before the handler sees it */
		atomic_store_explicit(&g_slots[i].start, (uintptr_t)hva, memory_order_release);
		return i;
	}
	log_warn("guest memory fault watch: all %d slots taken", SLOTS);
	return -ENOSPC;
}

void guest_fault_unwatch(int id)
{
	if (id < 0 || id >= SLOTS)
		return;
	atomic_store(&g_slots[id].start, 0);
	atomic_store(&g_slots[id].faulted, 0);
	g_slots[id].cb = NULL;
	g_slots[id].arg = NULL;
}
