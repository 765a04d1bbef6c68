/* The argparse-like engine: one method's command line -> JSON params.
 *
 * Semantics follow Python's argparse as used by SPDK's rpc.py and SNAP's
 * snap_rpc.py: an option token first matches an option string exactly (so
 * "-sn" or "-mnan" are single options), then "--key=value", then a unique
 * prefix of a long option or "-xVALUE" for a one-letter short option;
 * store_true letters may be clustered ("-rg"). A value is the next word
 * unless that looks like an option (negative numbers are values). "--" ends
 * the options. Positionals are taken in order. Errors read like argparse's:
 * "METHOD: error: the following arguments are required: -n/--nsid". */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_table.h"

#define MAX_OPTS 64

struct parse_state {
	const struct cli_method *m;
	const char *val[MAX_OPTS];	/* text given for each option (NULL: none) */
	bool seen[MAX_OPTS];
	json_t *kv[MAX_OPTS];		/* CLI_KV options: the pairs so far */
	const char **pos;		/* positional words, in order */
	int npos;
	const char **extra;		/* unrecognized words, in order */
	int nextra;
	char **owned;			/* strings allocated while parsing */
	int nowned;
	char *err;
	size_t errlen;
};

static int fail(struct parse_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct parse_state *st, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(st->err, st->errlen, "%s: error: ", st->m->name);
	if (n < 0 || (size_t)n >= st->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Parse an int: optional sign, then decimal or 0x hex, nothing else. */
bool cli_parse_int(const char *s, long long *out)
{
	const char *p = s;
	bool neg = false;
	int base = 10;
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return false;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (!((*p >= '0' && *p <= '9') || (base == 16 && strchr("abcdefABCDEF", *p) && *p)))
		return false;
	errno = 0;
	v = strtoull(p, &end, base);
	if (errno || *end)
		return false;
	if (neg) {
		if (v > (unsigned long long)LLONG_MAX + 1)
			return false;
		*out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
	} else {
		if (v > (unsigned long long)LLONG_MAX)
			return false;
		*out = (long long)v;
	}
	return true;
}

/* Replace a leading typographic dash by ASCII (see cli_table.h). */
char *cli_fix_dash(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	const char *ascii;
	char *out;

	if (u[0] != 0xe2 || u[1] != 0x80 || (u[2] != 0x93 && u[2] != 0x94))
		return NULL;
	ascii = u[2] == 0x93 ? "-" : "--";
	out = malloc(strlen(ascii) + strlen(s + 3) + 1);
	if (out) {
		strcpy(out, ascii);
		strcat(out, s + 3);
	}
	return out;
}

static bool parse_float(const char *s, double *out)
{
	char *end;

	if (!*s)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return !errno && !*end && isfinite(*out);
}

/* argparse's negative-number test: ^-\d+$ or ^-\d*\.\d+$ */
static bool is_negative_number(const char *s)
{
	const char *p = s + 1;
	bool digits = false, dot = false, after_dot = false;

	if (s[0] != '-')
		return false;
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			digits = true;
			after_dot = dot;
		} else if (*p == '.' && !dot) {
			dot = true;
		} else {
			return false;
		}
	}
	return dot ? after_dot : digits;
}

static bool looks_like_option(const char *s)
{
	return s[0] == '-' && s[1] != '\0';
}

/* Exact match of an option string; -1 when none. */
static int find_exact(const struct cli_method *m, const char *s, size_t len)
{
	for (size_t i = 0; i < m->nopts; i++) {
		const struct cli_opt *o = &m->opts[i];

		if (o->flags & CLI_POS)
			continue;
		if (o->sname && strlen(o->sname) == len && strncmp(o->sname, s, len) == 0)
			return (int)i;
		if (o->lname && strlen(o->lname) == len && strncmp(o->lname, s, len) == 0)
			return (int)i;
	}
	return -1;
}

