"""What a benchmark result says: the machine it ran on, and the tables
(data path per point with the osnap / qemu-storage-daemon ratios, then the
service figures)."""
import json
import os
import platform
import subprocess


def _out(cmd, cwd=None):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=30).stdout.strip()
    except OSError:
        return ""


def machine(top, build):
    """lscpu, kernel, memory, load average, versions."""
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = line.split(":", 1)[1].strip()
    return {
        "lscpu": _out(["lscpu"]),
        "kernel": platform.release(),
        "uname": " ".join(platform.uname()),
        "cpus": os.cpu_count(),
        "mem_total": mem,
        "loadavg_at_start": load,
        "osnap_git": _out(["git", "rev-parse", "HEAD"], cwd=top),
        "osnap_git_dirty": bool(_out(["git", "status", "--porcelain", "--untracked-files=no"], cwd=top)),
        "osnapd_version": _out([os.path.join(build, "osnapd"), "--version"]),
        "qemu_storage_daemon_version": _out(["qemu-storage-daemon", "--version"]).splitlines()[0:1],
    }


def _f(v, fmt="%.1f"):
    return fmt % v if isinstance(v, (int, float)) else "-"


def _ratio(a, b):
    return "%.2f" % (a / b) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "-"


def points_table(points):
    """Markdown table of the data-path points, osnap rows with their ratio to
    qemu-storage-daemon at the same backend, workload and queue depth."""
    qsd = {(p["backend"], p["workload"], p["qd"]): p for p in points if p["target"] == "qsd-vblk"}
    lines = ["| backend | workload | QD | server | IOPS | p50 µs | p99 µs | server CPU s / M I/O "
             "| IOPS ratio | p99 ratio | CPU/IO ratio | other load % |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in points:
        q = qsd.get((p["backend"], p["workload"], p["qd"]), {})
        mine = p["target"] != "qsd-vblk"
        lines.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            p["backend"], p["workload"], p["qd"], p["target"],
            _f(p.get("iops"), "%.0f"), _f(p.get("p50_us"), "%.1f"), _f(p.get("p99_us"), "%.1f"),
            _f(p.get("server_cpu_s_per_mio"), "%.2f"),
            _ratio(p.get("iops"), q.get("iops")) if mine else "",
            _ratio(p.get("p99_us"), q.get("p99_us")) if mine else "",
            _ratio(p.get("server_cpu_s_per_mio"), q.get("server_cpu_s_per_mio")) if mine else "",
            "%s / %s" % (_f(p.get("other_load_server_core_pct"), "%.0f"),
                         _f(p.get("other_load_client_core_pct"), "%.0f"))))
    return "\n".join(lines)


def service_table(r):
    """Markdown table of memory, idle CPU and control-plane figures."""
    rows = [("osnapd RSS idle (configured, no client)", "%d KiB" % r["osnapd_rss_kib_idle"]),
            ("osnapd RSS under load (max while measuring)", "%d KiB" % r["osnapd_rss_kib_load"]),
            ("qemu-storage-daemon RSS idle / under load", "%d / %d KiB" %
             (r["qsd_rss_kib_idle"], r["qsd_rss_kib_load"])),
            ("osnapd CPU while idle, %d s" % r["idle_seconds"], "%.3f s" % r["osnapd_idle_cpu_s"]),
            ("qemu-storage-daemon CPU while idle, %d s" % r["idle_seconds"], "%.3f s" % r["qsd_idle_cpu_s"])]
    c = r.get("control")
    if c:
        for how, label in (("osnap_rpc_cli", "one osnap-rpc process per call"),
                           ("one_connection", "one JSON-RPC connection")):
            x = c[how]
            rows.append(("create %d null bdevs + %d namespaces + %d controllers + %d attaches, %s" %
                         (c["count"], c["count"], c["count"], c["count"], label),
                         "%.1f ms (bdevs %.1f, namespaces %.1f, controllers %.1f, attach %.1f)" %
                         tuple(1e3 * x[k] for k in ("total", "bdevs", "namespaces", "controllers",
                                                     "attach"))))
        rows.append(("osnapd RSS with the 64 controllers", "%d KiB" % c["one_connection"]["rss_kib_after"]))
    return "\n".join(["| measure | value |", "|---|---|"] + ["| %s | %s |" % row for row in rows])


def write_result(result, results_dir, name, top, tables):
    """Stamp the load average at the end on result, write it to
    results_dir/NAME.json, print the tables (Markdown) and the file's path."""
    with open("/proc/loadavg") as f:
        result["machine"]["loadavg_at_end"] = f.read().split()[:3]
    os.makedirs(results_dir, exist_ok=True)
    out = os.path.join(results_dir, name + ".json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print("\n" + "\n\n".join(tables))
    print("\nresults: %s" % os.path.relpath(out, top))
    return out
