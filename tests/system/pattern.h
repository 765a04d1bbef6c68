/* The data pattern the C drivers of tests/system write and check, block by
 * block: block b of pattern seed holds b (8 bytes, little-endian), seed
 * (4), ~b (4), then bytes (b*31 + i*7 + seed*13) & 0xff. The Python side
 * (test_nvme.py, test_virtio_blk.py) computes the same to check backing
 * files. A block is an NVMe logical block or a 512-byte virtio sector. */
#ifndef OSNAP_TESTS_SYSTEM_PATTERN_H
#define OSNAP_TESTS_SYSTEM_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Block b (of bs bytes) of pattern seed into p. */
void pattern_block(uint8_t *p, uint64_t b, uint32_t bs, uint32_t seed);

/* Blocks first .. first+n-1 into buf. */
void pattern_fill(void *buf, uint64_t first, uint32_t n, uint32_t bs, uint32_t seed);

/* Index of the first of n blocks in buf (from first) that differs from the
 * pattern, or -1. */
long pattern_check(const void *buf, uint64_t first, uint32_t n, uint32_t bs, uint32_t seed);

/* True when every byte of buf[0..len) is v. */
bool all_byte(const void *buf, size_t len, uint8_t v);

#endif
