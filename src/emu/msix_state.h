/* The saved dynamic MSI-X allocation (EMU_DIR/msix.state, written by
 * emu_msix_pool.c): how many MSI-X vectors each VF of each PF holds, so
 * that the allocation survives osnapd restarts as the seed asks (it changes
 * only by reclaim, release or a fresh EMU_DIR).
 *
 * Text, lines ending in '\n':
 *   osnap-msix 1                      the first line: format and version
 *   pf VUID NVF N0 N1 ... N(NVF-1)    one line per PF that has VFs
 * Blank lines and lines starting with '#' are ignored. A VUID is 1..47
 * letters and digits; NVF is 1..MSIX_STATE_MAX_VFS and each N is
 * 0..MSIX_STATE_MAX_VECTORS; a VUID appears once.
 *
 * Pure data: no I/O, no emulated function; any thread. */
#ifndef OSNAP_MSIX_STATE_H
#define OSNAP_MSIX_STATE_H

#include <stddef.h>
#include <stdint.h>

#define MSIX_STATE_MAX_VFS 4096
#define MSIX_STATE_MAX_VECTORS 2048	/* a PCI MSI-X table's largest size */
#define MSIX_STATE_MAX_PFS 64
#define MSIX_STATE_VUID_MAX 47

struct msix_state_pf {
	char vuid[MSIX_STATE_VUID_MAX + 1];
	uint32_t nvf;
	uint16_t *vf;		/* nvf table sizes */
};

struct msix_state {
	size_t npf;
	struct msix_state_pf *pf;
};

/* Parse len bytes of text (need not end in NUL) into st (zeroed first; free
 * it with msix_state_free, also after an error). Returns 0, -EINVAL with
 * "line N: ..." in err, or -ENOMEM. */
int msix_state_parse(const char *text, size_t len, struct msix_state *st, char *err, size_t errlen);
/* The text of st, malloc'ed and NUL-terminated; NULL when out of memory.
 * What it writes parses back to the same state. */
char *msix_state_format(const struct msix_state *st);
/* The entry of vuid, or NULL. */
const struct msix_state_pf *msix_state_find(const struct msix_state *st, const char *vuid);
void msix_state_free(struct msix_state *st);

#endif
