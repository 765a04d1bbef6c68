/* The osnap-rpc method table: every method, its flags and their JSON keys.
 *
 * SNAP-4 methods follow reference/snap_rpc.md: "-c/--ctrl" is sent as
 * "ctrl_id", "-s/--nqn" as "nqn", other long flags as their own name;
 * Boolean switches are store_true (JSON true, omitted when absent) and the
 * documentation's "0/1" switches accept a bare flag (true) or an explicit
 * 0/1 (sent as an integer). SPDK methods follow SPDK's scripts/rpc.py:
 * "--a-b" is sent as "a_b" unless rpc.py renames it. Ranges are not checked
 * here; the server validates. */
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_table.h"

#define OPTS(a) a, sizeof(a) / sizeof((a)[0])
#define NOARGS NULL, 0

/* optional / required option, positional, option with choices */
#define O(s, l, k, t, h) { .sname = s, .lname = l, .key = k, .type = t, .help = h }
#define R(s, l, k, t, h) { .sname = s, .lname = l, .key = k, .type = t, .flags = CLI_REQ, .help = h }
#define P(n, t, h) { .lname = n, .key = n, .type = t, .flags = CLI_POS | CLI_REQ, .help = h }
#define PO(n, t, h) { .lname = n, .key = n, .type = t, .flags = CLI_POS, .help = h }
#define C(s, l, k, t, ch, h) { .sname = s, .lname = l, .key = k, .type = t, .choices = ch, .help = h }

#define S CLI_STRING
#define I CLI_INT
#define F CLI_FLOAT
#define T CLI_TRUE
#define B CLI_FLAG01

#define CTRL_REQ R("-c", "--ctrl", "ctrl_id", S, "Controller name")
#define CTRL_OPT O("-c", "--ctrl", "ctrl_id", S, "Controller name")
#define NQN_REQ R("-s", "--nqn", "nqn", S, "Subsystem NQN")
#define NQN_OPT O("-s", "--nqn", "nqn", S, "Subsystem NQN (filter)")

/* ---- SNAP: general and emulation functions ---- */

static const struct cli_opt log_level_set[] = {
	R("-l", "--level", "level", I, "Log level: 0 critical, 1 error, 2 warning, 3 info, 4 debug, 5 trace"),
};

static const struct cli_opt function_list[] = {
	O("-a", "--all", "all", T, "Also list inactive VFs"),
};

static const struct cli_opt set_num_vfs[] = {
	O(NULL, "--vuid", "vuid", S, "VUID of the PF"),
	O(NULL, "--pci_bdf", "pci_bdf", S, "PCIe BDF of the PF"),
	O(NULL, "--vhca_id", "vhca_id", I, "vHCA ID of the PF"),
	R(NULL, "--num_vfs", "num_vfs", I, "VFs to enable (the host's sriov_numvfs); 0 disables them"),
};

static const struct cli_opt function_destroy[] = {
	R(NULL, "--vuid", "vuid", S, "VUID of the hot-plugged function"),
};

static const struct cli_opt detach_prepare[] = {
	O(NULL, "--vhca_id", "vhca_id", I, "vHCA ID of the PCIe function"),
	O(NULL, "--vuid", "vuid", S, "VUID of the PCIe function"),
	CTRL_OPT,
};

static const struct cli_opt device_detach[] = {
	O(NULL, "--vhca_id", "vhca_id", I, "vHCA ID of the PCIe function"),
	O(NULL, "--vuid", "vuid", S, "VUID of the PCIe function"),
	O("-f", "--force", "force", T, "Detach even if the preparation failed (surprise unplug)"),
};

#define PCI_IDS \
	O(NULL, "--id", "id", I, "PCI device ID"), \
	O(NULL, "--vid", "vid", I, "PCI vendor ID"), \
	O(NULL, "--ssid", "ssid", I, "PCI subsystem device ID"), \
	O(NULL, "--ssvid", "ssvid", I, "PCI subsystem vendor ID"), \
	O(NULL, "--revid", "revid", I, "PCI revision ID"), \
	O(NULL, "--class_code", "class_code", I, "PCI class code"), \
	O(NULL, "--num_msix", "num_msix", I, "MSI-X table size"), \
	O(NULL, "--total_vf", "total_vf", I, "Maximum number of VFs (hot-plugged PFs: 0, no SR-IOV)"), \
	O(NULL, "--qmp", "qmp", S, "The VMM's QMP socket, told of hotplug and hotunplug (default: EMU_HOTPLUG_QMP_SOCKET)")

static const struct cli_opt function_create[] = {
	O(NULL, "--emu_manager", "emu_manager", S, "Emulation manager (unused)"),
	PCI_IDS,
};

static const struct cli_opt vblk_device_attach[] = {
	PCI_IDS,
	O(NULL, "--bdev", "bdev", S, "Block device to use as backend (refused: give it to the controller)"),
	O(NULL, "--num_queues", "num_queues", I, "Number of I/O queues (1-62; kept and listed)"),
	O(NULL, "--queue_depth", "queue_depth", I, "Queue depth (1-256; kept and listed)"),
	O(NULL, "--transitional_device", "transitional_device", T, "Transitional (legacy) virtio device"),
};

