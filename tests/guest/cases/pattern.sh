# pattern: write a random pattern across each disk with O_DIRECT (one writer
# per CPU, each on its own half, so that every hardware queue carries I/O),
# flush, drop the page cache, read it back with O_DIRECT and compare
# (lib.sh's pattern_run). Prints each pattern's sha256 (OSNAP-SUM DEV) so the
# host can compare the backing file, and OSNAP-INFO DEV_hw_queues, DEV_mb,
# DEV_write_ms, DEV_read_ms.
# Parameters: osnap.dev (vda; a comma-separated list for several disks, done
# one after the other), osnap.mb (size limit, MiB), osnap.queues (the number
# of blk-mq hardware queues each disk must have; a list like osnap.dev, its
# last value repeats).
devs=$(echo "${OSNAP_DEV:-vda}" | tr ',' ' ')
qs=$(echo "$OSNAP_QUEUES" | tr ',' ' ')
q=
for d in $devs; do
  if [ -n "$qs" ]; then
    q=${qs%% *}
    case "$qs" in *" "*) qs=${qs#* } ;; *) qs= ;; esac
  fi
  pattern_run $d "$OSNAP_MB" "$q"
done
pass
