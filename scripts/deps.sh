#!/bin/bash
# SPDX-License-Identifier: MIT
#
# deps.sh - install the Debian packages needed to build, test and benchmark
# ringo (Debian 12 "bookworm").
#
#   scripts/deps.sh          install what is missing (apt-get; sudo when not root)
#   scripts/deps.sh --check  exit 0 if everything is installed, 1 otherwise; silent
#
# Idempotent: when every package is present it only runs one dpkg-query.
set -euo pipefail

# What building the library needs: a compiler, liburing (the io_uring
# netpoller), libnuma (node-local memory and the NUMA topology) and
# kconfiglib (the build configuration).
LIB_PACKAGES=(
	build-essential make gcc pkg-config
	liburing-dev libnuma-dev
	python3 python3-kconfiglib
)
# What the tests, benchmarks and checks need besides: cmocka (the tests),
# clang (the second compiler of the test matrix), clang-format, Go (the
# benchmarks' twins), real clients and servers to drive the examples
# (redis-tools and redis-server for kv_server, curl, ab and wrk for
# http_hello), hyperfine, util-linux (setarch) and procps.
TEST_PACKAGES=(
	libcmocka-dev clang clang-format
	golang-go hyperfine wrk curl apache2-utils redis-tools redis-server
	util-linux procps
)
PACKAGES=("${LIB_PACKAGES[@]}" "${TEST_PACKAGES[@]}")

# Print the packages of PACKAGES that are not installed, one per line.
missing_packages()
{
	local installed

	installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" \
		2>/dev/null | awk '$2 == "ii" { print $1 }') || true
	local p
	for p in "${PACKAGES[@]}"; do
		grep -qx -- "$p" <<<"$installed" || echo "$p"
	done
}

check_only=0
case "${1:-}" in
--check) check_only=1 ;;
"") ;;
-h | --help)
	sed -n '4,10p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

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

echo "deps.sh: installing: ${missing[*]}"

if ((EUID == 0)); then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "deps.sh: not root and sudo is not available; as root, run:" >&2
	echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends "${missing[@]}" </dev/null

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} != 0)); then
	echo "deps.sh: still missing after install: ${missing[*]}" >&2
	exit 1
fi