static const struct cli_opt nvme_device_attach[] = {
	PCI_IDS,
	O(NULL, "--num_queues", "num_queues", I, "Number of I/O queues"),
	O(NULL, "--version", "version", S, "NVMe specification version"),
};

/* ---- SNAP: virtio-blk controllers ---- */

#define FUNC_SELECT \
	O(NULL, "--vuid", "vuid", S, "VUID of the PCIe function"), \
	O(NULL, "--vhca_id", "vhca_id", I, "vHCA ID of the PCIe function"), \
	O(NULL, "--pf_id", "pf_id", I, "PF index"), \
	O(NULL, "--vf_id", "vf_id", I, "VF index (with --pf_id)"), \
	O(NULL, "--pci_bdf", "pci_bdf", S, "PCIe BDF of the function")

static const struct cli_opt vblk_create[] = {
	FUNC_SELECT,
	CTRL_OPT,
	O(NULL, "--num_queues", "num_queues", I, "Number of I/O queues"),
	O(NULL, "--queue_size", "queue_size", I, "Queue size (power of 2)"),
	O(NULL, "--size_max", "size_max", I, "Maximal SGE data transfer size"),
	O(NULL, "--seg_max", "seg_max", I, "Maximal SGE list length"),
	O(NULL, "--bdev", "bdev", S, "Block device to use as backend ('none': no media)"),
	O(NULL, "--dbg_bdev_type", "dbg_bdev_type", S, "Debug bdev type (e.g. null)"),
	O(NULL, "--vblk_id", "vblk_id", S, "Serial number (virtio-blk ID string)"),
	O(NULL, "--dbg_admin_q", "dbg_admin_q", B, "Admin virtqueue (live migration, vDPA): not supported"),
	O(NULL, "--admin_q", "admin_q", B, "Same as --dbg_admin_q (osnap's earlier spelling)"),
	O(NULL, "--dynamic_msix", "dynamic_msix", B, "Dynamic MSI-X for the VFs of this PF (PFs with VFs)"),
	O(NULL, "--vf_num_msix", "vf_num_msix", I, "MSI-X vectors of this VF, from its PF's pool (2-2048)"),
	O(NULL, "--num_msix", "num_msix", I, "Same as --vf_num_msix (osnap's earlier spelling)"),
	O(NULL, "--force_in_order", "force_in_order", B, "Crash recovery support (in-order completion)"),
	O(NULL, "--indirect_desc", "indirect_desc", B, "Indirect descriptors"),
	O(NULL, "--read_only", "read_only", B, "Read-only device"),
	O(NULL, "--suspended", "suspended", B, "Create suspended"),
	O(NULL, "--live_update_listener", "live_update_listener", B, "Listen for live update notifications"),
	O(NULL, "--dbg_local_optimized", "dbg_local_optimized", B, "Read latency optimization"),
};

static const struct cli_opt vblk_destroy[] = {
	CTRL_REQ,
	O("-f", "--force", "force", T, "Force destroying a VF controller while SR-IOV is on"),
	O(NULL, "--release_msix", "release_msix", B, "Release the VF's MSI-X back to its PF's free pool"),
};

static const struct cli_opt vblk_suspend[] = {
	CTRL_REQ,
	O(NULL, "--events_only", "events_only", T, "Suspend event handling only"),
	O("-t", "--timeout_ms", "timeout_ms", I, "Suspend timeout in milliseconds"),
	O("-lu", "--live_update_notifier", "live_update_notifier", T, "Send a live update notification: not supported"),
};

static const struct cli_opt ctrl_only[] = {
	CTRL_REQ,
};

static const struct cli_opt ctrl_filter[] = {
	CTRL_OPT,
};

static const struct cli_opt vblk_bdev_attach[] = {
	CTRL_REQ,
	R(NULL, "--bdev", "bdev", S, "Block device name ('none': no media)"),
	O(NULL, "--dbg_bdev_type", "dbg_bdev_type", S, "Debug bdev type (e.g. null)"),
	O(NULL, "--vblk_id", "vblk_id", S, "New serial number"),
};

static const struct cli_opt ctrl_modify[] = {
	CTRL_OPT,
	O(NULL, "--num_queues", "num_queues", I, "Number of queues"),
	O(NULL, "--num_msix", "num_msix", I, "Number of MSI-X vectors (VF controllers of a dynamic MSI-X PF)"),
};

static const struct cli_opt ctrl_hotplug[] = {
	CTRL_REQ,
	O(NULL, "--wait_for_done", "wait_for_done", T, "Answer once the VMM added the function (hotplug), or the guest released it (hotunplug: DEVICE_DELETED)"),
};

/* ---- SNAP: NVMe subsystems, namespaces, controllers ---- */

