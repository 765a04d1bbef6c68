/* Data-integrity stamps and the generation table. See perf_verify.h. */
#include "perf_verify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STAMP_MAGIC	0x31465245504e534full	/* "OSNPERF1" little endian */
#define STATE_MAGIC	"OSNPVST1"

/* Layout of the first bytes of every logical block. */
struct stamp {
	uint64_t magic;
	uint64_t lba;
	uint32_t gen;
	uint32_t lba_size;
	uint64_t csum;		/* over the block with this field read as 0 */
};
_Static_assert(sizeof(struct stamp) == 32, "stamp layout");

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t mix(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

/* Checksum of one logical block, the csum field counted as 0. */
static uint64_t block_csum(const uint8_t *b, uint32_t lba_size)
{
	uint64_t h = 0x6a09e667f3bcc909ull ^ lba_size;
	for (uint32_t off = 0; off < lba_size; off += 8)
		h = mix(h, off == offsetof(struct stamp, csum) ? 0 : load64(b + off));
	return h;
}

void perf_verify_fill(void *buf, uint32_t lba_size, uint32_t nlbas, uint64_t lba, uint32_t gen)
{
	uint8_t *b = buf;

	for (uint32_t i = 0; i < nlbas; i++, b += lba_size) {
		struct stamp s = { STAMP_MAGIC, lba + i, gen, lba_size, 0 };
		memcpy(b, &s, sizeof(s));
		/* xorshift64 stream, different for every LBA and generation */
		uint64_t x = (lba + i) * 0xff51afd7ed558ccdull ^ ((uint64_t)gen << 32 | gen) ^ 1;
		for (uint32_t off = sizeof(s); off < lba_size; off += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(b + off, &x, sizeof(x));
		}
		s.csum = block_csum(b, lba_size);
		memcpy(b + offsetof(struct stamp, csum), &s.csum, sizeof(s.csum));
	}
}

static enum perf_vresult bad(struct perf_verify_err *e, enum perf_vresult r, uint64_t lba,
			     const struct stamp *s, uint32_t expect)
{
	if (e) {
		e->result = r;
		e->lba = lba;
		e->found_lba = s ? s->lba : 0;
		e->found_gen = s ? s->gen : 0;
		e->expect_gen = expect;
	}
	return r;
}

enum perf_vresult perf_verify_check(const void *buf, uint32_t lba_size, uint32_t nlbas,
				    uint64_t lba, uint32_t gen, struct perf_verify_err *e)
{
	const uint8_t *b = buf;
	bool known = gen != PERF_GEN_NONE && gen != PERF_GEN_UNKNOWN;
	uint32_t stamped = 0;

	for (uint32_t i = 0; i < nlbas; i++, b += lba_size) {
		struct stamp s;
		memcpy(&s, b, sizeof(s));
		if (s.magic != STAMP_MAGIC || s.lba_size != lba_size) {
			if (known)
				return bad(e, PERF_V_NO_STAMP, lba + i, NULL, gen);
			continue;
		}
		if (s.csum != block_csum(b, lba_size))
			return bad(e, PERF_V_BAD_CSUM, lba + i, &s, gen);
		if (s.lba != lba + i)
			return bad(e, PERF_V_BAD_LBA, lba + i, &s, gen);
		if (known && s.gen != gen)
			return bad(e, PERF_V_BAD_GEN, lba + i, &s, gen);
		stamped++;
	}
	return known || stamped ? PERF_V_OK : PERF_V_UNWRITTEN;
}

const char *perf_vresult_str(enum perf_vresult r)
{
	switch (r) {
	case PERF_V_OK: return "ok";
	case PERF_V_UNWRITTEN: return "never written";
	case PERF_V_NO_STAMP: return "no stamp: the block was overwritten or never reached the medium";
	case PERF_V_BAD_CSUM: return "checksum mismatch: the data is corrupted";
	case PERF_V_BAD_LBA: return "stamp of another LBA: misdirected write or read";
	case PERF_V_BAD_GEN: return "stamp of another generation: stale data or a lost write";
	}
	return "?";
}

/* ---- generation table ------------------------------------------------------------- */

int perf_vtable_init(struct perf_vtable *t, uint64_t nblocks, uint32_t run_base)
{
	memset(t, 0, sizeof(*t));
	t->gen = calloc(nblocks ? nblocks : 1, sizeof(*t->gen));
	t->busy = calloc(nblocks ? nblocks : 1, 1);
	if (!t->gen || !t->busy) {
		perf_vtable_fini(t);
		return -ENOMEM;
	}
	t->nblocks = nblocks;
	t->run_base = (run_base & 0x7fffffffu) ? (run_base & 0x7fffffffu) : 1u;
	return 0;
}

void perf_vtable_fini(struct perf_vtable *t)
{
	free(t->gen);
	free(t->busy);
	memset(t, 0, sizeof(*t));
}

/* On-disk header of a state file; the generations follow. */
struct state_hdr {
	char magic[8];
	uint32_t lba_size;
	uint32_t bs;
	uint64_t first_lba;
	uint64_t nblocks;
};

int perf_vtable_load(struct perf_vtable *t, const char *path, const struct perf_vgeom *g,
		     char *err, size_t len)
{
	struct state_hdr h;
	FILE *f = fopen(path, "rb");

	if (!f) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = -1;
	if (fread(&h, sizeof(h), 1, f) != 1 || memcmp(h.magic, STATE_MAGIC, 8)) {
		snprintf(err, len, "%s: not an osnap-perf verify state file", path);
	} else if (h.lba_size != g->lba_size || h.bs != g->bs || h.first_lba != g->first_lba ||
		   h.nblocks != t->nblocks) {
		snprintf(err, len, "%s was written for LBA size %u, -b %u, first LBA %llu, %llu blocks; "
			 "this run has %u, %u, %llu, %llu: use the same -b, --offset and --size",
			 path, h.lba_size, h.bs, (unsigned long long)h.first_lba,
			 (unsigned long long)h.nblocks, g->lba_size, g->bs,
			 (unsigned long long)g->first_lba, (unsigned long long)t->nblocks);
	} else if (fread(t->gen, sizeof(*t->gen), t->nblocks, f) != t->nblocks) {
		snprintf(err, len, "%s: truncated", path);
	} else {
		rc = 0;
	}
	fclose(f);
	return rc;
}

int perf_vtable_save(const struct perf_vtable *t, const char *path, const struct perf_vgeom *g,
		     char *err, size_t len)
{
	char tmp[4096];
	struct state_hdr h = { .lba_size = g->lba_size, .bs = g->bs, .first_lba = g->first_lba,
			       .nblocks = t->nblocks };

	memcpy(h.magic, STATE_MAGIC, sizeof(h.magic));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		snprintf(err, len, "%s: path too long", path);
		return -1;
	}
	FILE *f = fopen(tmp, "wb");
	if (!f) {
		snprintf(err, len, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	bool ok = fwrite(&h, sizeof(h), 1, f) == 1 &&
		  fwrite(t->gen, sizeof(*t->gen), t->nblocks, f) == t->nblocks;
	if (fclose(f) || !ok || rename(tmp, path)) {
		snprintf(err, len, "%s: %s", path, strerror(errno ? errno : EIO));
		unlink(tmp);
		return -1;
	}
	return 0;
}
