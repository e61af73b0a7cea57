#!/bin/bash
# SPDX-License-Identifier: MIT
#
# dnsenv.sh - run a command against a local DNS server, in private mount
# and network namespaces, so that every resolver in it (glibc's, c-ares,
# Go's) asks that server and nothing else on the machine is touched.
#
#   scripts/dnsenv.sh DNSD [-- DNSD_ARGS... --] CMD [ARG...]
#
# DNSD is the server (BUILD/bench/tools/dnsd).  In new mount and network
# namespaces (unshare -m -n: root, or an unprivileged user namespace
# would do but is not used) the script brings lo up, starts DNSD on
# 127.0.0.1:53, bind-mounts a temporary resolv.conf over /etc/resolv.conf:
#
#   nameserver 127.0.0.1
#   options timeout:1 attempts:1
#
# (so a query that is never answered costs glibc and c-ares one second,
# not the default five times two), runs CMD, stops the server and exits
# with CMD's status.  /etc/hosts and /etc/nsswitch.conf are the machine's.
#
# Exit status 77 (skipped, as for the benchmarks) with a line on stderr
# when the namespaces cannot be made or the server does not start.
set -uo pipefail

skip()
{
	echo "dnsenv: $*" >&2
	exit 77
}

if [[ ${1-} == --inside ]]; then
	shift
	dnsd=$1
	shift
	dnsd_args=()
	if [[ ${1-} == -- ]]; then
		shift
		while (($#)) && [[ $1 != -- ]]; do
			dnsd_args+=("$1")
			shift
		done
		shift
	fi
	ip link set lo up 2>/dev/null || skip "cannot bring lo up in the new network namespace"
	conf=$(mktemp /tmp/dnsenv-resolv.XXXXXX) || skip "mktemp failed"
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$conf"
	# The mount namespace is private (unshare's default propagation):
	# the host's /etc/resolv.conf is untouched.
	if ! mount --bind "$conf" /etc/resolv.conf 2>/dev/null; then
		rm -f "$conf"
		skip "cannot bind-mount a resolv.conf over /etc/resolv.conf"
	fi
	rm -f "$conf"
	exec {ready}< <(exec "$dnsd" -l 127.0.0.1 -p 53 "${dnsd_args[@]}")
	dnsd_pid=$!
	if ! read -r -t 5 line <&"$ready" || [[ $line != "dnsd: ready"* ]]; then
		kill "$dnsd_pid" 2>/dev/null
		skip "$dnsd did not start"
	fi
	"$@"
	rc=$?
	kill "$dnsd_pid" 2>/dev/null
	exit $rc
fi

(($# >= 2)) || {
	echo "usage: $0 DNSD [-- DNSD_ARGS... --] CMD [ARG...]" >&2
	exit 2
}
[[ -x $1 ]] || skip "$1: no DNS server built there"
command -v unshare >/dev/null || skip "unshare not found (util-linux)"
command -v ip >/dev/null || skip "ip not found (iproute2)"
# Can namespaces be made here at all?  (Not root, or refused in a
# container: skip, saying why.)
if ! err=$(unshare -m -n true 2>&1); then
	skip "cannot make private mount and network namespaces (unshare -m -n: ${err:-refused}; needs root)"
fi
exec unshare -m -n -- "$0" --inside "$@"
