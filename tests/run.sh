#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh - run ringo's test programs.
#
#   tests/run.sh DIR [NAME...]
#
# Runs every executable DIR/test_* (or only the NAMEs given, with or without
# the test_ prefix), serially, each in its own process under a timeout, and
# prints for each one its output followed by
#
#   PASS name (Ns)   |   FAIL name (rc=N)   |   SKIP name
#
# A test that exits 77 is skipped (it found a feature missing), as in
# liburing.  The last line is "N passed, N failed" (", N skipped" is appended
# when tests were skipped).  The exit status is 1 if any test failed.
#
# Environment:
#   TEST_TIMEOUT  seconds per test (default 120)
#   RINGO_SAN     sanitizer the tests were built with: "", address or thread
#   ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS  defaults below unless set
set -uo pipefail

if (($# < 1)) || [[ ! -d $1 ]]; then
	echo "usage: $0 DIR [NAME...]" >&2
	exit 2
fi
dir=$1
shift

timeout_s=${TEST_TIMEOUT:-120}
san=${RINGO_SAN:-}

: "${ASAN_OPTIONS:=detect_leaks=0:abort_on_error=0:detect_stack_use_after_return=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
: "${TSAN_OPTIONS:=halt_on_error=1:second_deadlock_stack=1}"
export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS

# ThreadSanitizer from gcc 12 cannot map its shadow memory when the kernel
# randomises mmap with more than 28 bits: run the tests without ASLR then.
wrapper=()
if [[ $san == thread ]]; then
	rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
	if ((rnd_bits > 28)); then
		if setarch "$(uname -m)" -R true 2>/dev/null; then
			wrapper=(setarch "$(uname -m)" -R)
		else
			echo "run.sh: vm.mmap_rnd_bits=$rnd_bits and ASLR cannot be disabled" \
				"(setarch -R failed); TSan may fail to start" >&2
		fi
	fi
fi

tests=()
if (($# > 0)); then
	for name in "$@"; do
		name=${name##*/}
		[[ $name == test_* ]] || name=test_$name
		tests+=("$dir/$name")
	done
else
	for t in "$dir"/test_*; do
		[[ -f $t && -x $t ]] && tests+=("$t")
	done
fi

now()
{
	date +%s.%N
}

passed=0
failed=0
skipped=0
failed_names=()

for t in "${tests[@]}"; do
	name=${t##*/}
	if [[ ! -x $t ]]; then
		echo "FAIL $name (rc=127)"
		echo "$name: no such test program: $t" >&2
		failed=$((failed + 1))
		failed_names+=("$name")
		continue
	fi
	echo "=== $name"
	start=$(now)
	timeout --kill-after=10 "$timeout_s" "${wrapper[@]}" "$t" </dev/null 2>&1
	rc=$?
	elapsed=$(awk -v s="$start" -v e="$(now)" 'BEGIN { printf "%.2f", e - s }')
	case $rc in
	0)
		echo "PASS $name (${elapsed}s)"
		passed=$((passed + 1))
		;;
	77)
		echo "SKIP $name"
		skipped=$((skipped + 1))
		;;
	*)
		if ((rc == 124)) || { ((rc == 137)) &&
			awk -v e="$elapsed" -v t="$timeout_s" 'BEGIN { exit !(e >= t) }'; }; then
			echo "$name: timed out after ${timeout_s}s (TEST_TIMEOUT)"
		elif ((rc > 128)); then
			echo "$name: killed by signal $((rc - 128))" \
				"(SIG$(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
		fi
		echo "FAIL $name (rc=$rc)"
		failed=$((failed + 1))
		failed_names+=("$name")
		;;
	esac
done

((failed > 0)) && echo "failed: ${failed_names[*]}"
summary="$passed passed, $failed failed"
((skipped > 0)) && summary+=", $skipped skipped"
echo "$summary"
((failed == 0))
