/* Help text of one method, laid out like argparse's. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_table.h"

#define HELP_COL 24
#define WRAP_COL 79

/* "-n/--nsid" or "block_size": how argparse names an argument in errors. */
void cli_opt_display(const struct cli_opt *o, char *buf, size_t len)
{
	if (o->flags & CLI_POS)
		snprintf(buf, len, "%s", o->lname);
	else if (o->sname && o->lname)
		snprintf(buf, len, "%s/%s", o->sname, o->lname);
	else
		snprintf(buf, len, "%s", o->sname ? o->sname : o->lname);
}

/* The value placeholder: NSID for --nsid, {a,b} for choices. */
static void metavar(const struct cli_opt *o, char *buf, size_t len)
{
	const char *src = o->lname ? o->lname : o->sname;
	size_t n = 0;

	if (o->choices) {
		snprintf(buf, len, "{%s}", o->choices);
		for (char *p = buf; *p; p++)
			if (*p == '|')
				*p = ',';
		return;
	}
	if (o->type == CLI_FLAG01) {
		snprintf(buf, len, "[0|1]");
		return;
	}
	if (o->type == CLI_KV) {
		snprintf(buf, len, "key=value");
		return;
	}
	while (*src == '-')
		src++;
	for (; *src && n + 1 < len; src++)
		buf[n++] = *src == '-' ? '_' : (char)toupper((unsigned char)*src);
	buf[n] = '\0';
}

/* One option as it appears in the usage line and in the option list. */
static void opt_forms(const struct cli_opt *o, char *usage, size_t ulen, char *list, size_t llen)
{
	char mv[64];
	bool val = o->type == CLI_STRING || o->type == CLI_INT || o->type == CLI_FLOAT ||
		   o->type == CLI_FLAG01 || o->type == CLI_KV;

	metavar(o, mv, sizeof(mv));
	if (o->flags & CLI_POS) {
		snprintf(usage, ulen, (o->flags & CLI_REQ) ? "%s" : "[%s]", o->lname);
		snprintf(list, llen, "%s", o->lname);
		return;
	}
	const char *first = o->sname ? o->sname : o->lname;

	if (val)
		snprintf(usage, ulen, (o->flags & CLI_REQ) ? "%s %s" : "[%s %s]", first, mv);
	else
		snprintf(usage, ulen, (o->flags & CLI_REQ) ? "%s" : "[%s]", first);
	if (o->sname && o->lname) {
		if (val)
			snprintf(list, llen, "%s %s, %s %s", o->sname, mv, o->lname, mv);
		else
			snprintf(list, llen, "%s, %s", o->sname, o->lname);
	} else if (val) {
		snprintf(list, llen, "%s %s", first, mv);
	} else {
		snprintf(list, llen, "%s", first);
	}
}

/* Is the JSON key the long option name (with '-' read as '_')? */
static bool key_matches_name(const struct cli_opt *o)
{
	const char *n = o->lname ? o->lname : o->sname;
	const char *k = o->key;

	while (*n == '-')
		n++;
	for (; *n && *k; n++, k++)
		if (*k != (*n == '-' ? '_' : *n))
			return false;
	return !*n && !*k;
}

static void print_item(FILE *out, const char *left, const char *help, const char *extra)
{
	int n = fprintf(out, "  %s", left);

	if (n >= HELP_COL) {
		fputc('\n', out);
		n = 0;
	}
	fprintf(out, "%*s%s%s\n", HELP_COL - n, "", help ? help : "", extra ? extra : "");
}

/* Print the help of method m (usage, summary, arguments). */
void cli_print_method_help(const struct cli_method *m, FILE *out)
{
	char usage[512], list[512];
	int col;
	bool any_pos = false;

	col = fprintf(out, "usage: osnap-rpc %s [-h]", m->name);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < m->nopts; i++) {
			const struct cli_opt *o = &m->opts[i];

			if (!!(o->flags & CLI_POS) != (pass == 1))
				continue;
			opt_forms(o, usage, sizeof(usage), list, sizeof(list));
			if (col + 1 + (int)strlen(usage) > WRAP_COL) {
				col = fprintf(out, "\n%*s", (int)strlen("usage: osnap-rpc ") +
					      (int)strlen(m->name), "") - 1;
			}
			col += fprintf(out, " %s", usage);
		}
	}
	fprintf(out, "\n\n%s\n", m->summary);
	if (m->missing)
		fprintf(out, "\nNot served by osnapd yet (it answers -95): needs %s.\n", m->missing);

	for (size_t i = 0; i < m->nopts; i++) {
		const struct cli_opt *o = &m->opts[i];

		if (!(o->flags & CLI_POS))
			continue;
		if (!any_pos)
			fprintf(out, "\npositional arguments:\n");
		any_pos = true;
		opt_forms(o, usage, sizeof(usage), list, sizeof(list));
		print_item(out, list, o->help, NULL);
	}
	fprintf(out, "\noptions:\n");
	print_item(out, "-h, --help", "show this help message and exit", NULL);
	for (size_t i = 0; i < m->nopts; i++) {
		const struct cli_opt *o = &m->opts[i];
		char extra[192] = "";

		if (o->flags & CLI_POS)
			continue;
		opt_forms(o, usage, sizeof(usage), list, sizeof(list));
		if (o->flags & CLI_REQ)
			snprintf(extra, sizeof(extra), " (required)");
		if (o->key && !key_matches_name(o))
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
				 " [JSON \"%s\"]", o->key);
		print_item(out, list, o->help, extra);
	}
}

/* One line per method: "name  summary". */
void cli_list_methods(FILE *out)
{
	size_t w = 0;

	for (size_t i = 0; i < cli_method_count; i++)
		if (strlen(cli_method_table[i].name) > w)
			w = strlen(cli_method_table[i].name);
	for (size_t i = 0; i < cli_method_count; i++)
		fprintf(out, "  %-*s  %s%s%s%s\n", (int)w, cli_method_table[i].name,
			cli_method_table[i].missing ? "[not served yet: needs " : "",
			cli_method_table[i].missing ? cli_method_table[i].missing : "",
			cli_method_table[i].missing ? "] " : "", cli_method_table[i].summary);
}
