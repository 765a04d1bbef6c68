# osnap: the two commands of the quick start are `make run` and `make test`.
# Builds go to build/ (gcc), build-asan/ (gcc, ASan+UBSan) and build-fuzz/
# (clang, libFuzzer targets).

# make run SOCK=... CONFIG=... EMU_DIR=... (or the same as environment
# variables): the RPC socket, the osnap-rpc lines replayed at start
# (default config/default.conf) and the endpoints' directory. Empty: root
# uses /var/run/osnap, another user $XDG_RUNTIME_DIR/osnap (scripts/run.sh).
SOCK ?=
CONFIG ?=
EMU_DIR ?=
FUZZ_SECONDS ?= 20

.PHONY: all deps guest-deps ceph-deps build asan fuzz test run clean

all: build

deps:
	@scripts/deps.sh

# QEMU, Debian's kernel and busybox for the guest tests
guest-deps:
	@scripts/guest_deps.sh

# Ceph daemons for the rbd tests' throw-away cluster
ceph-deps:
	@scripts/ceph_deps.sh

build: deps
	@[ -f build/build.ninja ] || meson setup build >/dev/null
	@ninja -C build

asan: deps
	@[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	@ninja -C build-asan

fuzz: deps
	@[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false >/dev/null
	@ninja -C build-fuzz

test: build asan fuzz guest-deps ceph-deps
	@python3 tests/run_tests.py --fuzz-seconds $(FUZZ_SECONDS)

# the QEMU lines that make run prints boot a guest as printed once the guest
# packages are there (make guest-deps, as root); without them it still runs
run: build
	@scripts/guest_deps.sh || echo "make run: the guest packages are missing (make guest-deps as root installs them); no QEMU lines" >&2
	@SOCK='$(SOCK)' CONFIG='$(CONFIG)' EMU_DIR='$(EMU_DIR)' scripts/run.sh

clean:
	rm -rf build build-asan build-fuzz