struct match {
	int idx;		/* option index, -1 for none */
	const char *value;	/* explicit value ("--k=v", "-kV"), or NULL */
	bool short_cluster;	/* value came from "-xREST" (flags may cluster) */
};

/* Find what an option-looking token means, argparse style. Returns 0 with
 * m->idx == -1 when nothing matches, or -EINVAL for an ambiguous prefix. */
static int find_option(struct parse_state *st, const char *tok, struct match *mt)
{
	const struct cli_method *m = st->m;
	const char *eq = strchr(tok, '=');
	size_t plen;
	int hit = -1, nhits = 0;
	char names[256] = "";

	mt->idx = -1;
	mt->value = NULL;
	mt->short_cluster = false;

	mt->idx = find_exact(m, tok, strlen(tok));
	if (mt->idx >= 0)
		return 0;
	if (eq) {
		mt->idx = find_exact(m, tok, (size_t)(eq - tok));
		if (mt->idx >= 0) {
			mt->value = eq + 1;
			return 0;
		}
	}
	if (tok[1] == '-') {
		/* unique prefix of a long option */
		plen = eq ? (size_t)(eq - tok) : strlen(tok);
		for (size_t i = 0; i < m->nopts; i++) {
			const struct cli_opt *o = &m->opts[i];

			if ((o->flags & CLI_POS) || !o->lname || strncmp(o->lname, tok, plen) != 0)
				continue;
			hit = (int)i;
			nhits++;
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 nhits > 1 ? ", " : "", o->lname);
		}
		if (nhits > 1)
			return fail(st, "ambiguous option: %.*s could match %s", (int)plen, tok, names);
		if (nhits == 1) {
			mt->idx = hit;
			mt->value = eq ? eq + 1 : NULL;
		}
		return 0;
	}
	/* single dash: "-xVALUE" for a one-letter option, or a prefix of a
	 * longer single-dash option ("-mna" for "-mnan") */
	if (strlen(tok) > 2) {
		for (size_t i = 0; i < m->nopts; i++) {
			const struct cli_opt *o = &m->opts[i];
			const char *strs[2] = { o->sname, o->lname };

			if (o->flags & CLI_POS)
				continue;
			for (int k = 0; k < 2; k++) {
				const char *s = strs[k];

				if (!s || s[1] == '-')
					continue;
				if ((strlen(s) == 2 && strncmp(s, tok, 2) == 0) ||
				    strncmp(s, tok, strlen(tok)) == 0) {
					hit = (int)i;
					nhits++;
					snprintf(names + strlen(names), sizeof(names) - strlen(names),
						 "%s%s", nhits > 1 ? ", " : "", s);
				}
			}
		}
		if (nhits > 1)
			return fail(st, "ambiguous option: %s could match %s", tok, names);
		if (nhits == 1) {
			const struct cli_opt *o = &m->opts[hit];
			const char *s = o->sname && o->sname[1] != '-' ? o->sname : o->lname;

			mt->idx = hit;
			if (strlen(s) == 2 && strncmp(s, tok, 2) == 0) {
				mt->value = tok + 2;
				mt->short_cluster = true;
			}
		}
	}
	return 0;
}

static int push_word(struct parse_state *st, const char ***arr, int *n, const char *w)
{
	const char **v = realloc(*arr, (size_t)(*n + 1) * sizeof(*v));

	if (!v)
		return fail(st, "out of memory");
	v[(*n)++] = w;
	*arr = v;
	return 0;
}

static const char *own(struct parse_state *st, char *s)
{
	char **v;

	if (!s)
		return NULL;
	v = realloc(st->owned, (size_t)(st->nowned + 1) * sizeof(*v));
	if (!v) {
		free(s);
		return NULL;
	}
	v[st->nowned++] = s;
	st->owned = v;
	return s;
}

