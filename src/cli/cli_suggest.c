/* "Did you mean ...": the closest name to a mistyped one. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_table.h"

#define DIST_MAX_LEN 128

/* Levenshtein distance with adjacent transpositions counted as one edit
 * (optimal string alignment); names longer than DIST_MAX_LEN count as far. */
size_t cli_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t rows[3][DIST_MAX_LEN + 1];

	if (la > DIST_MAX_LEN || lb > DIST_MAX_LEN)
		return (size_t)-1;
	/* row i of the table lives in rows[i % 3] */
	for (size_t j = 0; j <= lb; j++)
		rows[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *prev2 = rows[(i + 1) % 3], *prev = rows[(i + 2) % 3], *cur = rows[i % 3];

		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = prev[j - 1] + cost;

			if (prev[j] + 1 < v)
				v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
		}
	}
	return rows[la % 3][lb];
}

bool cli_name_close(const char *typed, const char *name, size_t *dist)
{
	size_t len = strlen(typed);
	/* a third of the typed name may be wrong, at least 2 characters */
	size_t limit = len / 3 > 2 ? len / 3 : 2;

	*dist = cli_edit_distance(typed, name);
	return *dist <= limit;
}

const char *cli_method_suggest(const char *name)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1, d;

	for (size_t i = 0; i < cli_method_count; i++) {
		if (cli_name_close(name, cli_method_table[i].name, &d) && d < best_d) {
			best = cli_method_table[i].name;
			best_d = d;
		}
	}
	return best;
}

const char *cli_method_missing(const char *name)
{
	const struct cli_method *m = cli_method_find(name);

	return m ? m->missing : NULL;
}
