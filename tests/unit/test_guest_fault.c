/* A client truncating the memory it shares: the SIGBUS of the next access
 * is turned into a zero page and a callback on the main thread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/event_loop.h"
#include "core/guest_fault.h"

static int g_calls;
static void *g_arg_seen;

static void on_fault(void *arg)
{
	g_calls++;
	g_arg_seen = arg;
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(loop_init(), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	loop_fini();
	return 0;
}

/* cmocka installs its own SIGBUS handler around each test: put ours on
 * top of it inside the test (cmocka's stays the fallback). */
static void install(void)
{
	assert_int_equal(guest_fault_init(), 0);
}

static void uninstall(void)
{
	guest_fault_fini();
}

/* Run the main loop until the callback ran (or 5 s passed). */
static void wait_calls(int want)
{
	for (int i = 0; i < 50 && g_calls < want; i++)
		loop_run_once(100);
}

static uint8_t *shared_file(int *fd, size_t size)
{
	*fd = memfd_create("guest", 0);
	assert_true(*fd >= 0);
	assert_int_equal(ftruncate(*fd, (off_t)size), 0);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

static void test_truncated_page_becomes_zero_page(void **state)
{
	(void)state;
	long pg = sysconf(_SC_PAGESIZE);
	int fd;
	install();
	uint8_t *m = shared_file(&fd, 4 * (size_t)pg);
	memset(m, 0xab, 4 * (size_t)pg);
	int id = guest_fault_watch(m, 4 * (size_t)pg, on_fault, &fd);
	assert_true(id >= 0);
	g_calls = 0;
	/* the client shrinks its file: pages 2 and 3 are gone */
	assert_int_equal(ftruncate(fd, 2 * pg), 0);
	assert_int_equal(m[0], 0xab);			/* still the client's */
	assert_int_equal(m[2 * pg + 5], 0);		/* SIGBUS -> zero page */
	m[3 * pg] = 7;					/* and writable */
	assert_int_equal(m[3 * pg], 7);
	wait_calls(1);
	assert_true(g_calls >= 1);
	assert_ptr_equal(g_arg_seen, &fd);
	guest_fault_unwatch(id);
	munmap(m, 4 * (size_t)pg);
	close(fd);
	uninstall();
}

static void *touch_page(void *p)
{
	volatile uint8_t *b = p;
	b[0] = 1;	/* a reactor writing a completion, say */
	return (void *)(uintptr_t)b[0];
}

static void test_fault_on_another_thread(void **state)
{
	(void)state;
	long pg = sysconf(_SC_PAGESIZE);
	int fd;
	install();
	uint8_t *m = shared_file(&fd, 2 * (size_t)pg);
	int id = guest_fault_watch(m, 2 * (size_t)pg, on_fault, NULL);
	assert_true(id >= 0);
	g_calls = 0;
	assert_int_equal(ftruncate(fd, 0), 0);
	pthread_t t;
	void *ret = NULL;
	assert_int_equal(pthread_create(&t, NULL, touch_page, m + pg), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_int_equal((uintptr_t)ret, 1);
	wait_calls(1);
	assert_int_equal(g_calls, 1);
	guest_fault_unwatch(id);
	munmap(m, 2 * (size_t)pg);
	close(fd);
	uninstall();
}

static void test_watch_bad_args_and_unwatch(void **state)
{
	(void)state;
	int x;
	assert_int_equal(guest_fault_watch(NULL, 4096, on_fault, NULL), -EINVAL);
	assert_int_equal(guest_fault_watch(&x, 0, on_fault, NULL), -EINVAL);
	guest_fault_unwatch(-1);		/* ignored */
	guest_fault_unwatch(1 << 30);		/* ignored */
	/* an unwatched range no longer calls back (the fault would be fatal:
	 * only check that slots are reused) */
	int a = guest_fault_watch(&x, sizeof(x), on_fault, NULL);
	assert_true(a >= 0);
	guest_fault_unwatch(a);
	int b = guest_fault_watch(&x, sizeof(x), on_fault, NULL);
	assert_int_equal(b, a);
	guest_fault_unwatch(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated_page_becomes_zero_page),
		cmocka_unit_test(test_fault_on_another_thread),
		cmocka_unit_test(test_watch_bad_args_and_unwatch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
