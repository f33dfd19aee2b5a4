#!/bin/bash
# The whole test suite, from a fresh checkout on Debian 12:
#   1. installs the packages it needs (apt-get), checks that every C file
#      is laid out as .clang-format says (scripts/format-check.sh),
#   2. builds with -Wall -Wextra -Werror and runs 'make check' and
#      'make check-vm' (real QEMU guests, test/vm) in that build,
#   3. runs 'make distcheck' with AddressSanitizer + UBSan (builds the
#      release tarball from scratch and runs the suite again from it),
# and ends with one line "N passed, N failed".
# Environment: JOBS (parallel make, default 2); while developing,
# CHECK_SKIP_ASAN=1 skips step 3 and CHECK_SKIP_VM=1 the QEMU guests.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
JOBS=${JOBS:-2}
passed=0; failed=0; skipped=0

add() { # add "P F S"
    set -- $1
    passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + $3))
}

step_fail() { echo "check: FAILED: $*" >&2; failed=$((failed + 1)); }

"$top/scripts/deps.sh" || { echo "check: installing dependencies failed" >&2; echo "0 passed, 1 failed"; exit 1; }
"$top/scripts/autogen.sh" || { echo "check: autogen failed" >&2; echo "0 passed, 1 failed"; exit 1; }

# --- 0. layout: every C file as .clang-format describes it ---------------
mkdir -p "$top/build"
if "$top/scripts/format-check.sh" >"$top/build/format.log" 2>&1; then
    passed=$((passed + 1))
    tail -n 1 "$top/build/format.log"
else
    cat "$top/build/format.log"
    step_fail "format check (scripts/format-check.sh lists the files)"
fi

# --- 1. -Werror build and suite -------------------------------------------
b="$top/build/check"
rm -rf "$b"; mkdir -p "$b"
if (cd "$b" && "$top/configure" -q --enable-werror && make -s -j"$JOBS"); then
    # -k: a failing directory must not hide the results of the others.
    (cd "$b" && make -s -k check -j"$JOBS" >"$b/check.log" 2>&1)
    rc=$?
    # Real QEMU guests (test/vm): about a minute on 2 cores.
    if [ "${CHECK_SKIP_VM:-0}" != 1 ]; then
        (cd "$b" && make -s check-vm >"$b/check-vm.log" 2>&1) || rc=1
        grep -E '^(PASS|FAIL|XPASS|ERROR|SKIP):' "$b/check-vm.log" | sed 's/^/vm /'
        grep -A20 'check-vm timings' "$b/check-vm.log"
    fi
    grep -E '^(PASS|FAIL|XPASS|ERROR|SKIP):|^# ' "$b/check.log"
    add "$("$top/scripts/count-results.sh" trs "$b")"
    if [ $rc -ne 0 ]; then
        # Show the logs of what failed, then the tail of the make output.
        grep -lE '^:test-result: (FAIL|XPASS|ERROR)' $(find "$b" -name '*.trs') 2>/dev/null \
            | while read -r t; do echo "==== ${t%.trs}.log"; tail -n 60 "${t%.trs}.log"; done
        tail -n 20 "$b/check.log"
        [ "$("$top/scripts/count-results.sh" trs "$b" | cut -d' ' -f2)" -gt 0 ] \
            || step_fail "make check (see $b/check.log)"
    fi
else
    step_fail "-Werror build"
fi

# --- 2. sanitizers, from the distribution tarball -------------------------
if [ "${CHECK_SKIP_ASAN:-0}" != 1 ]; then
    log="$b/distcheck.log"
    (cd "$b" && make -s distcheck -j"$JOBS" \
        DISTCHECK_CONFIGURE_FLAGS="--enable-werror --enable-sanitizers" >"$log" 2>&1)
    rc=$?
    grep -E '^(PASS|FAIL|XPASS|ERROR|SKIP):' "$log" | sed 's/^/asan /'
    add "$("$top/scripts/count-results.sh" log "$log")"
    if [ $rc -ne 0 ]; then
        tail -n 80 "$log"
        step_fail "make distcheck with sanitizers (see $log)"
    fi
fi

[ $skipped -gt 0 ] && echo "check: $skipped tests were skipped"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
