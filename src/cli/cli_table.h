/* Private to src/cli: the shape of the per-method option tables.
 *
 * A method is a list of options and positional arguments, described the
 * way argparse's add_argument() would describe them, plus an optional hook
 * that rewrites the params the way SPDK's rpc.py does before sending
 * (bdev_malloc_create turns total_size/block_size into num_blocks). */
#ifndef OSNAP_CLI_TABLE_H
#define OSNAP_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

enum cli_type {
	CLI_STRING,	/* any text */
	CLI_INT,	/* decimal or 0x hex, optional sign -> JSON integer */
	CLI_FLOAT,	/* -> JSON real */
	CLI_TRUE,	/* store_true: JSON true when given, omitted otherwise */
	CLI_FALSE,	/* store_false: JSON false when given, omitted otherwise */
	CLI_FLAG01,	/* SNAP "0/1" switch: bare -> true, "--x 0" -> integer 0 */
	CLI_KV,		/* repeatable "key=value" -> one JSON object of strings
			 * (rpc.py's action='append' config options) */
};

enum {
	CLI_REQ = 1u << 0,	/* must be given */
	CLI_POS = 1u << 1,	/* positional argument (name is in .lname) */
};

struct cli_opt {
	const char *sname;	/* short form ("-c", "-sn"), or NULL */
	const char *lname;	/* long form ("--ctrl"), or the positional's name */
	const char *key;	/* JSON key, or NULL for options not sent */
	enum cli_type type;
	unsigned flags;		/* CLI_REQ, CLI_POS */
	const char *choices;	/* "a|b|c": the only values accepted, or NULL */
	const char *def;	/* default sent when absent (text, parsed by type), or NULL */
	const char *help;
};

/* Rewrites params after parsing (SPDK rpc.py transformations). Returns 0, or
 * -EINVAL with an argparse-like message (without the "METHOD: error: "
 * prefix) in err. */
typedef int (*cli_xform_fn)(json_t *params, char *err, size_t errlen);

struct cli_method {
	const char *name;
	const char *summary;
	const struct cli_opt *opts;
	size_t nopts;
	cli_xform_fn xform;
	const char *missing;	/* not served yet: what osnapd lacks (NULL: served) */
};

/* The method table (cli_methods.c). */
extern const struct cli_method cli_method_table[];
extern const size_t cli_method_count;

/* Look a method up by exact name; NULL when unknown. */
const struct cli_method *cli_method_find(const char *name);

/* Help text (cli_help.c). */
void cli_print_method_help(const struct cli_method *m, FILE *out);
/* "-n/--nsid" or "block_size": how argparse names an argument in errors. */
void cli_opt_display(const struct cli_opt *o, char *buf, size_t len);

/* Transformations (cli_xform.c). */
int cli_xform_malloc_create(json_t *params, char *err, size_t errlen);
int cli_xform_null_create(json_t *params, char *err, size_t errlen);

/* Text helpers shared by the parser and the splitter (cli_parse.c). */
/* Parse an int the CLI way: optional sign, decimal or 0x hex, whole string. */
bool cli_parse_int(const char *s, long long *out);
/* If s starts with a typographic dash (U+2013 en dash, U+2014 em dash) return
 * a new string where it is replaced by "-" (en) or "--" (em); else NULL. */
char *cli_fix_dash(const char *s);

#endif
