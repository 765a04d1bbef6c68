/* osnap-rpc: the command line of osnapd, also installed as snap_rpc.py and
 * spdk_rpc.py so that scripts written for DOCA SNAP and SPDK run unchanged.
 *
 *   osnap-rpc [-s SOCKET] [-t TIMEOUT] [-v] [--dry-run] [-r|--raw] METHOD [ARGS]
 *
 * Global options come before METHOD; everything after it belongs to the
 * method (src/cli parses it). One JSON-RPC 2.0 request is sent, one reply
 * read, and its result printed as JSON (indent 2). Exit status: 0 success,
 * 1 error reply / connection failure / unknown method, 2 usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rpc_client.h"

#define DEFAULT_SOCKET "/var/run/osnap/osnap.sock"	/* osnapd's default */
#define DEFAULT_TIMEOUT 60.0

struct global_opts {
	const char *sock;
	double timeout;
	bool verbose;
	bool dry_run;
	bool raw;
};

static const char *prog_name(const char *argv0)
{
	const char *s = argv0 ? strrchr(argv0, '/') : NULL;

	return s ? s + 1 : (argv0 ? argv0 : "osnap-rpc");
}

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [-s SOCKET] [-t TIMEOUT] [-v] [--dry-run] [-r|--raw] METHOD [ARGS]\n"
		"\n"
		"Send one JSON-RPC request to osnapd and print the result.\n"
		"\n"
		"options (before METHOD):\n"
		"  -s SOCKET      RPC socket (default $OSNAP_RPC_SOCKET, else " DEFAULT_SOCKET ")\n"
		"  -t TIMEOUT     seconds to wait for the response (float, default 60)\n"
		"  -v             print the request and the response on stderr\n"
		"  --dry-run      print the request and exit without connecting\n"
		"  -r, --raw      METHOD [PARAMS_JSON | -]: send PARAMS_JSON (or stdin) unchecked\n"
		"  --plugin NAME  accepted for rpc.py compatibility, ignored\n"
		"  -h, --help     show this help; 'METHOD -h' shows the help of a method\n"
		"\n"
		"methods:\n", prog);
	cli_list_methods(out);
}

static int parse_timeout(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return (errno || end == s || *end || *out < 0) ? -EINVAL : 0;
}

/* The value of option argv[*i] (attached as "-sVALUE" or the next word). */
static const char *option_value(int argc, char **argv, int *i, size_t optlen)
{
	const char *a = argv[*i];

	if (a[optlen] == '=')
		return a + optlen + 1;
	if (a[optlen] != '\0')
		return a + optlen;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static bool is_opt(const char *a, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return false;
	/* "-s" also matches "-sPATH"; long options match "--name=VALUE" */
	return a[n] == '\0' || a[n] == '=' || (name[1] != '-' && n == 2);
}

/* Parse the global options; returns the index of METHOD, or -1 (exit 0
 * after help) / -2 (usage error, message printed). */
static int parse_globals(int argc, char **argv, struct global_opts *g, const char *prog)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		if (a[0] != '-' || strcmp(a, "-") == 0)
			break;
		if (strcmp(a, "--") == 0)
			return i + 1;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout, prog);
			return -1;
		}
		if (strcmp(a, "-v") == 0) {
			g->verbose = true;
		} else if (strcmp(a, "--dry-run") == 0) {
			g->dry_run = true;
		} else if (strcmp(a, "-r") == 0 || strcmp(a, "--raw") == 0) {
			g->raw = true;
		} else if (is_opt(a, "-s") || is_opt(a, "-t") || is_opt(a, "-p") ||
			   is_opt(a, "--plugin") || is_opt(a, "--verbose")) {
			size_t optlen = strncmp(a, "--plugin", 8) == 0 ? 8 :
					strncmp(a, "--verbose", 9) == 0 ? 9 : 2;

			v = option_value(argc, argv, &i, optlen);
			if (!v) {
				fprintf(stderr, "%s: error: option %.*s expects a value\n", prog,
					(int)optlen, a);
				return -2;
			}
			if (a[1] == 's') {
				g->sock = v;
			} else if (a[1] == 't') {
				if (parse_timeout(v, &g->timeout)) {
					fprintf(stderr, "%s: error: -t: invalid float value: '%s'\n", prog, v);
					return -2;
				}
			} else if (optlen == 9) {
				g->verbose = true;
			}
			/* -p PORT and --plugin NAME: nothing to do */
		} else {
			fprintf(stderr, "%s: error: unknown option '%s' (global options go before METHOD; "
				"see %s -h)\n", prog, a, prog);
			return -2;
		}
	}
	if (i >= argc) {
		usage(stderr, prog);
		fprintf(stderr, "%s: error: no METHOD given\n", prog);
		return -2;
	}
	return i;
}

