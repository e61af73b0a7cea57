#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh - run ringo's test programs and count their test cases.
#
#   tests/run.sh DIR [NAME...]
#   tests/run.sh --total FILE
#
# The first form runs every executable DIR/test_* (or only the NAMEs given,
# with or without the test_ prefix), serially, each in its own process under
# a timeout, and prints for each one its output followed by
#
#   SKIP name: case       one line per case that called cmocka's skip()
#   PASS name (Ns, N cases)   |   FAIL name (rc=N)   |   SKIP name (exit 77)
#
# and at the end "N passed, N failed, N skipped", always in that form,
# counting test cases: each cmocka case ("[ RUN      ] case") that ended OK,
# FAILED or ERROR, or SKIPPED.  A case that started and never ended (the
# program crashed or timed out in it) failed; a program that failed with no
# failed case of its own (it died before its first case or after its last)
# counts as one failed case, and one that exits 77 (it found a feature
# missing, as in liburing) as one skipped case.  The exit status is 1 if
# anything failed.
#
# The second form adds up what the passes of one `make test` wrote to FILE
# (see RINGO_TEST_TALLY) and ends with the same line for all of them.
#
# Environment:
#   TEST_TIMEOUT      seconds per program (default 120)
#   RINGO_SAN         sanitizer the tests were built with: "", address or thread
#   RINGO_TEST_TALLY  a file to which this pass appends its counts, for --total
#   RINGO_TEST_PASS   this pass's name in the tally (default: "default")
#   ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS  defaults below unless set
set -uo pipefail

# total FILE: the sum of the passes recorded in FILE.  Each line is
# "PASSED FAILED SKIPPED|PASS|FAILED NAMES|SKIPPED NAMES".
total()
{
	local file=$1 p f s x name fails skips line
	local passed=0 failed=0 skipped=0 passes=() failures=() skips_all=()

	if [[ ! -s $file ]]; then
		echo "run.sh: no pass recorded its counts in $file" >&2
		echo "0 passed, 1 failed, 0 skipped"
		return 1
	fi
	while IFS='|' read -r line name fails skips; do
		read -r p f s <<<"$line"
		passed=$((passed + p))
		failed=$((failed + f))
		skipped=$((skipped + s))
		passes+=("$name ($p/$f/$s)")
		for x in $fails; do failures+=("$x[$name]"); done
		for x in $skips; do skips_all+=("$x[$name]"); done
	done <"$file"
	echo "=== every pass (passed/failed/skipped): ${passes[*]}"
	((${#skips_all[@]} > 0)) && echo "skipped: ${skips_all[*]}"
	((${#failures[@]} > 0)) && echo "failed: ${failures[*]}"
	echo "$passed passed, $failed failed, $skipped skipped"
	((failed == 0))
}

if [[ ${1:-} == --total ]]; then
	if (($# != 2)); then
		echo "usage: $0 --total FILE" >&2
		exit 2
	fi
	total "$2"
	exit
fi

if (($# < 1)) || [[ ! -d $1 ]]; then
	echo "usage: $0 DIR [NAME...] | $0 --total FILE" >&2
	exit 2
fi
dir=$1
shift

timeout_s=${TEST_TIMEOUT:-120}
san=${RINGO_SAN:-}
tally=${RINGO_TEST_TALLY:-}
pass=${RINGO_TEST_PASS:-default}

: "${ASAN_OPTIONS:=detect_leaks=0:abort_on_error=0:detect_stack_use_after_return=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
: "${TSAN_OPTIONS:=halt_on_error=1:second_deadlock_stack=1}"
export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS
# The case lines this script reads are cmocka's standard output format.
export CMOCKA_MESSAGE_OUTPUT=stdout

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

# The cases of one program's output, one per line: "OK name", "FAILED
# name", "SKIPPED name" or "UNFINISHED name".  A case opens at its RUN line
# and closes at the next result line with its name; cmocka's closing
# summary repeats result lines, but no case is open then.
cases_of()
{
	awk '
	function close_case(how) { print how " " open; open = "" }
	/^\[ RUN      \] / { if (open != "") close_case("UNFINISHED"); open = substr($0, 14); next }
	open != "" && match($0, /^\[ *(OK|FAILED|SKIPPED|ERROR) *\] /) {
		name = substr($0, RLENGTH + 1)
		if (name != open)
			next
		how = $0
		sub(/^\[ */, "", how)
		sub(/ *\].*/, "", how)
		close_case(how == "ERROR" ? "FAILED" : how)
	}
	END { if (open != "") close_case("UNFINISHED") }
	' "$1"
}

log=$(mktemp "${TMPDIR:-/tmp}/ringo-run.XXXXXX") || exit 2
trap 'rm -f "$log"' EXIT

passed=0
failed=0
skipped=0
failed_names=()
skipped_names=()

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
	timeout --kill-after=10 "$timeout_s" "${wrapper[@]}" "$t" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	elapsed=$(awk -v s="$start" -v e="$(now)" 'BEGIN { printf "%.2f", e - s }')

	n_ok=0
	n_failed=0
	n_skipped=0
	while read -r how case_name; do
		case $how in
		OK) n_ok=$((n_ok + 1)) ;;
		SKIPPED)
			echo "SKIP $name: $case_name"
			skipped_names+=("$name:$case_name")
			n_skipped=$((n_skipped + 1))
			;;
		FAILED)
			failed_names+=("$name:$case_name")
			n_failed=$((n_failed + 1))
			;;
		UNFINISHED)
			echo "$name: $case_name did not finish"
			failed_names+=("$name:$case_name")
			n_failed=$((n_failed + 1))
			;;
		esac
	done < <(cases_of "$log")
	n_cases=$((n_ok + n_failed + n_skipped))

	case $rc in
	0)
		if ((n_failed > 0)); then
			# cmocka exits with the number of failed cases: never 0 then.
			echo "FAIL $name (rc=0 with $n_failed failed cases)"
		elif ((n_cases == 0)); then
			n_ok=1 # a program without cmocka cases
			echo "PASS $name (${elapsed}s)"
		elif ((n_skipped > 0)); then
			echo "PASS $name (${elapsed}s, $n_cases cases, $n_skipped skipped)"
		else
			echo "PASS $name (${elapsed}s, $n_cases cases)"
		fi
		;;
	77)
		echo "SKIP $name (exit 77)"
		skipped_names+=("$name")
		((n_cases == 0)) && n_skipped=1
		;;
	*)
		if ((rc == 124)) || { ((rc == 137)) &&
			awk -v e="$elapsed" -v t="$timeout_s" 'BEGIN { exit !(e >= t) }'; }; then
			echo "$name: timed out after ${timeout_s}s (TEST_TIMEOUT)"
		elif ((rc > 128 && rc <= 128 + 64)); then
			echo "$name: killed by signal $((rc - 128))" \
				"(SIG$(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
		fi
		echo "FAIL $name (rc=$rc)"
		if ((n_failed == 0)); then
			failed_names+=("$name")
			n_failed=1
		fi
		;;
	esac
	passed=$((passed + n_ok))
	failed=$((failed + n_failed))
	skipped=$((skipped + n_skipped))
done

((${#skipped_names[@]} > 0)) && echo "skipped: ${skipped_names[*]}"
((${#failed_names[@]} > 0)) && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
if [[ -n $tally ]]; then
	printf '%d %d %d|%s|%s|%s\n' "$passed" "$failed" "$skipped" "$pass" \
		"${failed_names[*]}" "${skipped_names[*]}" >>"$tally"
fi
((failed == 0))