/* Check a value against the option's type and choices. */
static int check_value(struct parse_state *st, const struct cli_opt *o, const char *v)
{
	char name[128];
	long long iv;
	double dv;

	cli_opt_display(o, name, sizeof(name));
	if ((o->type == CLI_INT || o->type == CLI_FLAG01) && !cli_parse_int(v, &iv))
		return fail(st, "argument %s: invalid int value: '%s'", name, v);
	if (o->type == CLI_FLOAT && !parse_float(v, &dv))
		return fail(st, "argument %s: invalid float value: '%s'", name, v);
	if (o->choices) {
		const char *c = o->choices;
		size_t vlen = strlen(v);
		bool ok = false;
		char list[512] = "";

		while (*c) {
			size_t clen = strcspn(c, "|");

			if (clen == vlen && strncmp(c, v, clen) == 0)
				ok = true;
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s'%.*s'",
				 list[0] ? ", " : "", (int)clen, c);
			c += clen;
			if (*c == '|')
				c++;
		}
		if (!ok)
			return fail(st, "argument %s: invalid choice: '%s' (choose from %s)", name, v, list);
	}
	return 0;
}

/* One more "key=value" of a CLI_KV option (a later key replaces an
 * earlier one, as rpc.py's dict does). */
static int add_kv(struct parse_state *st, int idx, const char *v)
{
	const struct cli_opt *o = &st->m->opts[idx];
	const char *eq = strchr(v, '=');
	char name[128];
	char *key;

	cli_opt_display(o, name, sizeof(name));
	if (!eq || eq == v)
		return fail(st, "argument %s: '%s' is not in key=value form", name, v);
	if (!st->kv[idx] && !(st->kv[idx] = json_object()))
		return fail(st, "out of memory");
	key = strndup(v, (size_t)(eq - v));
	if (!key || json_object_set_new(st->kv[idx], key, json_string(eq + 1))) {
		free(key);
		return fail(st, "argument %s: cannot encode '%s'", name, v);
	}
	free(key);
	st->seen[idx] = true;
	return 0;
}

/* Handle the option at argv[*i] that matched mt. */
static int take_option(struct parse_state *st, int argc, char **argv, int *i,
		       const struct match *mt)
{
	const struct cli_opt *o = &st->m->opts[mt->idx];
	char name[128];
	const char *v = mt->value;
	long long dummy;
	int rc;

	cli_opt_display(o, name, sizeof(name));
	if (o->type == CLI_TRUE || o->type == CLI_FALSE) {
		st->seen[mt->idx] = true;
		if (v && !mt->short_cluster)
			return fail(st, "argument %s: ignored explicit argument '%s'", name, v);
		if (v && *v) {
			/* "-rg": the rest is another short option cluster */
			char *rest = malloc(strlen(v) + 2);
			struct match mt2;

			if (!rest || !own(st, rest))
				return fail(st, "out of memory");
			rest[0] = '-';
			strcpy(rest + 1, v);
			rc = find_option(st, rest, &mt2);
			if (rc)
				return rc;
			if (mt2.idx < 0 || mt2.idx == mt->idx)
				return fail(st, "argument %s: ignored explicit argument '%s'", name, v);
			return take_option(st, argc, argv, i, &mt2);
		}
		(*i)++;
		return 0;
	}
	if (o->type == CLI_FLAG01) {
		if (!v && *i + 1 < argc && cli_parse_int(argv[*i + 1], &dummy)) {
			v = argv[*i + 1];
			(*i)++;
		}
		(*i)++;
		if (v) {
			rc = check_value(st, o, v);
			if (rc)
				return rc;
		}
		st->seen[mt->idx] = true;
		st->val[mt->idx] = v;
		return 0;
	}
	if (!v) {
		const char *next = *i + 1 < argc ? argv[*i + 1] : NULL;

		if (!next || (looks_like_option(next) && !is_negative_number(next) &&
			      !strchr(next, ' ')))
			return fail(st, "argument %s: expected one argument", name);
		v = next;
		(*i)++;
	}
	(*i)++;
	rc = check_value(st, o, v);
	if (rc)
		return rc;
	if (o->type == CLI_KV)
		return add_kv(st, mt->idx, v);
	st->seen[mt->idx] = true;
	st->val[mt->idx] = v;
	return 0;
}