static const struct cli_opt subsys_create[] = {
	NQN_REQ,
	O("-sn", "--serial_number", "serial_number", S, "Serial number (up to 20 characters)"),
	O("-mn", "--model_number", "model_number", S, "Model number"),
	O("-nn", NULL, "nn", I, "Maximal namespace ID (default 0xFFFFFFFE)"),
	O("-mnan", NULL, "mnan", I, "Maximal number of namespaces (default 1024)"),
	O(NULL, "--single_ctrl", "single_ctrl", T, "Allow a single controller only"),
};

static const struct cli_opt subsys_destroy[] = {
	NQN_REQ,
	O(NULL, "--force", "force", T, "Also destroy its controllers and namespaces"),
};

static const struct cli_opt ns_create[] = {
	NQN_REQ,
	R("-n", "--nsid", "nsid", I, "Namespace ID"),
	R("-b", "--bdev_name", "bdev_name", S, "Block device backing the namespace"),
	O(NULL, "--uuid", "uuid", S, "Namespace UUID"),
	O(NULL, "--nguid", "nguid", S, "Namespace NGUID"),
	O(NULL, "--eui64", "eui64", S, "Namespace EUI-64"),
	O(NULL, "--bdev_type", "bdev_type", S, "Bdev type (e.g. spdk)"),
};

static const struct cli_opt ns_destroy[] = {
	NQN_REQ,
	R("-n", "--nsid", "nsid", I, "Namespace ID"),
};

static const struct cli_opt ns_list[] = {
	NQN_OPT,
	O("-n", "--nsid", "nsid", I, "Namespace ID (filter)"),
};

static const struct cli_opt nvme_create[] = {
	NQN_REQ,
	FUNC_SELECT,
	CTRL_OPT,
	O(NULL, "--num_queues", "num_queues", I, "Number of I/O queues"),
	O(NULL, "--mdts", "mdts", I, "MDTS (power of two of the page size)"),
	O(NULL, "--fw_slots", "fw_slots", I, "Number of firmware slots"),
	O(NULL, "--write_zeroes", "write_zeroes", B, "Write Zeroes support"),
	O(NULL, "--compare", "compare", B, "Compare support"),
	O(NULL, "--compare_write", "compare_write", B, "Fused Compare and Write support"),
	O(NULL, "--dsm", "dsm", B, "Dataset Management support"),
	O(NULL, "--suspended", "suspended", B, "Create suspended (resume with nvme_controller_resume)"),
	O(NULL, "--snapshot", "snapshot", S, "Create from a snapshot file"),
	O(NULL, "--dynamic_msix", "dynamic_msix", B, "Dynamic MSI-X management for the VFs (PFs with VFs)"),
	O(NULL, "--vf_num_msix", "vf_num_msix", I, "MSI-X vectors of this VF, from its PF's pool (2-2048)"),
	O(NULL, "--num_msix", "num_msix", I, "Same as --vf_num_msix (osnap's earlier spelling)"),
	O(NULL, "--admin_only", "admin_only", B, "Admin queue only, no I/O queues"),
	O(NULL, "--quirks", "quirks", I, "Bitmask of driver quirks"),
	O(NULL, "--live_update_listener", "live_update_listener", B, "Passive side of a live update"),
};

static const struct cli_opt nvme_destroy[] = {
	CTRL_REQ,
	O(NULL, "--release_msix", "release_msix", B, "Release MSI-X back to the PF's free pool (VFs)"),
	O("-f", "--force", "force", B, "Destroy even if a driver is up or the VF is enabled"),
};

static const struct cli_opt nvme_suspend[] = {
	CTRL_REQ,
	O("-t", "--timeout_ms", "timeout_ms", I, "Time to let in-flight I/O finish, in ms"),
	O(NULL, "--admin_only", "admin_only", B, "Suspend the admin queue only"),
	O("-lu", "--live_update_notifier", "live_update_notifier", B, "Send a live update notification: not supported"),
};

static const struct cli_opt nvme_resume[] = {
	CTRL_REQ,
	O(NULL, "--live_update", "live_update", B, "Live update resume: not supported"),
};

/* SNAP's client also takes the controller as a positional word
 * ("nvme_controller_vfs_msix_reclaim <CtrlName>") */
static const struct cli_opt ctrl_pos[] = {
	CTRL_OPT,
	{ .lname = "ctrl", .key = "ctrl_id", .type = CLI_STRING, .flags = CLI_POS,
	  .help = "Controller name (instead of -c)" },
};

static const struct cli_opt nvme_snapshot[] = {
	CTRL_REQ,
	R("-f", "--filename", "filename", S, "File to write the snapshot to"),
};

static const struct cli_opt nvme_list[] = {
	NQN_OPT,
	CTRL_OPT,
};

static const struct cli_opt nvme_ns_attach[] = {
	CTRL_REQ,
	R("-n", "--nsid", "nsid", I, "Namespace ID"),
};

/* ---- SPDK: framework and bdevs ---- */

static const struct cli_opt get_methods[] = {
	O("-c", "--current", "current", T, "Only methods callable in the current state"),
	O("-i", "--include-aliases", "include_aliases", T, "Include aliases"),
};

static const struct cli_opt spdk_level[] = {
	P("level", S, "Log level: DISABLED, ERROR, WARNING, NOTICE, INFO or DEBUG"),
};

