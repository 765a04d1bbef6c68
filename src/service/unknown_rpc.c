/* The answer to a method osnapd has no handler for: -95 naming what is
 * missing when the CLI knows the method (it is planned), else "Method not
 * found" with the closest served or known name. */
#include "service.h"
#include "cli/cli.h"
#include "rpc/rpc.h"

#include <errno.h>
#include <stdio.h>

struct closest {
	const char *typed;
	const char *best;
	size_t dist;
};

static void consider(const struct rpc_method *m, void *arg)
{
	struct closest *c = arg;
	size_t d;

	if (cli_name_close(c->typed, m->name, &d) && d < c->dist) {
		c->best = m->name;
		c->dist = d;
	}
}

static void answer_unknown(struct rpc_request *req, const char *name)
{
	const char *missing = cli_method_missing(name);

	if (missing) {
		rpc_send_errno(req, -EOPNOTSUPP, "%s is not served by osnap yet: it needs %s", name, missing);
		return;
	}
	struct closest c = { .typed = name, .best = NULL, .dist = (size_t)-1 };
	rpc_foreach_method(consider, &c);
	const char *known = cli_method_suggest(name);
	size_t kd;
	if (known && cli_name_close(name, known, &kd) && kd < c.dist)
		c.best = known;
	if (c.best)
		rpc_send_error(req, RPC_METHOD_NOT_FOUND, "Method not found: %s; did you mean %s?", name, c.best);
	else
		rpc_send_error(req, RPC_METHOD_NOT_FOUND, "Method not found: %s", name);
}

void unknown_rpc_register(void)
{
	rpc_set_unknown_handler(answer_unknown);
}
