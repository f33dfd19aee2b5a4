#!/bin/bash
# tcp-vs-ompi.sh -- pscom_pp over tcp side by side with Open MPI's tcp BTL
# ping-pong (bench/mpi_pp), one run, one table, processes pinned to
# different cores (taskset -c 0 / -c 1; mpirun --bind-to core).
#
#   bench/tcp-vs-ompi.sh [--quick] [--maxsize N] [--loops N] [--repeat N]
#                        [--builddir DIR] [--compare "A:B ..."]
#
# A "run" is a function run_<name> that prints pscom_pp/mpi_pp JSON
# lines; a "compare" pair A:B adds the columns A us | B us | ratio |
# A MB/s | B MB/s | ratio to the table (default: pscom_tcp:ompi_tcp).
# Runs ready for later transports: pscom_shm (PSP_SHM=1), pscom_ivshmem
# (PSP_IVSHMEM=1 plus the caller's PSP_IVSHMEM_* settings), ompi_vader
# (--mca btl self,vader, single copy off), e.g.
#   --compare "pscom_tcp:ompi_tcp pscom_shm:ompi_vader"
# A new transport adds one run_<name> function -- nothing else.
# --repeat N runs everything N times, alternating the runs, and keeps the
# best time per size (less noise from other load on the machine).
# Goals printed under the table (from issue 2): pscom tcp <= 1.2x Open
# MPI tcp latency at 0 B, >= 1.0x its bandwidth from 64 KiB on.
# Numbers are only meaningful on an otherwise quiet machine.
set -u
here=$(cd "$(dirname "$0")" && pwd)
builddir=${top_builddir:-}
maxsize=4M
loops=1000
repeat=1
compare="pscom_tcp:ompi_tcp"
while [ $# -gt 0 ]; do
    case $1 in
    --quick) maxsize=64K; loops=50 ;;
    --maxsize) maxsize=$2; shift ;;
    --loops) loops=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --builddir) builddir=$2; shift ;;
    --compare) compare=$2; shift ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "tcp-vs-ompi: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
. "$here/bench-lib.sh"
builddir=$(bench_builddir "$builddir" "$here") || exit 1
pscom_pp=$builddir/bin/pscom_pp
mpi_pp=$builddir/bench/mpi_pp
for p in "$pscom_pp" "$mpi_pp"; do
    [ -x "$p" ] || { echo "tcp-vs-ompi: $p is missing: build first (make, make -C bench)" >&2; exit 1; }
done
for p in taskset mpirun python3; do
    command -v $p >/dev/null || { echo "tcp-vs-ompi: $p is missing (scripts/deps.sh)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tcp-vs-ompi.XXXXXX")
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Two different cores when there are two; one machine with one core
# still gives a (less meaningful) table.
cpu_a=0
cpu_b=$(( $(nproc) > 1 ? 1 : 0 ))

mpirun_opts() {
    [ "$(id -u)" -eq 0 ] && printf '%s ' --allow-run-as-root
    printf '%s ' --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo
}

# pscom_pp server pinned to one core, client to the other; extra
# environment (the transport) comes from the caller.
pscom_pair() {
    # Emptied here, not by the background child's redirection: the loop
    # could otherwise read the last server's address.
    : >"$tmp/server.out"
    taskset -c $cpu_a "$pscom_pp" -l 0 >"$tmp/server.out" 2>&1 &
    server=$!
    for _ in $(seq 1 500); do
        grep -q '^Waiting for client: ' "$tmp/server.out" && break
        kill -0 "$server" 2>/dev/null || break
        sleep 0.01
    done
    addr=$(sed -n 's/^Waiting for client: //p' "$tmp/server.out")
    [ -n "$addr" ] || { cat "$tmp/server.out" >&2; return 1; }
    taskset -c $cpu_b "$pscom_pp" --json --maxsize "$maxsize" \
        --loops "$loops" "$addr"
    rc=$?
    wait "$server"
    server=""
    return $rc
}

