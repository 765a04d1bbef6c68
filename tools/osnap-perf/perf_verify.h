/* Data-integrity stamps of osnap-perf. Every logical block a job writes with
 * --verify starts with a stamp (magic, its LBA, a generation number, a
 * checksum over the whole block) followed by bytes derived from LBA and
 * generation; reads check them. The generation table says which generation
 * each I/O block (-b bytes) must hold, so lost, stale, misdirected and torn
 * writes are told apart; it can be kept in a file across runs
 * (--verify-state). */
#ifndef OSNAP_PERF_VERIFY_H
#define OSNAP_PERF_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERF_GEN_NONE		0u		/* never written (as far as we know) */
#define PERF_GEN_UNKNOWN	UINT32_MAX	/* a write failed: content unknown */

/* What a check found. */
enum perf_vresult {
	PERF_V_OK = 0,		/* every block holds the expected stamp */
	PERF_V_UNWRITTEN,	/* generation unknown and no block carries a stamp */
	PERF_V_NO_STAMP,	/* a block that was written carries no stamp */
	PERF_V_BAD_CSUM,	/* stamp present, content does not match its checksum */
	PERF_V_BAD_LBA,		/* a valid stamp of another LBA (misdirected I/O) */
	PERF_V_BAD_GEN,		/* a valid stamp of another generation (lost or stale write) */
};

/* Details of the first bad logical block of a check. */
struct perf_verify_err {
	enum perf_vresult result;
	uint64_t lba;		/* the block that failed */
	uint64_t found_lba;
	uint32_t found_gen;
	uint32_t expect_gen;
};

/* Fill nlbas logical blocks of lba_size bytes (a multiple of 64, >= 64) at
 * buf with the stamps of LBAs lba.. for generation gen. */
void perf_verify_fill(void *buf, uint32_t lba_size, uint32_t nlbas, uint64_t lba, uint32_t gen);

/* Check nlbas logical blocks read from lba.. against generation gen. With
 * gen PERF_GEN_NONE or PERF_GEN_UNKNOWN blocks without a stamp are allowed
 * and stamped ones are checked for checksum and LBA only. Returns the
 * result (PERF_V_OK or PERF_V_UNWRITTEN are good); *e receives details of
 * a failure. */
enum perf_vresult perf_verify_check(const void *buf, uint32_t lba_size, uint32_t nlbas,
				    uint64_t lba, uint32_t gen, struct perf_verify_err *e);

/* A sentence for a result ("stale or lost write", ...). */
const char *perf_vresult_str(enum perf_vresult r);

/* Generations of the I/O blocks of the range under test, and which are
 * busy (an I/O in flight: no second I/O may overlap it). Each job owns a
 * disjoint slice, so no locks. */
struct perf_vtable {
	uint64_t nblocks;
	uint32_t *gen;
	uint8_t *busy;
	uint32_t run_base;	/* first generation of blocks not yet known */
};

/* Allocate the table for nblocks blocks, all PERF_GEN_NONE; run_base (made
 * non-zero and below 2^31) starts the generations of this run. 0 or -ENOMEM. */
int perf_vtable_init(struct perf_vtable *t, uint64_t nblocks, uint32_t run_base);

/* Free the table. */
void perf_vtable_fini(struct perf_vtable *t);

/* The generation the next write of block b carries. */
static inline uint32_t perf_vtable_next_gen(const struct perf_vtable *t, uint64_t b)
{
	uint32_t g = t->gen[b];
	if (g == PERF_GEN_NONE || g == PERF_GEN_UNKNOWN)
		return t->run_base;
	g++;
	return g == PERF_GEN_UNKNOWN ? 1u : g;
}

/* Geometry stored with a state file; a file of another geometry is refused. */
struct perf_vgeom {
	uint32_t lba_size;
	uint32_t bs;
	uint64_t first_lba;
};

/* Load the generations from path. Returns 0 when loaded, 1 when the file
 * does not exist (table left empty), -1 with a message in err when it cannot
 * be read or was written for another geometry or block count. */
int perf_vtable_load(struct perf_vtable *t, const char *path, const struct perf_vgeom *g,
		     char *err, size_t errlen);

/* Write the generations to path (through a temporary file and rename).
 * 0, or -1 with a message in err. */
int perf_vtable_save(const struct perf_vtable *t, const char *path, const struct perf_vgeom *g,
		     char *err, size_t errlen);

#endif
