/* Guest memory that a client can make fault.
 *
 * Guest memory is a client's file (memfd, tmpfs, hugetlbfs) mapped shared.
 * Its size is checked when it is mapped, but the client may truncate the
 * file afterwards: the next access to a page past the new end raises
 * SIGBUS in whichever thread touched it (a reactor mid-I/O, or the main
 * thread). That must fail the client, not kill the service.
 *
 * Each mapping of client memory is watched here. A SIGBUS inside a watched
 * range replaces the faulting page with an anonymous zero page (the access
 * is retried and succeeds: the service goes on with garbage the client
 * asked for), and the watcher's callback runs on the main thread, where
 * the client is dropped. A SIGBUS anywhere else keeps its default action. */
#ifndef OSNAP_GUEST_FAULT_H
#define OSNAP_GUEST_FAULT_H

#include <stddef.h>

/* Install the SIGBUS handler and watch its notifications in the main
 * loop (after loop_init). Returns 0 or -errno. */
int guest_fault_init(void);
void guest_fault_fini(void);

/* Watch [hva, hva+len): after a fault in it, cb(arg) runs once on the main
 * thread (again after a later fault). Returns a watch id (>= 0), or -ENOSPC
 * when every slot is taken (the mapping then stays unprotected). Main
 * thread. */
int guest_fault_watch(void *hva, size_t len, void (*cb)(void *arg), void *arg);
/* Stop watching (before the range is unmapped). id < 0 is ignored. */
void guest_fault_unwatch(int id);

#endif
