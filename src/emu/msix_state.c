/* The saved dynamic MSI-X allocation. See msix_state.h. */
#include "msix_state.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "osnap-msix"
#define VERSION 1

/* One line's words. */
struct words {
	const char *p, *end;
};

/* The next word of w (separated by spaces or tabs) in *tok and *len; false at
 * the end of the line. */
static bool next_word(struct words *w, const char **tok, size_t *len)
{
	while (w->p < w->end && (*w->p == ' ' || *w->p == '\t'))
		w->p++;
	if (w->p == w->end)
		return false;
	*tok = w->p;
	while (w->p < w->end && *w->p != ' ' && *w->p != '\t')
		w->p++;
	*len = (size_t)(w->p - *tok);
	return true;
}

static bool word_is(const char *tok, size_t len, const char *s)
{
	return len == strlen(s) && !memcmp(tok, s, len);
}

/* A decimal number 0..max without sign or leading junk. */
static bool word_number(const char *tok, size_t len, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	if (!len || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(tok[i] - '0');
	}
	if (v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool word_vuid(const char *tok, size_t len)
{
	if (!len || len > MSIX_STATE_VUID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = tok[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return false;
	}
	return true;
}

/* "pf VUID NVF N..." after its "pf": append it to st. */
static int parse_pf(struct words *w, struct msix_state *st, char *err, size_t errlen, int lineno)
{
	const char *tok;
	size_t len;
	uint32_t nvf;

	if (!next_word(w, &tok, &len) || !word_vuid(tok, len)) {
		snprintf(err, errlen, "line %d: expected a VUID (1..%d letters and digits)", lineno,
			 MSIX_STATE_VUID_MAX);
		return -EINVAL;
	}
	char vuid[MSIX_STATE_VUID_MAX + 1];
	memcpy(vuid, tok, len);
	vuid[len] = '\0';
	if (msix_state_find(st, vuid)) {
		snprintf(err, errlen, "line %d: %s appears twice", lineno, vuid);
		return -EINVAL;
	}
	if (st->npf >= MSIX_STATE_MAX_PFS) {
		snprintf(err, errlen, "line %d: more than %d PFs", lineno, MSIX_STATE_MAX_PFS);
		return -EINVAL;
	}
	if (!next_word(w, &tok, &len) || !word_number(tok, len, MSIX_STATE_MAX_VFS, &nvf) || !nvf) {
		snprintf(err, errlen, "line %d: expected the number of VFs (1..%d)", lineno, MSIX_STATE_MAX_VFS);
		return -EINVAL;
	}
	uint16_t *vf = calloc(nvf, sizeof(*vf));
	if (!vf)
		return -ENOMEM;
	for (uint32_t i = 0; i < nvf; i++) {
		uint32_t n;
		if (!next_word(w, &tok, &len) || !word_number(tok, len, MSIX_STATE_MAX_VECTORS, &n)) {
			snprintf(err, errlen, "line %d: VF %u: expected its number of vectors (0..%d)", lineno, i,
				 MSIX_STATE_MAX_VECTORS);
			free(vf);
			return -EINVAL;
		}
		vf[i] = (uint16_t)n;
	}
	if (next_word(w, &tok, &len)) {
		snprintf(err, errlen, "line %d: more than %u VFs", lineno, nvf);
		free(vf);
		return -EINVAL;
	}
	struct msix_state_pf *pf = realloc(st->pf, (st->npf + 1) * sizeof(*pf));
	if (!pf) {
		free(vf);
		return -ENOMEM;
	}
	st->pf = pf;
	pf = &st->pf[st->npf++];
	memcpy(pf->vuid, vuid, sizeof(vuid));
	pf->nvf = nvf;
	pf->vf = vf;
	return 0;
}

int msix_state_parse(const char *text, size_t len, struct msix_state *st, char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	int lineno = 0;
	bool header = false;

	memset(st, 0, sizeof(*st));
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "a NUL byte in the text");
		return -EINVAL;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct words w = { p, nl ? nl : end };
		const char *tok;
		size_t tlen;
		p = nl ? nl + 1 : end;
		lineno++;
		if (!next_word(&w, &tok, &tlen) || tok[0] == '#')
			continue;
		if (!header) {
			uint32_t v;
			const char *vt;
			size_t vlen;
			if (!word_is(tok, tlen, MAGIC) || !next_word(&w, &vt, &vlen) ||
			    !word_number(vt, vlen, 1000, &v) || next_word(&w, &vt, &vlen)) {
				snprintf(err, errlen, "line %d: expected \"%s %d\"", lineno, MAGIC, VERSION);
				return -EINVAL;
			}
			if (v != VERSION) {
				snprintf(err, errlen, "line %d: version %u (this osnapd reads %d)", lineno, v, VERSION);
				return -EINVAL;
			}
			header = true;
			continue;
		}
		if (!word_is(tok, tlen, "pf")) {
			snprintf(err, errlen, "line %d: expected \"pf VUID NVF N...\"", lineno);
			return -EINVAL;
		}
		int rc = parse_pf(&w, st, err, errlen, lineno);
		if (rc)
			return rc;
	}
	if (!header) {
		snprintf(err, errlen, "empty: no \"%s %d\" line", MAGIC, VERSION);
		return -EINVAL;
	}
	return 0;
}

char *msix_state_format(const struct msix_state *st)
{
	size_t cap = 32;
	for (size_t i = 0; i < st->npf; i++)
		cap += 16 + MSIX_STATE_VUID_MAX + 12 + (size_t)st->pf[i].nvf * 6;	/* " 2048" */
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t n = (size_t)snprintf(out, cap, "%s %d\n", MAGIC, VERSION);
	for (size_t i = 0; i < st->npf; i++) {
		const struct msix_state_pf *pf = &st->pf[i];
		n += (size_t)snprintf(out + n, cap - n, "pf %s %u", pf->vuid, pf->nvf);
		for (uint32_t v = 0; v < pf->nvf; v++)
			n += (size_t)snprintf(out + n, cap - n, " %u", pf->vf[v]);
		n += (size_t)snprintf(out + n, cap - n, "\n");
	}
	return out;
}

const struct msix_state_pf *msix_state_find(const struct msix_state *st, const char *vuid)
{
	for (size_t i = 0; i < st->npf; i++)
		if (!strcmp(st->pf[i].vuid, vuid))
			return &st->pf[i];
	return NULL;
}

void msix_state_free(struct msix_state *st)
{
	for (size_t i = 0; i < st->npf; i++)
		free(st->pf[i].vf);
	free(st->pf);
	st->pf = NULL;
	st->npf = 0;
}
