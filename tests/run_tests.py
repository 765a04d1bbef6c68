#!/usr/bin/env python3
"""Run every osnap test and print one closing line: N passed, N failed.

Runs, in order:
  1. the unit tests (cmocka programs) and system tests (Python programs)
     against build/ (gcc), then the guest tests (tests/guest: Linux guests
     under QEMU/TCG on vhost-user-blk, osnapd and qemu-storage-daemon side
     by side);
  2. the same against build-asan/ (AddressSanitizer + UBSan; guest tests
     of osnapd only);
  3. each libFuzzer target in build-fuzz/ for a bounded time.
Each test program prints TAP ("ok N - name" / "not ok N - name"); every
case counts. A program that exits non-zero without reporting a failure, or
crashes, counts as one failure. Exit status: 0 only when nothing failed.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAP = re.compile(r"^(not ok|ok)\b\s*\d*\s*-?\s*(.*?)(\s*#\s*(SKIP|skip)\b.*)?$")

totals = {"passed": 0, "failed": 0, "skipped": 0}
failures = []


def run_program(label, cmd, env, timeout):
    """Run one TAP-printing program; count its cases."""
    t0 = time.time()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           cwd=TOP)
        out, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        out += "\n# TIMEOUT after %ds" % timeout
        rc = -1
    passed = failed = skipped = 0
    for line in out.splitlines():
        m = TAP.match(line.strip())
        if not m:
            continue
        if m.group(1) == "ok":
            if m.group(3):
                skipped += 1
            else:
                passed += 1
        else:
            failed += 1
            failures.append("%s: %s" % (label, m.group(2)))
    if rc != 0 and failed == 0:
        failed = 1
        failures.append("%s: exited with %d" % (label, rc))
    if passed + failed + skipped == 0:
        failed = 1
        failures.append("%s: ran no test" % label)
    status = "FAIL" if failed else "PASS"
    print("%s %-48s %3d passed %3d failed %3d skipped (%.1fs)" %
          (status, label, passed, failed, skipped, time.time() - t0), flush=True)
    if failed:
        tail = out.splitlines()[-60:]
        for line in tail:
            print("    | " + line)
    totals["passed"] += passed
    totals["failed"] += failed
    totals["skipped"] += skipped


def run_suite(build, args):
    env = dict(os.environ)
    env["OSNAP_BUILD"] = build
    env["CMOCKA_MESSAGE_OUTPUT"] = "TAP"
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    name = os.path.basename(build)
    for exe in sorted(glob.glob(os.path.join(build, "tests", "unit", "test_*"))):
        if os.access(exe, os.X_OK) and not exe.endswith(".p"):
            run_program("%s/unit/%s" % (name, os.path.basename(exe)), [exe], env, 300)
    for py in sorted(glob.glob(os.path.join(TOP, "tests", "system", "test_*.py"))):
        run_program("%s/system/%s" % (name, os.path.basename(py)),
                    [sys.executable, py], env, 900)
    if not args.no_guest and name in ("build", "build-asan"):
        # real guests boot under TCG: about 8 s a case. build/: both back
        # ends side by side; build-asan/: osnapd's cases only, sanitized.
        cmd = [sys.executable, os.path.join(TOP, "tests", "guest", "run_guest_tests.py")]
        if name != "build":
            cmd += ["--backend", "osnap"]
        run_program("%s/guest/run_guest_tests.py" % name, cmd, env, 1200)
        # guest-backed tests of their own (e.g. a Linux nvmet-tcp target in
        # a TCG guest, booted once per file)
        for py in sorted(glob.glob(os.path.join(TOP, "tests", "guest", "test_*.py"))):
            run_program("%s/guest/%s" % (name, os.path.basename(py)), [sys.executable, py],
                        env, 1800)


def run_fuzz(build, seconds):
    env = dict(os.environ)
    for exe in sorted(glob.glob(os.path.join(build, "tests", "fuzz", "fuzz_*"))):
        if not os.access(exe, os.X_OK) or exe.endswith(".p"):
            continue
        name = os.path.basename(exe)
        corpus = os.path.join(TOP, "tests", "fuzz", "corpus", name[len("fuzz_"):])
        work = os.path.join(TOP, "tests", "fuzz", "corpus-work", name)
        os.makedirs(work, exist_ok=True)
        cmd = [exe, "-max_total_time=%d" % seconds, "-rss_limit_mb=2048", "-timeout=10",
               "-print_final_stats=1", work]
        if os.path.isdir(corpus):
            cmd.append(corpus)
        t0 = time.time()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
        out = p.stdout + p.stderr
        m = re.search(r"Done (\d+) runs", out) or re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
        runs = int(m.group(1)) if m else 0
        ok = p.returncode == 0 and runs > 0
        label = "fuzz/%s" % name
        print("%s %-48s %d runs (%.1fs)" % ("PASS" if ok else "FAIL", label, runs, time.time() - t0),
              flush=True)
        if ok:
            totals["passed"] += 1
        else:
            totals["failed"] += 1
            failures.append("%s: %s" % (label, "no runs" if runs == 0 else "crash or leak"))
            for line in out.splitlines()[-40:]:
                print("    | " + line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fuzz-seconds", type=int, default=20)
    ap.add_argument("--builds", default="build,build-asan")
    ap.add_argument("--no-fuzz", action="store_true")
    ap.add_argument("--no-guest", action="store_true",
                    help="skip the guest tests (QEMU) of tests/guest")
    args = ap.parse_args()
    for b in args.builds.split(","):
        path = os.path.join(TOP, b)
        if not os.path.isdir(path):
            print("FAIL %s: build directory missing" % b)
            totals["failed"] += 1
            continue
        run_suite(path, args)
    if not args.no_fuzz:
        run_fuzz(os.path.join(TOP, "build-fuzz"), args.fuzz_seconds)
    if failures:
        print("\nFailures:")
        for f in failures:
            print("  " + f)
    line = "%d passed, %d failed" % (totals["passed"], totals["failed"])
    if totals["skipped"]:
        line += ", %d skipped" % totals["skipped"]
    print(line)
    sys.exit(1 if totals["failed"] else 0)


if __name__ == "__main__":
    main()