static const struct cli_opt get_config[] = {
	P("name", S, "Name of the subsystem (framework_get_subsystems lists them)"),
};

static const struct cli_opt save_config[] = {
	O("-i", "--indent", NULL, I, "Indent level (client side; the output is indented by 2)"),
};

static const struct cli_opt get_bdevs[] = {
	O("-b", "--name", "name", S, "Name of the bdev"),
	O("-t", "--timeout-ms", "timeout", I, "Time in ms to wait for the bdev to appear"),
};

static const struct cli_opt get_iostat[] = {
	O("-b", "--name", "name", S, "Name of the bdev"),
};

static const struct cli_opt name_only[] = {
	P("name", S, "bdev name"),
};

static const struct cli_opt malloc_create[] = {
	O("-b", "--name", "name", S, "Name of the bdev"),
	O("-u", "--uuid", "uuid", S, "UUID of the bdev"),
	P("total_size", F, "Size of the malloc bdev in MiB (float > 0)"),
	P("block_size", I, "Data block size"),
	O("-p", "--physical-block-size", "physical_block_size", I, "Physical block size"),
	O("-o", "--optimal-io-boundary", "optimal_io_boundary", I, "Split on this boundary, in blocks (0: off)"),
	O("-m", "--md-size", "md_size", I, "Metadata size (0, 8, 16, 32, 64 or 128)"),
	O("-i", "--md-interleave", "md_interleave", T, "Interleave metadata with data"),
	C("-t", "--dif-type", "dif_type", I, "0|1|2|3", "Protection information type"),
	O("-d", "--dif-is-head-of-md", "dif_is_head_of_md", T, "PI in the first 8 bytes of metadata"),
	C("-f", "--dif-pi-format", "dif_pi_format", I, "0|1|2", "PI format: 0 16b, 1 32b, 2 64b guard"),
	O("-n", "--numa-id", "numa_id", I, "NUMA node for the memory (-1: any)"),
};

static const struct cli_opt null_create[] = {
	P("name", S, "Block device name"),
	O("-u", "--uuid", "uuid", S, "UUID of the bdev"),
	P("total_size", I, "Size of the null bdev in MiB (int > 0)"),
	P("block_size", I, "Data block size"),
	O("-p", "--physical-block-size", "physical_block_size", I, "Physical block size"),
	O("-m", "--md-size", "md_size", I, "Metadata size"),
	C("-t", "--dif-type", "dif_type", I, "0|1|2|3", "Protection information type (needs --md-size)"),
	O("-d", "--dif-is-head-of-md", "dif_is_head_of_md", T, "PI in the first 8 bytes of metadata"),
	C("-f", "--dif-pi-format", "dif_pi_format", I, "0|1|2", "PI format: 0 16b, 1 32b, 2 64b guard"),
	O("-a", "--preferred-write-alignment", "preferred_write_alignment", I, "Preferred write alignment, blocks"),
	O("-g", "--preferred-write-granularity", "preferred_write_granularity", I, "Preferred write granularity, blocks"),
	O("-s", "--optimal-write-size", "optimal_write_size", I, "Optimal write size, blocks"),
	O("-c", "--preferred-unmap-alignment", "preferred_unmap_alignment", I, "Preferred unmap alignment, blocks"),
	O("-r", "--preferred-unmap-granularity", "preferred_unmap_granularity", I, "Preferred unmap granularity, blocks"),
};

static const struct cli_opt uring_create[] = {
	P("filename", S, "Path to the device or file (e.g. /dev/nvme0n1)"),
	P("name", S, "bdev name"),
	PO("block_size", I, "Block size (default: the device's)"),
	O("-u", "--uuid", "uuid", S, "UUID of the bdev"),
};

static const struct cli_opt aio_create[] = {
	P("filename", S, "Path to the device or file (e.g. /dev/sda)"),
	P("name", S, "Block device name"),
	PO("block_size", I, "Block size (default: the device's)"),
	O("-r", "--readonly", "readonly", T, "Read-only bdev"),
	O(NULL, "--fallocate", "fallocate", T, "Unmap and write zeroes through fallocate"),
	O("-u", "--uuid", "uuid", S, "UUID of the bdev"),
	O(NULL, "--no-wait", "nowait", T, "Use RWF_NOWAIT (block devices only)"),
};

static const struct cli_opt rbd_register_cluster[] = {
	P("name", S, "Name of the Rados cluster only known to rbd bdevs"),
	O(NULL, "--user", "user_id", S, "Ceph user name (i.e. admin, not client.admin)"),
	O(NULL, "--config-param", "config_param", CLI_KV, "key=value librados option (repeatable)"),
	O(NULL, "--config-file", "config_file", S, "The Rados configuration file"),
	O(NULL, "--key-file", "key_file", S, "The Rados keyring file"),
	O(NULL, "--core-mask", "core_mask", S, "Core mask for librbd threads (accepted, not applied)"),
};

static const struct cli_opt rbd_cluster_name[] = {
	P("name", S, "Name of the registered Rados cluster"),
};

static const struct cli_opt rbd_clusters_info[] = {
	O("-b", "--name", "name", S, "Name of a registered Rados cluster"),
};

