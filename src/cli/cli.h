/* The osnap-rpc command-line grammar, as a library.
 *
 * One table entry per method, parsing a command line the way SPDK's
 * rpc.py / DOCA SNAP's snap_rpc.py (argparse) do, and building the JSON
 * params they would send. Used by tools/osnap-rpc and by osnapd to replay
 * init files (--init-rpc) line by line. No I/O except the help text. */
#ifndef OSNAP_CLI_H
#define OSNAP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

/* Build the request for argv[0] = METHOD, argv[1..] = its arguments.
 * Returns:
 *   0  success: *method points at the method name (static storage), *params
 *      is a new JSON object, or NULL when the method sends no params;
 *   1  -h/--help was given: the method's help was written to help_out;
 *  -EINVAL  usage error: an argparse-like message is in err;
 *  -ENOENT  unknown method: message in err. */
int cli_parse_command(int argc, char **argv, const char **method, json_t **params,
		      char *err, size_t errlen, FILE *help_out);

/* Split one line of an init file into words, with sh-like quoting ('..', "..",
 * backslash) and '#' comments. A leading "snap_rpc.py", "spdk_rpc.py",
 * "rpc.py" or "osnap-rpc" word (with any directory) is dropped, so seed lines
 * work as written. Returns 0 (argc may be 0 for blank/comment lines) or
 * -EINVAL for unbalanced quotes. Free with cli_free_argv(). */
int cli_split_line(const char *line, int *argc, char ***argv);
void cli_free_argv(int argc, char **argv);

bool cli_method_known(const char *method);
/* What osnapd still lacks to serve a method the CLI knows (shown by -h and
 * answered by osnapd with -95), or NULL when it is served. */
const char *cli_method_missing(const char *method);
/* The known method closest to a mistyped name, or NULL when none is close. */
const char *cli_method_suggest(const char *name);
/* Edit distance (insert, delete, substitute, swap two neighbours). */
size_t cli_edit_distance(const char *a, const char *b);
/* Whether name is close enough to typed to be suggested; *dist: the distance. */
bool cli_name_close(const char *typed, const char *name, size_t *dist);
/* One line per method: "name  summary". */
void cli_list_methods(FILE *out);

#endif
