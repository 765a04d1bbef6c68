/* Splitting one line of an init file (snap_rpc_init.conf style) into words.
 *
 * Quoting follows sh: '...' is literal, "..." honours \" \\ \$ \` escapes,
 * a backslash outside quotes escapes the next character, and a '#' at the
 * start of a word begins a comment. Two things are added for text pasted
 * from the DOCA documentation: a typographic dash at the start of an
 * unquoted word is read as ASCII ("–f" is "-f", "—x" is "--x"), and a
 * leading program word (snap_rpc.py, spdk_rpc.py, rpc.py, osnap-rpc, with
 * any directory) is dropped together with the program's own global options
 * that follow it (-s SOCK, -t SECONDS, -p PORT, -r N, -v, --dry-run,
 * --plugin NAME, --verbose LEVEL), which mean nothing to a replay. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_table.h"

struct wordbuf {
	char *s;
	size_t len, cap;
};

struct wordlist {
	char **v;
	int n, cap;
};

static int wb_put(struct wordbuf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 32;
		char *s = realloc(b->s, cap);

		if (!s)
			return -ENOMEM;
		b->s = s;
		b->cap = cap;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
	return 0;
}

static int wl_push(struct wordlist *l, struct wordbuf *b)
{
	char *w;

	if (l->n + 2 > l->cap) {
		int cap = l->cap ? l->cap * 2 : 8;
		char **v = realloc(l->v, (size_t)cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	w = strdup(b->s ? b->s : "");
	if (!w)
		return -ENOMEM;
	l->v[l->n++] = w;
	l->v[l->n] = NULL;
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Length of a typographic dash at p (3 UTF-8 bytes) and how many ASCII
 * dashes it stands for; 0 when p does not start with one. */
static size_t dash_at(const char *p, int *ndash)
{
	if ((unsigned char)p[0] == 0xe2 && (unsigned char)p[1] == 0x80) {
		if ((unsigned char)p[2] == 0x93) {
			*ndash = 1;
			return 3;
		}
		if ((unsigned char)p[2] == 0x94) {
			*ndash = 2;
			return 3;
		}
	}
	return 0;
}

/* Split into l; returns 0 or -EINVAL (unbalanced quote, trailing backslash)
 * or -ENOMEM. */
static int split_words(const char *p, struct wordlist *l)
{
	struct wordbuf b = { 0 };
	bool in_word = false;
	int rc = 0;

	while (*p && rc == 0) {
		char c = *p;
		int ndash;
		size_t dlen;

		if (!in_word) {
			if (is_blank(c)) {
				p++;
				continue;
			}
			if (c == '#')
				break;
			in_word = true;
			dlen = dash_at(p, &ndash);
			if (dlen) {
				while (ndash-- > 0 && rc == 0)
					rc = wb_put(&b, '-');
				p += dlen;
				continue;
			}
		}
		if (is_blank(c)) {
			rc = wl_push(l, &b);
			in_word = false;
			p++;
		} else if (c == '\'') {
			p++;
			while (*p && *p != '\'' && rc == 0)
				rc = wb_put(&b, *p++);
			if (*p != '\'')
				rc = rc ? rc : -EINVAL;
			else
				p++;
		} else if (c == '"') {
			p++;
			while (*p && *p != '"' && rc == 0) {
				if (*p == '\\' && p[1] && strchr("\"\\$`\n", p[1])) {
					if (p[1] != '\n')
						rc = wb_put(&b, p[1]);
					p += 2;
				} else {
					rc = wb_put(&b, *p++);
				}
			}
			if (*p != '"')
				rc = rc ? rc : -EINVAL;
			else
				p++;
		} else if (c == '\\') {
			if (!p[1]) {
				rc = -EINVAL;
			} else {
				if (p[1] != '\n')
					rc = wb_put(&b, p[1]);
				p += 2;
			}
		} else {
			rc = wb_put(&b, c);
			p++;
		}
	}
	if (rc == 0 && in_word)
		rc = wl_push(l, &b);
	free(b.s);
	return rc;
}

static bool is_program_word(const char *w)
{
	static const char *const names[] = { "snap_rpc.py", "spdk_rpc.py", "rpc.py", "osnap-rpc" };
	const char *base = strrchr(w, '/');

	base = base ? base + 1 : w;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(base, names[i]) == 0)
			return true;
	return false;
}

/* How many words the program's global option at v[0] takes (0: not one). */
static int global_option_words(char **v, int n)
{
	static const char *const with_value[] = { "-s", "-t", "-p", "--plugin", "--verbose" };
	static const char *const alone[] = { "-v", "--dry-run", "--raw" };
	const char *w = v[0];
	long long dummy;

	for (size_t i = 0; i < sizeof(with_value) / sizeof(with_value[0]); i++) {
		size_t len = strlen(with_value[i]);

		if (strcmp(w, with_value[i]) == 0)
			return n >= 2 ? 2 : 1;
		if (strncmp(w, with_value[i], len) == 0 &&
		    (w[len] == '=' || (len == 2 && w[len] != '\0')))
			return 1;
	}
	for (size_t i = 0; i < sizeof(alone) / sizeof(alone[0]); i++)
		if (strcmp(w, alone[i]) == 0)
			return 1;
	/* rpc.py's "-r N" (connection retries) or osnap-rpc's "-r" (raw). */
	if (strcmp(w, "-r") == 0)
		return (n >= 2 && cli_parse_int(v[1], &dummy)) ? 2 : 1;
	return 0;
}

static void drop_words(struct wordlist *l, int k)
{
	for (int i = 0; i < k; i++)
		free(l->v[i]);
	memmove(l->v, l->v + k, (size_t)(l->n - k + 1) * sizeof(*l->v));
	l->n -= k;
}

/* Split one init-file line into words (see cli.h and the comment at the top
 * of this file). On success *argv is NULL-terminated. */
int cli_split_line(const char *line, int *argc, char ***argv)
{
	struct wordlist l = { 0 };
	int rc;

	*argc = 0;
	*argv = NULL;
	if (!line)
		return -EINVAL;
	rc = split_words(line, &l);
	if (rc) {
		cli_free_argv(l.n, l.v);
		return rc;
	}
	if (l.n > 0 && is_program_word(l.v[0])) {
		int k;

		drop_words(&l, 1);
		while (l.n > 0 && (k = global_option_words(l.v, l.n)) > 0)
			drop_words(&l, k);
	}
	if (!l.v) {
		l.v = calloc(1, sizeof(*l.v));
		if (!l.v)
			return -ENOMEM;
	}
	*argc = l.n;
	*argv = l.v;
	return 0;
}

/* Free what cli_split_line() returned. */
void cli_free_argv(int argc, char **argv)
{
	if (!argv)
		return;
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}
