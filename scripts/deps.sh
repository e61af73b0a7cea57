#!/bin/bash
# SPDX-License-Identifier: MIT
#
# deps.sh - install the Debian packages (Debian 12 "bookworm") that
# building, testing or benchmarking ringo needs.
#
#   scripts/deps.sh [--check] [SET...]
#
#   SET    lib    what building and installing the library needs (the default)
#          test   lib, and what make test, make lint and make format-check need
#          bench  lib, and what make run and make bench need
#          all    every set
#   --check       install nothing, print nothing: exit 0 when every package
#                 of the sets is installed, 1 otherwise
#
# Missing packages are installed with apt-get (through sudo when not root).
# When every package is present it only runs one dpkg-query.  The Makefile
# calls it once per set and records that in build/.deps-SET.
set -euo pipefail

# Building the library: a compiler and binutils (the runtime's code is
# moved to its own section with objcopy), pkg-config (ringo.pc, and the
# checks of an installed copy), liburing (the io_uring netpoller), libnuma
# (NUMA topology and node-local memory), systemtap-sdt-dev (<sys/sdt.h>,
# the USDT probes), libdw-dev (the header of elfutils' libdwfl, which
# goroutine dumps load with dlopen to name functions and lines), c-ares
# (libc-ares-dev: rg_getaddrinfo's DNS resolver, driven from the
# goroutine with rg_poll), python3 and kconfiglib (the Kconfig
# configuration and its generated header).
LIB_PACKAGES=(
	build-essential make gcc binutils pkg-config
	liburing-dev libnuma-dev systemtap-sdt-dev libdw-dev libc-ares-dev
	python3 python3-kconfiglib
)
# The tests and checks: cmocka (every tests/test_*.c), clang (the second
# compiler of the test matrix) and clang-format (make format-check), the
# real clients that drive the examples (curl and ab from apache2-utils for
# http_hello, redis-cli and redis-benchmark from redis-tools for
# kv_server), util-linux (setarch -R, for TSan where
# vm.mmap_rnd_bits > 28), linux-perf (test_usdt attaches to the USDT
# probes), gdb (test_gdb drives scripts/ringo-gdb.py), and OpenSSL
# (libssl-dev for examples/tls_echo, openssl for test_tls_echo's
# certificate and client).
TEST_PACKAGES=(
	libcmocka-dev clang clang-format
	curl apache2-utils redis-tools util-linux linux-perf gdb
	libssl-dev openssl
)
# The benchmarks: Go (the twins in bench/go/), wrk (the http benchmark's
# load), redis-tools (redis-benchmark, the kv benchmark's load),
# redis-server (the kv benchmark's baseline), matplotlib (the plots
# that scripts/bench_plot.py draws of a run) and iproute2 (ip, which
# brings lo up in the dns benchmark's network namespace,
# scripts/dnsenv.sh).
BENCH_PACKAGES=(
	golang-go wrk redis-tools redis-server python3-matplotlib
	iproute2
)

usage()
{
	echo "usage: $0 [--check] [lib|test|bench|all]..." >&2
	exit 2
}

check_only=0
sets=()
for arg in "$@"; do
	case $arg in
	--check) check_only=1 ;;
	lib | test | bench | all) sets+=("$arg") ;;
	-h | --help)
		sed -n '4,18p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) usage ;;
	esac
done
((${#sets[@]} > 0)) || sets=(lib)

PACKAGES=("${LIB_PACKAGES[@]}")
for set in "${sets[@]}"; do
	case $set in
	test) PACKAGES+=("${TEST_PACKAGES[@]}") ;;
	bench) PACKAGES+=("${BENCH_PACKAGES[@]}") ;;
	all) PACKAGES+=("${TEST_PACKAGES[@]}" "${BENCH_PACKAGES[@]}") ;;
	esac
done
mapfile -t PACKAGES < <(printf '%s\n' "${PACKAGES[@]}" | awk '!seen[$0]++')

# Print the packages of PACKAGES that are not installed, one per line.
missing_packages()
{
	local installed p

	installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" \
		2>/dev/null | awk '$2 == "ii" { print $1 }') || true
	for p in "${PACKAGES[@]}"; do
		grep -qx -- "$p" <<<"$installed" || echo "$p"
	done
}

if ! command -v dpkg-query >/dev/null 2>&1; then
	# Not a Debian system: nothing can be checked here.  Let the build
	# itself report what is missing.
	((check_only)) && exit 0
	echo "deps.sh: dpkg-query not found; install the equivalents of: ${PACKAGES[*]}" >&2
	exit 1
fi

mapfile -t missing < <(missing_packages)
((${#missing[@]} == 0)) && exit 0
((check_only)) && exit 1

echo "deps.sh: installing (${sets[*]}): ${missing[*]}"

if ((EUID == 0)); then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "deps.sh: not root and sudo is not available; as root, run:" >&2
	echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
	echo "or build with SKIP_DEPS=1 once they are installed some other way" >&2
	exit 1
fi

# Wait for a dpkg run of someone else's (unattended upgrades on a fresh
# machine) rather than fail at once.
apt_get=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
"${apt_get[@]}" update -q </dev/null
"${apt_get[@]}" install -y -q --no-install-recommends "${missing[@]}" </dev/null

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} != 0)); then
	echo "deps.sh: still missing after install: ${missing[*]}" >&2
	exit 1
fi
