/* libFuzzer target: the saved dynamic MSI-X allocation (EMU_DIR/msix.state,
 * src/emu/msix_state.c), read at every osnapd start. Whatever parses stays
 * inside the documented limits, and its text parses back to the same state. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emu/msix_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same(const struct msix_state *a, const struct msix_state *b)
{
	if (a->npf != b->npf)
		abort();
	for (size_t i = 0; i < a->npf; i++) {
		if (strcmp(a->pf[i].vuid, b->pf[i].vuid) || a->pf[i].nvf != b->pf[i].nvf ||
		    memcmp(a->pf[i].vf, b->pf[i].vf, a->pf[i].nvf * sizeof(uint16_t)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msix_state st, again;
	char err[256];
	int rc = msix_state_parse((const char *)data, size, &st, err, sizeof(err));
	if (rc == 0) {
		if (st.npf > MSIX_STATE_MAX_PFS)
			abort();
		for (size_t i = 0; i < st.npf; i++) {
			if (!st.pf[i].nvf || st.pf[i].nvf > MSIX_STATE_MAX_VFS || !st.pf[i].vuid[0])
				abort();
			for (uint32_t v = 0; v < st.pf[i].nvf; v++)
				if (st.pf[i].vf[v] > MSIX_STATE_MAX_VECTORS)
					abort();
		}
		char *text = msix_state_format(&st);
		if (text) {
			if (msix_state_parse(text, strlen(text), &again, err, sizeof(err)))
				abort();
			check_same(&st, &again);
			msix_state_free(&again);
			free(text);
		}
	} else if (rc != -EINVAL && rc != -ENOMEM) {
		abort();	/* -EINVAL or -ENOMEM only */
	}
	msix_state_free(&st);
	return 0;
}