/* One word of the command line. */
static int take_word(struct parse_state *st, int argc, char **argv, int *i, bool *only_pos,
		     FILE *help_out)
{
	const char *tok = argv[*i];
	char *fixed;
	struct match mt;
	int rc;

	if (*only_pos || !looks_like_option(tok)) {
		fixed = *only_pos ? NULL : cli_fix_dash(tok);
		if (fixed && !own(st, fixed))
			return fail(st, "out of memory");
		if (fixed && looks_like_option(fixed)) {
			tok = fixed;
		} else {
			(*i)++;
			return push_word(st, &st->pos, &st->npos, tok);
		}
	}
	if (strcmp(tok, "--") == 0) {
		*only_pos = true;
		(*i)++;
		return 0;
	}
	rc = find_option(st, tok, &mt);
	if (rc)
		return rc;
	if (mt.idx < 0 && (strcmp(tok, "-h") == 0 || strcmp(tok, "--help") == 0)) {
		cli_print_method_help(st->m, help_out ? help_out : stdout);
		return 1;
	}
	if (mt.idx < 0 && tok[1] != '-') {
		/* "-pf_id" (from a pasted "–pf_id"): accept as "--pf_id" */
		char *dbl = malloc(strlen(tok) + 2);

		if (!dbl || !own(st, dbl))
			return fail(st, "out of memory");
		dbl[0] = '-';
		strcpy(dbl + 1, tok);
		mt.idx = find_exact(st->m, dbl, strlen(dbl));
		if (mt.idx < 0 && strchr(dbl, '=')) {
			mt.idx = find_exact(st->m, dbl, (size_t)(strchr(dbl, '=') - dbl));
			if (mt.idx >= 0)
				mt.value = strchr(dbl, '=') + 1;
		}
		if (mt.idx >= 0)
			tok = dbl;
	}
	if (mt.idx < 0) {
		(*i)++;
		if (is_negative_number(tok) || strchr(tok, ' '))
			return push_word(st, &st->pos, &st->npos, tok);
		return push_word(st, &st->extra, &st->nextra, tok);
	}
	return take_option(st, argc, argv, i, &mt);
}

/* Give positional words to the positional arguments, in order. */
static int assign_positionals(struct parse_state *st)
{
	int next = 0;

	for (size_t k = 0; k < st->m->nopts && next < st->npos; k++) {
		const struct cli_opt *o = &st->m->opts[k];
		int rc;

		if (!(o->flags & CLI_POS))
			continue;
		rc = check_value(st, o, st->pos[next]);
		if (rc)
			return rc;
		st->val[k] = st->pos[next++];
		st->seen[k] = true;
	}
	for (; next < st->npos; next++) {
		int rc = push_word(st, &st->extra, &st->nextra, st->pos[next]);

		if (rc)
			return rc;
	}
	return 0;
}

static int check_required(struct parse_state *st)
{
	char list[512] = "";

	for (size_t k = 0; k < st->m->nopts; k++) {
		const struct cli_opt *o = &st->m->opts[k];
		char name[128];

		if (!(o->flags & CLI_REQ) || st->seen[k])
			continue;
		cli_opt_display(o, name, sizeof(name));
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 list[0] ? ", " : "", name);
	}
	if (list[0])
		return fail(st, "the following arguments are required: %s", list);
	if (st->nextra) {
		char words[512] = "";

		for (int k = 0; k < st->nextra; k++)
			snprintf(words + strlen(words), sizeof(words) - strlen(words), "%s%s",
				 k ? " " : "", st->extra[k]);
		return fail(st, "unrecognized arguments: %s", words);
	}
	return 0;
}

