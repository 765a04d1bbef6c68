/* Parameter rewrites that SPDK's rpc.py does on the client side.
 *
 * bdev_malloc_create and bdev_null_create take a size in MiB on the command
 * line but send a block count: num_blocks = total_size * 1024 * 1024 //
 * block_size (Python floor division; total_size is a float for malloc, an
 * int for null). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli_table.h"

/* Python's int floor division a // b (b != 0). */
static long long py_int_floordiv(long long a, long long b)
{
	long long q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Python's float floor division a // b for b > 0, as an integer. When a is
 * a whole number (the usual case: MiB * 2^20) integer division is exact;
 * otherwise the quotient is rounded down. Returns false when out of range.
 * (No libm: the library links without it.) */
static bool py_floordiv(double a, long long b, long long *out)
{
	double q;
	long long t;

	if (!(a > -9.2e18 && a < 9.2e18))
		return false;
	t = (long long)a;
	if ((double)t == a) {
		*out = py_int_floordiv(t, b);
		return true;
	}
	q = a / (double)b;
	t = (long long)q;
	if ((double)t > q)
		t--;
	*out = t;
	return true;
}

static int get_block_size(json_t *params, long long *bs, char *err, size_t errlen)
{
	json_t *j = json_object_get(params, "block_size");

	if (!json_is_integer(j)) {
		snprintf(err, errlen, "argument block_size: missing");
		return -EINVAL;
	}
	*bs = json_integer_value(j);
	if (*bs <= 0) {
		snprintf(err, errlen, "argument block_size: must be greater than 0");
		return -EINVAL;
	}
	return 0;
}

static int set_num_blocks(json_t *params, long long n, char *err, size_t errlen)
{
	if (json_object_set_new(params, "num_blocks", json_integer(n)) ||
	    json_object_del(params, "total_size")) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* bdev_malloc_create: total_size (MiB, float) -> num_blocks. */
int cli_xform_malloc_create(json_t *params, char *err, size_t errlen)
{
	json_t *ts = json_object_get(params, "total_size");
	long long bs, nb;
	int rc;

	rc = get_block_size(params, &bs, err, errlen);
	if (rc)
		return rc;
	if (!json_is_number(ts)) {
		snprintf(err, errlen, "argument total_size: missing");
		return -EINVAL;
	}
	if (!py_floordiv(json_number_value(ts) * 1024.0 * 1024.0, bs, &nb)) {
		snprintf(err, errlen, "argument total_size: too large");
		return -EINVAL;
	}
	return set_num_blocks(params, nb, err, errlen);
}

/* bdev_null_create: total_size (MiB, int) -> num_blocks; --dif-type needs
 * --md-size, as rpc.py checks. */
int cli_xform_null_create(json_t *params, char *err, size_t errlen)
{
	json_t *ts = json_object_get(params, "total_size");
	json_t *dif = json_object_get(params, "dif_type");
	json_t *md = json_object_get(params, "md_size");
	long long bs, total;
	int rc;

	if (json_integer_value(dif) != 0 && json_integer_value(md) == 0) {
		snprintf(err, errlen, "--md-size must be > 0 when --dif-type is > 0");
		return -EINVAL;
	}
	rc = get_block_size(params, &bs, err, errlen);
	if (rc)
		return rc;
	if (!json_is_integer(ts)) {
		snprintf(err, errlen, "argument total_size: missing");
		return -EINVAL;
	}
	total = json_integer_value(ts);
	if (total > LLONG_MAX / (1024 * 1024) || total < LLONG_MIN / (1024 * 1024)) {
		snprintf(err, errlen, "argument total_size: too large");
		return -EINVAL;
	}
	return set_num_blocks(params, py_int_floordiv(total * 1024 * 1024, bs), err, errlen);
}
