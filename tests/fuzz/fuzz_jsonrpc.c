/* libFuzzer target: the JSON-RPC request path (framing, parsing, request
 * validation, dispatch and params decoding of every registered method).
 *
 * The first input byte chooses how the rest is split into reads, so the
 * framer sees values cut at every position. Objects created by an input
 * (bdevs) are removed after it, so inputs stay independent. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bdev/bdev.h"
#include "core/log.h"
#include "core/thread.h"
#include "rpc/jsonrpc_session.h"
#include "rpc/rpc.h"
#include "service/service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink(struct rpc_session *s, const char *buf, size_t len)
{
	(void)s;
	(void)buf;
	(void)len;
}

static const struct rpc_session_ops ops = { .write = sink };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct rpc_session s;

	if (!init) {
		log_set_level(LOG_CRIT);
		thread_lib_init();
		rpc_tables_register();
		init = 1;
	}
	if (size < 1)
		return 0;
	log_set_level(LOG_CRIT);	/* an input may have raised it (log_set_level) */
	size_t chunk = data[0] ? data[0] : size;
	/* half the inputs run before framework_start_init */
	rpc_set_state((data[0] & 1) ? RPC_STARTUP : RPC_RUNTIME);
	data++;
	size--;
	rpc_session_init(&s, &ops, NULL);
	while (size) {
		size_t n = size < chunk ? size : chunk;
		if (rpc_session_feed(&s, (const char *)data, n))
			break;
		data += n;
		size -= n;
	}
	/* framework_wait_init requests wait for an init that may never come
	 * within this input: answer them while the session still exists */
	framework_cancel_waiters();
	rpc_session_close(&s);
	bdev_unregister_all();
	return 0;
}