static json_t *read_stdin_json(char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j = json_loadf(stdin, JSON_DECODE_ANY, &jerr);

	if (!j)
		snprintf(err, errlen, "invalid params JSON on stdin: %s (line %d)", jerr.text, jerr.line);
	return j;
}

/* --raw: params taken as given. Returns 0, or 2 (usage error). */
static int raw_params(int argc, char **argv, json_t **params, const char *prog)
{
	char err[512];
	json_error_t jerr;

	*params = NULL;
	if (argc > 2) {
		fprintf(stderr, "%s: error: --raw takes METHOD and at most one PARAMS_JSON\n", prog);
		return 2;
	}
	if (argc < 2)
		return 0;
	if (strcmp(argv[1], "-") == 0) {
		*params = read_stdin_json(err, sizeof(err));
		if (!*params) {
			fprintf(stderr, "%s: error: %s\n", prog, err);
			return 2;
		}
		return 0;
	}
	*params = json_loads(argv[1], JSON_DECODE_ANY, &jerr);
	if (!*params) {
		fprintf(stderr, "%s: error: invalid params JSON: %s (column %d)\n", prog, jerr.text,
			jerr.column);
		return 2;
	}
	return 0;
}

static void print_json(FILE *out, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);

	if (s) {
		fprintf(out, "%s\n", s);
		free(s);
	}
}

/* Print the result or the error of a reply; returns the exit status. */
static int print_response(json_t *resp, const char *prog)
{
	json_t *error, *result;

	if (!json_is_object(resp)) {
		fprintf(stderr, "%s: error: the response is not a JSON object\n", prog);
		return 1;
	}
	error = json_object_get(resp, "error");
	if (error) {
		json_t *data = json_object_get(error, "data");
		const char *msg = json_string_value(json_object_get(error, "message"));

		fprintf(stderr, "error: %lld: %s\n",
			(long long)json_integer_value(json_object_get(error, "code")),
			msg ? msg : "(no message)");
		if (data) {
			fprintf(stderr, "data: ");
			print_json(stderr, data);
		}
		return 1;
	}
	result = json_object_get(resp, "result");
	if (!result) {
		fprintf(stderr, "%s: error: the response has neither result nor error\n", prog);
		return 1;
	}
	print_json(stdout, result);
	return 0;
}

int main(int argc, char **argv)
{
	struct global_opts g = { .sock = DEFAULT_SOCKET, .timeout = DEFAULT_TIMEOUT };
	const char *prog = prog_name(argv[0]);
	const char *env_sock = getenv("OSNAP_RPC_SOCKET");

	/* scripts written for the default socket (SNAP's, as printed) reach
	 * another osnapd without editing: -s still wins */
	if (env_sock && *env_sock)
		g.sock = env_sock;
	const char *method = NULL;
	json_t *params = NULL, *req, *resp = NULL;
	char err[1024];
	int mi, rc;

	mi = parse_globals(argc, argv, &g, prog);
	if (mi == -1)
		return 0;
	if (mi < 0)
		return 2;
	if (g.raw) {
		method = argv[mi];
		rc = raw_params(argc - mi, argv + mi, &params, prog);
		if (rc)
			return rc;
	} else {
		rc = cli_parse_command(argc - mi, argv + mi, &method, &params, err, sizeof(err), stdout);
		if (rc == 1)
			return 0;
		if (rc == -ENOENT) {
			fprintf(stderr, "%s\n(%s -h lists the methods; %s --raw METHOD [JSON] sends any)\n",
				err, prog, prog);
			return 1;
		}
		if (rc) {
			fprintf(stderr, "%s\n(see %s %s -h)\n", err, prog, argv[mi]);
			return 2;
		}
	}

	req = json_pack("{s:s, s:s, s:i}", "jsonrpc", "2.0", "method", method, "id", 1);
	if (!req || (params && json_object_set_new(req, "params", params))) {
		fprintf(stderr, "%s: error: out of memory\n", prog);
		return 1;
	}
	if (g.dry_run) {
		print_json(stdout, req);
		json_decref(req);
		return 0;
	}
	if (g.verbose) {
		fprintf(stderr, "request:\n");
		print_json(stderr, req);
	}
	rc = rpc_client_call(g.sock, g.timeout, req, &resp, err, sizeof(err));
	json_decref(req);
	if (rc) {
		fprintf(stderr, "%s: error: %s\n", prog, err);
		return 1;
	}
	if (g.verbose) {
		fprintf(stderr, "response:\n");
		print_json(stderr, resp);
	}
	rc = print_response(resp, prog);
	json_decref(resp);
	return rc;
}
