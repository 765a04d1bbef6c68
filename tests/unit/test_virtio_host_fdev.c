/* test_virtio_host: what both fakes share: the device side of the rings and
 * the virtio-blk requests in shared memory, read at raw byte offsets. */
#include "test_virtio_host.h"

uint8_t *fd_xlate(struct fdev *v, uint64_t a, uint64_t len)
{
	for (int i = 0; i < v->nmap; i++) {
		if (a >= v->map[i].addr && len <= v->map[i].size && a - v->map[i].addr <= v->map[i].size - len)
			return v->map[i].ptr + (a - v->map[i].addr);
	}
	return NULL;
}

/* Walk the chain at head (direct descriptors, then at most one indirect
 * table). -1 when malformed. */
static int fd_chain(struct fdev *v, struct fring *r, uint16_t head, struct fseg *segs, bool *ind)
{
	uint8_t *table = r->desc;
	uint32_t tsize = r->num, idx = head, guard = 0;
	int n = 0, nf = 0;
	bool in_table = false;

	for (;;) {
		if (idx >= tsize || ++guard > tsize)
			return -1;
		uint8_t *dp = table + 16 * idx;
		uint64_t a = rd64(dp);
		uint32_t len = rd32(dp + 8);
		uint16_t fl = rd16(dp + 12), nx = rd16(dp + 14);
		if (nf < 8) {
			v->last_flags[nf++] = fl;
			atomic_store(&v->last_n, nf);
		}
		if (fl & VH_DESC_F_INDIRECT) {
			if (in_table || (fl & VH_DESC_F_NEXT) || len == 0 || len % 16)
				return -1;
			table = fd_xlate(v, a, len);
			if (!table)
				return -1;
			tsize = len / 16;
			idx = 0;
			guard = 0;
			in_table = true;
			*ind = true;
			continue;
		}
		if (n == FD_MAXSEG)
			return -1;
		uint8_t *p = fd_xlate(v, a, len);
		if (!p)
			return -1;
		if (n && segs[n - 1].w && !(fl & VH_DESC_F_WRITE))
			return -1;	/* readable after writable */
		segs[n++] = (struct fseg){ p, len, (fl & VH_DESC_F_WRITE) != 0 };
		if (!(fl & VH_DESC_F_NEXT))
			break;
		idx = nx;
	}
	return n;
}

/* Copy src into the writable segments (skipping the final status byte). */
static void fd_scatter(struct fseg *s, int n, const uint8_t *src, uint32_t len)
{
	for (int i = 0; i < n && len; i++) {
		if (!s[i].w)
			continue;
		uint32_t k = s[i].len;
		if (i == n - 1)
			k--;	/* status byte */
		if (k > len)
			k = len;
		memcpy(s[i].p, src, k);
		src += k;
		len -= k;
	}
}

/* Execute one request; returns the used length. */
static uint32_t fd_exec(struct fdev *v, struct fseg *s, int n)
{
	uint8_t *rbuf = v->rbuf;
	uint32_t rlen = 0, wlen = 0;

	for (int i = 0; i < n; i++) {
		if (s[i].w) {
			wlen += s[i].len;
		} else {
			if (rlen + s[i].len > FD_RBUF)
				return 0;
			memcpy(rbuf + rlen, s[i].p, s[i].len);
			rlen += s[i].len;
		}
	}
	if (rlen < 16 || wlen < 1 || !s[n - 1].w || s[n - 1].len < 1)
		return 0;
	uint8_t *status = s[n - 1].p + s[n - 1].len - 1;
	uint32_t type = rd32(rbuf);
	uint64_t sector = rd64(rbuf + 8);
	uint32_t out = rlen - 16, in = wlen - 1;
	uint8_t st = VH_BLK_S_OK;
	uint32_t used = 1;

	switch (type) {
	case VH_BLK_T_IN:
		if (in % 512 || sector > FD_SECTORS || in / 512 > FD_SECTORS - sector) {
			st = VH_BLK_S_IOERR;
			break;
		}
		fd_scatter(s, n, v->disk + sector * 512, in);
		used = in + 1;
		break;
	case VH_BLK_T_OUT:
		if (out % 512 || sector > FD_SECTORS || out / 512 > FD_SECTORS - sector) {
			st = VH_BLK_S_IOERR;
			break;
		}
		memcpy(v->disk + sector * 512, rbuf + 16, out);
		break;
	case VH_BLK_T_FLUSH:
		break;
	case VH_BLK_T_GET_ID:
		fd_scatter(s, n, (const uint8_t *)FD_SERIAL, in < 20 ? in : 20);
		used = (in < 20 ? in : 20) + 1;
		break;
	case VH_BLK_T_WRITE_ZEROES:
	case VH_BLK_T_DISCARD:
		for (uint32_t o = 0; o + 16 <= out; o += 16) {
			uint64_t sec = rd64(rbuf + 16 + o);
			uint32_t ns = rd32(rbuf + 16 + o + 8);
			if (sec > FD_SECTORS || ns > FD_SECTORS - sec) {
				st = VH_BLK_S_IOERR;
				break;
			}
			if (type == VH_BLK_T_WRITE_ZEROES)
				memset(v->disk + sec * 512, 0, (size_t)ns * 512);
		}
		break;
	default:
		st = VH_BLK_S_UNSUPP;
	}
	*status = st;
	return used;
}

