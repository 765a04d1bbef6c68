/* libFuzzer target: the osnap-rpc grammar (line splitting and argument
 * parsing of every method), as osnapd's --init-rpc replay meets it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	char *line = malloc(size + 1);
	int argc;
	char **argv;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (cli_split_line(line, &argc, &argv) == 0) {
		const char *method;
		json_t *params = NULL;
		char err[256];
		if (argc > 0 &&
		    cli_parse_command(argc, argv, &method, &params, err, sizeof(err), devnull) == 0)
			json_decref(params);
		cli_free_argv(argc, argv);
	}
	free(line);
	return 0;
}