static const struct cli_opt rbd_create[] = {
	O("-b", "--name", "name", S, "Name of the bdev (default: Ceph<n>)"),
	O(NULL, "--user", "user_id", S, "Ceph user name (i.e. admin, not client.admin)"),
	O(NULL, "--config", "config", CLI_KV, "key=value librados option (repeatable)"),
	O(NULL, "--config-param", "config", CLI_KV, "the same as --config"),
	P("pool_name", S, "rbd pool name"),
	P("rbd_name", S, "rbd image name"),
	P("block_size", I, "rbd block size"),
	O("-c", "--cluster-name", "cluster_name", S, "A registered Rados cluster"),
	O("-u", "--uuid", "uuid", S, "UUID of the bdev"),
	O("-r", "--readonly", "read_only", T, "Read-only bdev"),
};

static const struct cli_opt rbd_resize[] = {
	P("name", S, "rbd bdev name"),
	P("new_size", I, "New size in MiB"),
};

static const struct cli_opt nvme_attach[] = {
	R("-b", "--name", "name", S, "Name of the NVMe controller, prefix of its bdev names"),
	R("-t", "--trtype", "trtype", S, "Transport type: tcp, rdma, pcie"),
	R("-a", "--traddr", "traddr", S, "Target address: an IP address or a BDF"),
	O("-f", "--adrfam", "adrfam", S, "Address family: ipv4, ipv6, ib, fc, intra_host"),
	O("-s", "--trsvcid", "trsvcid", S, "Transport service ID (port)"),
	O("-p", "--priority", "priority", I, "Connection priority"),
	O("-n", "--subnqn", "subnqn", S, "Target subsystem NQN"),
	O("-q", "--hostnqn", "hostnqn", S, "Host NQN"),
	O(NULL, "--hostid", "hostid", S, "Host identifier (a UUID)"),
	O("-i", "--hostaddr", "hostaddr", S, "Host address"),
	O("-c", "--hostsvcid", "hostsvcid", S, "Host service ID (port)"),
	O("-r", "--prchk-reftag", "prchk_reftag", T, "Check PI reference tags"),
	O("-g", "--prchk-guard", "prchk_guard", T, "Check PI guards"),
	O("-e", "--hdgst", "hdgst", T, "TCP header digest"),
	O("-d", "--ddgst", "ddgst", T, "TCP data digest"),
	O(NULL, "--fabrics-timeout", "fabrics_connect_timeout_us", I, "Fabrics connect timeout, us"),
	C("-x", "--multipath", "multipath", S, "disable|failover|multipath", "Multipath behaviour"),
	O(NULL, "--num-io-queues", "num_io_queues", I, "Number of I/O queues to request"),
	O("-l", "--ctrlr-loss-timeout-sec", "ctrlr_loss_timeout_sec", I, "Reconnect for this long before deleting (-1: forever)"),
	O("-o", "--reconnect-delay-sec", "reconnect_delay_sec", I, "Delay between reconnect attempts"),
	O("-u", "--fast-io-fail-timeout-sec", "fast_io_fail_timeout_sec", I, "Fail I/O after this long disconnected"),
	O("-k", "--psk", "psk", S, "TLS PSK (key name)"),
	O("-m", "--max-bdevs", "max_bdevs", I, "Size of the returned name array (default 128)"),
	O(NULL, "--dhchap-key", "dhchap_key", S, "DH-HMAC-CHAP key name"),
	O(NULL, "--dhchap-ctrlr-key", "dhchap_ctrlr_key", S, "DH-HMAC-CHAP controller key name"),
	O("-U", "--allow-unrecognized-csi", "allow_unrecognized_csi", T, "Attach namespaces of unknown command sets"),
};

static const struct cli_opt nvme_detach[] = {
	P("name", S, "Name of the controller"),
	O("-t", "--trtype", "trtype", S, "Transport type"),
	O("-a", "--traddr", "traddr", S, "Target address"),
	O("-f", "--adrfam", "adrfam", S, "Address family"),
	O("-s", "--trsvcid", "trsvcid", S, "Transport service ID"),
	O("-n", "--subnqn", "subnqn", S, "Target subsystem NQN"),
	O("-i", "--hostaddr", "hostaddr", S, "Host address"),
	O("-c", "--hostsvcid", "hostsvcid", S, "Host service ID"),
};

static const struct cli_opt nvme_get_controllers[] = {
	O("-n", "--name", "name", S, "Name of the controller"),
};

static const struct cli_opt nvme_reset_controller[] = {
	P("name", S, "Name of the controller"),
	O("-c", "--cntlid", "cntlid", I, "Controller ID (one path: ignored)"),
};