/* Serve every available chain of r, then publish avail_event and re-check
 * (so a kick suppressed by a stale avail_event cannot be lost). */
void fd_process(struct fdev *v, struct fring *r)
{
	if (!r->ready)
		return;
	int delay = atomic_load(&v->delay_ms);
	if (delay) {
		struct timespec ts = { 0, delay * 1000000L };
		nanosleep(&ts, NULL);
	}
	uint16_t old = r->used_idx;
	for (;;) {
		/* acquire: the driver's descriptors and ring slots are read after its idx */
		uint16_t aidx = __atomic_load_n((uint16_t *)(void *)(r->avail + 2), __ATOMIC_ACQUIRE);
		while (r->last_avail != aidx) {
			uint16_t head = rd16(r->avail + 4 + 2 * (r->last_avail % r->num));
			r->last_avail++;
			struct fseg segs[FD_MAXSEG];
			bool ind = false;
			int n = head < r->num ? fd_chain(v, r, head, segs, &ind) : -1;
			uint32_t used_len = 0;
			if (n <= 0) {
				atomic_fetch_add(&v->n_bad, 1);
			} else {
				used_len = fd_exec(v, segs, n);
				atomic_fetch_add(&v->n_req, 1);
				if (ind)
					atomic_fetch_add(&v->n_indirect, 1);
				if (n > atomic_load(&v->max_descs))
					atomic_store(&v->max_descs, n);
			}
			uint8_t *ue = r->used + 4 + 8 * (r->used_idx % r->num);
			wr32(ue, head);
			wr32(ue + 4, used_len);
			r->used_idx++;
			/* release: the used element and the data/status written
			 * for it are visible before the new used idx */
			__atomic_store_n((uint16_t *)(void *)(r->used + 2), r->used_idx, __ATOMIC_RELEASE);
		}
		if (!v->event_idx)
			break;
		wr16(r->used + 4 + 8 * r->num, r->last_avail);
		/* full barrier: avail_event is stored before avail->idx is
		 * re-read (store-load), so a kick the driver skipped is seen */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n((uint16_t *)(void *)(r->avail + 2), __ATOMIC_ACQUIRE) == r->last_avail)
			break;
	}
	if (r->used_idx == old)
		return;
	/* full barrier: the used idx store is ordered before reading the
	 * driver's suppression fields (store-load) */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	bool notify;
	if (v->event_idx) {
		uint16_t ue = rd16(r->avail + 4 + 2 * r->num);
		notify = (uint16_t)(r->used_idx - ue - 1) < (uint16_t)(r->used_idx - old);
	} else {
		notify = !(rd16(r->avail) & VH_AVAIL_F_NO_INTERRUPT);
	}
	if (notify && r->call >= 0) {
		uint64_t one = 1;
		(void)!write(r->call, &one, sizeof(one));
		atomic_fetch_add(&v->n_calls, 1);
	}
}

void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}