run_pscom_tcp() {
    PSP_SHM=0 PSP_IVSHMEM=0 pscom_pair
}

run_pscom_shm() {
    PSP_SHM=1 PSP_IVSHMEM=0 pscom_pair
}

run_pscom_ivshmem() {
    PSP_IVSHMEM=1 pscom_pair
}

ompi_pair() { # BTL options...
    # shellcheck disable=SC2046
    mpirun $(mpirun_opts) -np 2 --bind-to core --map-by core "$@" \
        "$mpi_pp" --json --maxsize "$maxsize" --loops "$loops"
}

run_ompi_tcp() {
    ompi_pair --mca btl self,tcp
}

run_ompi_vader() {
    ompi_pair --mca btl self,vader --mca btl_vader_single_copy_mechanism none
}

# Every run named in a pair, once, in order.
runs=$(printf '%s\n' $compare | tr ':' '\n' | awk '!seen[$0]++')
for r in $runs; do
    if ! declare -F "run_$r" >/dev/null; then
        echo "tcp-vs-ompi: unknown run '$r'" >&2
        exit 2
    fi
done
for k in $(seq 1 "$repeat"); do
    for r in $runs; do
        if ! "run_$r" >>"$tmp/$r.json" 2>"$tmp/$r.err"; then
            echo "tcp-vs-ompi: run $r failed:" >&2
            cat "$tmp/$r.err" >&2
            exit 1
        fi
    done
done

python3 - "$tmp" "$compare" <<'PY'
import json, sys
tmp, pairs = sys.argv[1], [p.split(":") for p in sys.argv[2].split()]
data = {}
for a, b in pairs:
    for r in (a, b):
        if r not in data:
            data[r] = {}
            for line in open(f"{tmp}/{r}.json"):
                line = line.strip()
                if line.startswith("{"):
                    # Several repeats: keep the fastest round trip.
                    j = json.loads(line)
                    old = data[r].get(j["size"])
                    if not old or j["half_rtt_us"] < old["half_rtt_us"]:
                        data[r][j["size"]] = j
sizes = sorted(set().union(*[set(d) for d in data.values()]))
def ratio(x, y):
    return f"{x / y:6.2f}" if y else "     -"
head = f"{'size':>9}"
for a, b in pairs:
    head += (f" | {a + ' us':>14} {b + ' us':>14} {'ratio':>6}"
             f" | {a + ' MB/s':>16} {b + ' MB/s':>16} {'ratio':>6}")
print(head)
print("-" * len(head))
for s in sizes:
    row = f"{s:>9}"
    for a, b in pairs:
        x, y = data[a].get(s), data[b].get(s)
        if not x or not y:
            row += " | (missing)"
            continue
        row += (f" | {x['half_rtt_us']:14.2f} {y['half_rtt_us']:14.2f}"
                f" {ratio(x['half_rtt_us'], y['half_rtt_us'])}"
                f" | {x['mb_s']:16.2f} {y['mb_s']:16.2f}"
                f" {ratio(x['mb_s'], y['mb_s'])}")
    print(row)
for a, b in pairs:
    x, y = data[a], data[b]
    if 0 in x and 0 in y and y[0]["half_rtt_us"] > 0:
        r = x[0]["half_rtt_us"] / y[0]["half_rtt_us"]
        print(f"goal {a} vs {b}: latency at 0 B <= 1.2x: "
              f"{r:.2f}x {'met' if r <= 1.2 else 'MISSED'}")
    big = [s for s in sizes if s >= 65536 and s in x and s in y]
    if big:
        worst = min(x[s]["mb_s"] / y[s]["mb_s"] for s in big)
        print(f"goal {a} vs {b}: bandwidth from 64 KiB >= 1.0x: worst "
              f"{worst:.2f}x {'met' if worst >= 1.0 else 'MISSED'}")
PY