static const struct cli_opt nvme_set_options[] = {
	C("-a", "--action-on-timeout", "action_on_timeout", S, "none|reset|abort", "Action on command timeout"),
	O("-t", "--timeout-us", "timeout_us", I, "Command timeout, us (0: none)"),
	O(NULL, "--timeout-admin-us", "timeout_admin_us", I, "Admin command timeout, us"),
	O("-k", "--keep-alive-timeout-ms", "keep_alive_timeout_ms", I, "Keep-alive timeout, ms (0: off)"),
	O(NULL, "--arbitration-burst", "arbitration_burst", I, "Arbitration burst (power of two)"),
	O(NULL, "--low-priority-weight", "low_priority_weight", I, "Low priority weight"),
	O(NULL, "--medium-priority-weight", "medium_priority_weight", I, "Medium priority weight"),
	O(NULL, "--high-priority-weight", "high_priority_weight", I, "High priority weight"),
	O("-p", "--nvme-adminq-poll-period-us", "nvme_adminq_poll_period_us", I, "Admin queue poll period, us"),
	O("-i", "--nvme-ioq-poll-period-us", "nvme_ioq_poll_period_us", I, "I/O queue poll period, us"),
	O("-s", "--io-queue-requests", "io_queue_requests", I, "Requests per I/O queue"),
	{ .sname = "-d", .lname = "--disable-delay-cmd-submit", .key = "delay_cmd_submit",
	  .type = CLI_FALSE, .help = "Do not batch command submission" },
	O("-c", "--transport-retry-count", "transport_retry_count", I, "Transport retries per I/O"),
	O("-r", "--bdev-retry-count", "bdev_retry_count", I, "bdev layer retries per I/O (-1: forever)"),
	O("-e", "--transport-ack-timeout", "transport_ack_timeout", I, "Transport ACK timeout (0-31)"),
	O("-l", "--ctrlr-loss-timeout-sec", "ctrlr_loss_timeout_sec", I, "Reconnect for this long before deleting"),
	O("-o", "--reconnect-delay-sec", "reconnect_delay_sec", I, "Delay between reconnect attempts"),
	O("-u", "--fast-io-fail-timeout-sec", "fast_io_fail_timeout_sec", I, "Fail I/O after this long disconnected"),
	O("-f", "--disable-auto-failback", "disable_auto_failback", T, "No automatic failback"),
	O(NULL, "--generate-uuids", "generate_uuids", T, "Generate UUIDs for bdevs without one"),
	O(NULL, "--transport-tos", "transport_tos", I, "IPv4 type of service (RDMA)"),
	O("-m", "--nvme-error-stat", "nvme_error_stat", T, "Count NVMe errors"),
	O("-q", "--rdma-srq-size", "rdma_srq_size", I, "Shared RDMA receive queue size (0: off)"),
	O(NULL, "--io-path-stat", "io_path_stat", T, "Per I/O path statistics"),
	O(NULL, "--allow-accel-sequence", "allow_accel_sequence", T, "Advertise accel sequence support"),
	O(NULL, "--rdma-max-cq-size", "rdma_max_cq_size", I, "Maximum RDMA CQ size (0: unlimited)"),
	O(NULL, "--rdma-cm-event-timeout-ms", "rdma_cm_event_timeout_ms", I, "RDMA CM event timeout, ms"),
	O(NULL, "--rdma-umr-per-io", "rdma_umr_per_io", T, "Use an RDMA memory region per I/O"),
	{ .lname = "--no-rdma-umr-per-io", .key = "rdma_umr_per_io", .type = CLI_FALSE,
	  .help = "Do not use an RDMA memory region per I/O" },
	O(NULL, "--tcp-connect-timeout-ms", "tcp_connect_timeout_ms", I, "TCP connect timeout, ms (0: none)"),
	O(NULL, "--enable-flush", "enable_flush", T, "Pass flush to NVMe with a volatile write cache"),
};

static const struct cli_opt sock_default_impl[] = {
	R("-i", "--impl", "impl_name", S, "Socket implementation name: posix or uring"),
};

static const struct cli_opt ext_passthru[] = {
	R("-b", "--base-bdev-name", "base_bdev_name", S, "Name of the existing bdev"),
	R("-p", "--name", "name", S, "Name of the pass-through bdev"),
};

/* ---- osnap's own ---- */

static const struct cli_opt dbg_io[] = {
	R("-b", "--name", "name", S, "Name of the bdev"),
	{ .sname = "-o", .lname = "--op", .key = "op", .type = CLI_STRING, .flags = CLI_REQ,
	  .choices = "read|write|flush|unmap|write_zeroes|compare", .help = "Operation" },
	O(NULL, "--offset", "offset_blocks", I, "First block"),
	O(NULL, "--num-blocks", "num_blocks", I, "Number of blocks"),
	O(NULL, "--data", "data", S, "Data to write or compare, base64"),
	O(NULL, "--pattern", "pattern", I, "Byte to fill the data with"),
	O(NULL, "--fua", "fua", T, "Force unit access"),
};

#define M(n, s, o) { .name = n, .summary = s, .opts = o }
/* a method osnapd does not serve yet: it answers -95 naming what is missing */
#define MN(n, s, o, miss) { .name = n, .summary = s, .opts = o, .missing = miss }
#define MX(n, s, o, x) { .name = n, .summary = s, .opts = o, .xform = x }

