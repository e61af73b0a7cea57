#!/bin/bash
# SPDX-License-Identifier: MIT
#
# lint.sh - check the layering rules of the library (make lint).
#
#   scripts/lint.sh
#
# The rules, over include/, runtime/, kernel_iface/, numa/ and examples/
# (tests and benchmarks may talk to the kernel directly):
#   - only kernel_iface/ includes <liburing.h> or <linux/...> or calls
#     syscall();
#   - only numa/ includes <numa.h>;
#   - only runtime/symtab.c includes <elfutils/...> (libdw, loaded with
#     dlopen there);
#   - runtime/*.c allocate only through runtime.h's wrappers (rt_malloc...),
#     which mark the call in progress for the SIGURG handler.
# Lines that are comments do not count.  Each broken rule is printed with
# the lines that break it; the exit status is 1 if any rule is broken,
# else "lint: OK" is printed.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2

lint_dirs=(include runtime kernel_iface numa examples)
mapfile -t files < <(find "${lint_dirs[@]}" -type f \( -name '*.[ch]' -o -name '*.S' \) \
	2>/dev/null | sort)

# Drop the lines that are comments ("file:line:  * text") from grep -n output.
not_comment()
{
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)'
}

status=0

# report MESSAGE LINES: print a broken rule and the lines that break it.
report()
{
	if [[ -n $2 ]]; then
		echo "lint: $1"
		echo "$2"
		status=1
	fi
}

bad=$(grep -nHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<(liburing(\.h|/)|linux/)' \
	"${files[@]}" /dev/null | grep -v '^kernel_iface/')
report "only kernel_iface/ may include <liburing.h> or <linux/...>:" "$bad"

bad=$(grep -nHE '(^|[^[:alnum:]_.>])syscall[[:space:]]*\(' "${files[@]}" /dev/null |
	grep -v '^kernel_iface/' | not_comment)
report "only kernel_iface/ may call syscall(); wrap the call there:" "$bad"

bad=$(grep -nHE '(^|[^[:alnum:]_.>])(malloc|calloc|realloc|aligned_alloc|free)[[:space:]]*\(' \
	runtime/*.c /dev/null | not_comment)
report "runtime/ allocates through rt_malloc and friends (runtime/runtime.h):" "$bad"

bad=$(grep -nHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<numa\.h>' \
	"${files[@]}" /dev/null | grep -v '^numa/')
report "only numa/ may include <numa.h>:" "$bad"

bad=$(grep -nHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<elfutils/' \
	"${files[@]}" /dev/null | grep -v '^runtime/symtab\.c:')
report "only runtime/symtab.c may include <elfutils/...>:" "$bad"

if ((status == 0)); then
	echo "lint: OK"
fi
exit $status
