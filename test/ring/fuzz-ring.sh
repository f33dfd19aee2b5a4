#!/bin/sh
# Build the libFuzzer target for the ring consumer (and attach) with clang
# and run it for a bounded time over the seeds in corpus/. TAP output.
# RING_FUZZ_SECONDS (default 20) and RING_FUZZ_RUNS bound the run.
# Other rooms run their libFuzzer targets through this script by setting
# FUZZ_NAME (program), FUZZ_WHAT (test text), FUZZ_SOURCES (clang
# arguments: -I flags and sources) and FUZZ_CORPUS (seed directory);
# test/pscom4ivshmem/fuzz-msg.sh does.
set -u
: "${top_srcdir:?top_srcdir must be set (make check sets it)}"
src="$top_srcdir/test/ring"
lib="$top_srcdir/lib/ring"
CLANG=${CLANG:-clang}
secs=${RING_FUZZ_SECONDS:-20}
runs=${RING_FUZZ_RUNS:-5000000}
name=${FUZZ_NAME:-fuzz_ring}
what=${FUZZ_WHAT:-ring consumer and attach}
corpus=${FUZZ_CORPUS:-$src/corpus}
sources=${FUZZ_SOURCES:-"-I$lib $src/fuzz_ring.c $lib/ring_init.c $lib/ring_producer.c $lib/ring_consumer.c"}

. "$top_srcdir/test/common/tap.sh"
tap_plan 3
if ! command -v "$CLANG" >/dev/null 2>&1; then
    tap_result 1 "build $name: $CLANG not found (scripts/deps.sh installs clang and libclang-rt-14-dev)"
    tap_result 1 "seeds # not built"
    tap_result 1 "fuzz # not built"
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-ring.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

if "$CLANG" -std=c11 -g -O1 -D_GNU_SOURCE \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        $sources -o "$work/$name" >"$work/build.log" 2>&1; then
    tap_result 0 "build $name with $CLANG -fsanitize=fuzzer,address,undefined"
else
    sed 's/^/# /' "$work/build.log"
    tap_result 1 "build $name (is libclang-rt-14-dev installed?)"
    tap_result 1 "seeds # not built"
    tap_result 1 "fuzz # not built"
    exit 1
fi

# Work on a copy of the seeds: libFuzzer adds inputs to its first corpus
# directory, and the source tree may be read-only (distcheck).
mkdir "$work/corpus"
cp "$corpus"/* "$work/corpus/"
nseeds=$(ls "$work/corpus" | wc -l)
if [ "$nseeds" -gt 0 ] && (cd "$work" && ./$name -runs=0 corpus) \
        >"$work/seeds.log" 2>&1; then
    tap_result 0 "$nseeds corpus seeds run clean"
else
    sed 's/^/# /' "$work/seeds.log" | tail -n 40
    tap_result 1 "corpus seeds ($nseeds)"
fi

if (cd "$work" && ./$name -max_total_time="$secs" -runs="$runs" \
        -timeout=10 -rss_limit_mb=1024 -max_len="${FUZZ_MAX_LEN:-8192}" -print_final_stats=1 \
        corpus) >"$work/fuzz.log" 2>&1; then
    grep -E '^stat::number_of_executed_units' "$work/fuzz.log" | sed 's/^/# /'
    tap_result 0 "fuzz $what for ${secs}s"
else
    tail -n 60 "$work/fuzz.log" | sed 's/^/# /'
    # Keep the failing input in the build directory to reproduce it:
    #   $name <file>
    for f in "$work"/crash-* "$work"/timeout-* "$work"/oom-* "$work"/leak-*; do
        [ -f "$f" ] && cp "$f" . && echo "# kept $(basename "$f")"
    done
    tap_result 1 "fuzz $what (crash input above)"
    exit 1
fi
