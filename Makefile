# osnap: the two commands of the quick start are `make run` and `make test`.
# Builds go to build/ (gcc), build-asan/ (gcc, ASan+UBSan) and build-fuzz/
# (clang, libFuzzer targets).

SOCK ?= /var/run/osnap/osnap.sock
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

# guest-deps: the QEMU lines that make run prints boot a guest as printed
run: build guest-deps
	@scripts/run.sh $(SOCK)

clean:
	rm -rf build build-asan build-fuzz
