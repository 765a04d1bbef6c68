/* Shared use of a bdev by several consumers (see bdev.h: bdev_share). */
#include "bdev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bdev_user {
	const void *owner;
	char *by;
	struct bdev_user *next;
};

int bdev_share(struct bdev *bdev, const void *owner, const char *by)
{
	if (bdev->claimed_by)
		return -EBUSY;
	struct bdev_user *u = calloc(1, sizeof(*u));
	if (!u || !(u->by = strdup(by))) {
		free(u);
		return -ENOMEM;
	}
	u->owner = owner;
	/* appended: the first sharer stays the one errors name */
	struct bdev_user **pp = &bdev->users;
	while (*pp)
		pp = &(*pp)->next;
	*pp = u;
	return 0;
}

void bdev_unshare(struct bdev *bdev, const void *owner)
{
	for (struct bdev_user **pp = &bdev->users; *pp; pp = &(*pp)->next) {
		if ((*pp)->owner == owner) {
			struct bdev_user *u = *pp;
			*pp = u->next;
			free(u->by);
			free(u);
			return;
		}
	}
}

int bdev_share_count(const struct bdev *bdev)
{
	int n = 0;
	for (const struct bdev_user *u = bdev->users; u; u = u->next)
		n++;
	return n;
}

const char *bdev_consumer(const struct bdev *bdev, char *buf, size_t len)
{
	if (bdev->claimed_by)
		return bdev->claimed_by;
	if (!bdev->users)
		return NULL;
	int more = bdev_share_count(bdev) - 1;
	if (more)
		snprintf(buf, len, "%s and %d more", bdev->users->by, more);
	else
		snprintf(buf, len, "%s", bdev->users->by);
	return buf;
}

void bdev_share_free_all(struct bdev *bdev)
{
	while (bdev->users)
		bdev_unshare(bdev, bdev->users->owner);
}