static json_t *value_json(const struct cli_opt *o, const char *v)
{
	long long iv;
	double dv;

	switch (o->type) {
	case CLI_STRING:
		return json_string(v);
	case CLI_INT:
		return cli_parse_int(v, &iv) ? json_integer(iv) : NULL;
	case CLI_FLOAT:
		return parse_float(v, &dv) ? json_real(dv) : NULL;
	case CLI_TRUE:
		return json_true();
	case CLI_FALSE:
		return json_false();
	case CLI_FLAG01:
		if (!v)
			return json_true();
		return cli_parse_int(v, &iv) ? json_integer(iv) : NULL;
	case CLI_KV:
		return NULL;	/* build_params takes the object */
	}
	return NULL;
}

static int build_params(struct parse_state *st, json_t **out)
{
	json_t *params = json_object();

	if (!params)
		return fail(st, "out of memory");
	for (size_t k = 0; k < st->m->nopts; k++) {
		const struct cli_opt *o = &st->m->opts[k];
		const char *v = st->seen[k] ? st->val[k] : o->def;
		json_t *j;

		if (!o->key || (!st->seen[k] && !o->def))
			continue;
		if (o->type == CLI_KV && json_is_object(json_object_get(params, o->key))) {
			/* two spellings of one object (--config and --config-param) */
			json_object_update(json_object_get(params, o->key), st->kv[k]);
			continue;
		}
		j = o->type == CLI_KV ? json_incref(st->kv[k]) : value_json(o, v);
		if (!j || json_object_set_new(params, o->key, j)) {
			json_decref(params);
			return fail(st, "cannot encode the value of %s", o->key);
		}
	}
	if (st->m->xform) {
		char msg[256] = "";
		int rc = st->m->xform(params, msg, sizeof(msg));

		if (rc) {
			json_decref(params);
			return fail(st, "%s", msg);
		}
	}
	if (json_object_size(params) == 0) {
		json_decref(params);
		params = NULL;
	}
	*out = params;
	return 0;
}

/* Build the request for one command line (see cli.h). */
int cli_parse_command(int argc, char **argv, const char **method, json_t **params,
		      char *err, size_t errlen, FILE *help_out)
{
	struct parse_state st = { 0 };
	bool only_pos = false;
	int i = 1, rc = 0;

	*method = NULL;
	*params = NULL;
	if (errlen)
		err[0] = '\0';
	if (argc < 1 || !argv[0] || !argv[0][0]) {
		snprintf(err, errlen, "error: no method given");
		return -EINVAL;
	}
	st.m = cli_method_find(argv[0]);
	if (!st.m) {
		const char *close = cli_method_suggest(argv[0]);

		if (close)
			snprintf(err, errlen, "error: unknown method '%s'; did you mean '%s'?", argv[0], close);
		else
			snprintf(err, errlen, "error: unknown method '%s'", argv[0]);
		return -ENOENT;
	}
	if (st.m->nopts > MAX_OPTS) {
		snprintf(err, errlen, "%s: error: too many options in the table", st.m->name);
		return -EINVAL;
	}
	st.err = err;
	st.errlen = errlen;
	while (i < argc && rc == 0)
		rc = take_word(&st, argc, argv, &i, &only_pos, help_out);
	if (rc == 0)
		rc = assign_positionals(&st);
	if (rc == 0)
		rc = check_required(&st);
	if (rc == 0)
		rc = build_params(&st, params);
	if (rc == 0)
		*method = st.m->name;
	for (size_t k = 0; k < st.m->nopts; k++)
		json_decref(st.kv[k]);
	for (int k = 0; k < st.nowned; k++)
		free(st.owned[k]);
	free(st.owned);
	free(st.pos);
	free(st.extra);
	return rc;
}

/* Known method? */
bool cli_method_known(const char *method)
{
	return method && cli_method_find(method) != NULL;
}