const struct cli_method cli_method_table[] = {
	/* SNAP: general */
	M("snap_log_level_set", "Set the log level", OPTS(log_level_set)),
	M("snap_global_param_list", "List the global parameters (SNAP_* environment)", NOARGS),
	M("emulation_function_list", "List the emulated PCIe functions", OPTS(function_list)),
	M("emulation_resource_list", "Show the free MSI-X and queue resources", NOARGS),
	M("emulation_function_set_num_vfs", "Enable VFs of a PF as the host's sriov_numvfs would (osnap)",
	  OPTS(set_num_vfs)),
	M("emulation_device_detach_prepare", "Prepare a hot-plugged function for detach", OPTS(detach_prepare)),
	M("emulation_device_detach", "Detach a hot-plugged function", OPTS(device_detach)),
	M("virtio_blk_emulation_device_attach", "Hot-plug a virtio-blk PF (legacy API)", OPTS(vblk_device_attach)),
	M("nvme_emulation_device_attach", "Hot-plug an NVMe PF (legacy API)", OPTS(nvme_device_attach)),
	M("virtio_blk_function_create", "Create a hot-pluggable virtio-blk PF (not yet visible)", OPTS(function_create)),
	M("virtio_blk_function_destroy", "Destroy a hot-pluggable virtio-blk PF", OPTS(function_destroy)),
	M("nvme_function_create", "Create a hot-pluggable NVMe PF (not yet visible)", OPTS(function_create)),
	M("nvme_function_destroy", "Destroy a hot-pluggable NVMe PF", OPTS(function_destroy)),
	/* SNAP: virtio-blk */
	M("virtio_blk_controller_create", "Create a virtio-blk controller on a function", OPTS(vblk_create)),
	M("virtio_blk_controller_destroy", "Destroy a virtio-blk controller", OPTS(vblk_destroy)),
	M("virtio_blk_controller_suspend", "Suspend a virtio-blk controller", OPTS(vblk_suspend)),
	M("virtio_blk_controller_resume", "Resume a virtio-blk controller", OPTS(ctrl_only)),
	M("virtio_blk_controller_bdev_attach", "Attach a bdev to a virtio-blk controller", OPTS(vblk_bdev_attach)),
	M("virtio_blk_controller_bdev_detach", "Detach the bdev of a virtio-blk controller", OPTS(ctrl_only)),
	M("virtio_blk_controller_list", "List virtio-blk controllers", OPTS(ctrl_filter)),
	M("virtio_blk_controller_modify", "Change queues or MSI-X of an idle virtio-blk controller", OPTS(ctrl_modify)),
	M("virtio_blk_controller_hotplug", "Expose a hot-pluggable virtio-blk function to the host", OPTS(ctrl_hotplug)),
	M("virtio_blk_controller_hotunplug", "Hide a hot-plugged virtio-blk function from the host", OPTS(ctrl_hotplug)),
	M("virtio_blk_controller_dbg_io_stats_get", "Per-queue I/O counters of a virtio-blk controller", OPTS(ctrl_only)),
	M("virtio_blk_controller_dbg_debug_stats_get", "Per-queue state of a virtio-blk controller", OPTS(ctrl_only)),
	M("virtio_blk_controller_vfs_msix_reclaim", "Take every VF's MSI-X back to the PF's free pool", OPTS(ctrl_pos)),
	/* SNAP: NVMe */
	M("nvme_subsystem_create", "Create an NVMe subsystem", OPTS(subsys_create)),
	M("nvme_subsystem_destroy", "Destroy an NVMe subsystem", OPTS(subsys_destroy)),
	M("nvme_subsystem_list", "List NVMe subsystems", NOARGS),
	M("nvme_namespace_create", "Create an NVMe namespace on a bdev", OPTS(ns_create)),
	M("nvme_namespace_destroy", "Destroy an NVMe namespace", OPTS(ns_destroy)),
	M("nvme_namespace_list", "List NVMe namespaces", OPTS(ns_list)),
	M("nvme_controller_create", "Create an NVMe controller on a function", OPTS(nvme_create)),
	M("nvme_controller_destroy", "Destroy an NVMe controller", OPTS(nvme_destroy)),
	M("nvme_controller_suspend", "Suspend an NVMe controller", OPTS(nvme_suspend)),
	M("nvme_controller_resume", "Resume (or start) an NVMe controller", OPTS(nvme_resume)),
	M("nvme_controller_attach_ns", "Attach a namespace to an NVMe controller", OPTS(nvme_ns_attach)),
	M("nvme_controller_detach_ns", "Detach a namespace from an NVMe controller", OPTS(nvme_ns_attach)),
	M("nvme_controller_list", "List NVMe controllers", OPTS(nvme_list)),
	M("nvme_controller_modify", "Change queues or MSI-X of an idle NVMe controller", OPTS(ctrl_modify)),
	M("nvme_controller_hotplug", "Expose a hot-pluggable NVMe function to the host", OPTS(ctrl_hotplug)),
	M("nvme_controller_hotunplug", "Hide a hot-plugged NVMe function from the host", OPTS(ctrl_hotplug)),
	M("nvme_controller_dbg_io_stats_get", "Per-queue I/O counters of an NVMe controller", OPTS(ctrl_only)),
	M("nvme_controller_dbg_debug_stats_get", "Registers and SQ/CQ state of an NVMe controller", OPTS(ctrl_only)),
	M("nvme_controller_snapshot_get", "Write the state of a suspended NVMe controller to a file", OPTS(nvme_snapshot)),
	M("nvme_controller_vfs_msix_reclaim", "Take every VF's MSI-X back to the PF's free pool", OPTS(ctrl_pos)),
	/* SPDK: framework */
	M("rpc_get_methods", "List the supported RPC methods", OPTS(get_methods)),
	M("spdk_get_version", "Show the version (SPDK-compatible form)", NOARGS),
	M("osnap_get_version", "Show the osnap version", NOARGS),
	M("framework_start_init", "Finish start-up when started with --wait-for-rpc", NOARGS),
	M("framework_wait_init", "Wait until the framework is initialized", NOARGS),
	M("framework_get_subsystems", "List the subsystems and their dependencies", NOARGS),
	M("framework_get_config", "Print one subsystem's configuration", OPTS(get_config)),
	M("framework_get_reactors", "List the reactors and their threads", NOARGS),
	M("thread_get_stats", "Busy and idle time and pollers of each thread", NOARGS),
	M("log_set_level", "Set the log level (SPDK's names)", OPTS(spdk_level)),
	M("log_get_level", "Show the log level (SPDK's names)", NOARGS),
	M("log_set_print_level", "Set the print level (SPDK's names; osnap has one log)", OPTS(spdk_level)),
	M("log_get_print_level", "Show the print level (SPDK's names)", NOARGS),
	M("save_config", "Print the configuration as RPC calls", OPTS(save_config)),
	M("sock_set_default_impl", "Set the default socket implementation", OPTS(sock_default_impl)),
	M("sock_get_default_impl", "Show the default socket implementation", NOARGS),
	/* SPDK: bdevs */
	M("bdev_get_bdevs", "List block devices, or one", OPTS(get_bdevs)),
	M("bdev_get_iostat", "I/O statistics of block devices, or of one", OPTS(get_iostat)),
	M("bdev_wait_for_examine", "Wait until every bdev was examined (at once in osnap)", NOARGS),
	MX("bdev_malloc_create", "Create a RAM block device", OPTS(malloc_create), cli_xform_malloc_create),
	M("bdev_malloc_delete", "Delete a RAM block device", OPTS(name_only)),
	MX("bdev_null_create", "Create a null block device (discards writes; reads leave the buffer untouched)",
	   OPTS(null_create), cli_xform_null_create),
	M("bdev_null_delete", "Delete a null block device", OPTS(name_only)),
	M("bdev_uring_create", "Create a block device on a file or device through io_uring", OPTS(uring_create)),
	M("bdev_uring_delete", "Delete an io_uring block device", OPTS(name_only)),
	M("bdev_aio_create", "Create a block device on a file or device through Linux AIO", OPTS(aio_create)),
	M("bdev_aio_delete", "Delete an AIO block device", OPTS(name_only)),
	M("bdev_nvme_attach_controller", "Connect to an NVMe(-oF) controller and create its bdevs", OPTS(nvme_attach)),
	M("bdev_nvme_detach_controller", "Disconnect an NVMe controller and delete its bdevs", OPTS(nvme_detach)),
	M("bdev_nvme_set_options", "Set options of NVMe block devices (start-up)", OPTS(nvme_set_options)),
	M("bdev_nvme_get_controllers", "List NVMe controllers, or one", OPTS(nvme_get_controllers)),
	M("bdev_nvme_reset_controller", "Reconnect an NVMe controller", OPTS(nvme_reset_controller)),
	M("bdev_rbd_register_cluster", "Register a Rados cluster for rbd bdevs", OPTS(rbd_register_cluster)),
	M("bdev_rbd_unregister_cluster", "Unregister a Rados cluster", OPTS(rbd_cluster_name)),
	M("bdev_rbd_get_clusters_info", "Registered Rados clusters, or one", OPTS(rbd_clusters_info)),
	M("bdev_rbd_create", "Create a block device on a Ceph RBD image", OPTS(rbd_create)),
	M("bdev_rbd_delete", "Delete a Ceph RBD block device", OPTS(name_only)),
	M("bdev_rbd_resize", "Grow a Ceph RBD block device (MiB)", OPTS(rbd_resize)),
	MN("construct_ext_passthru_bdev", "Create a pass-through bdev on an existing bdev (plugin)", OPTS(ext_passthru), "bdev plugins"),
	/* osnap debug */
	M("bdev_dbg_io", "Submit one I/O to a block device (debug)", OPTS(dbg_io)),
};

const size_t cli_method_count = sizeof(cli_method_table) / sizeof(cli_method_table[0]);

/* Look a method up by exact name; NULL when unknown. */
const struct cli_method *cli_method_find(const char *name)
{
	for (size_t i = 0; i < cli_method_count; i++)
		if (strcmp(cli_method_table[i].name, name) == 0)
			return &cli_method_table[i];
	return NULL;
}
