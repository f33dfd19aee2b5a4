#!/bin/bash
# pp-table.sh -- ONE run, ONE table: pscom_pp over ivshmem, shm and tcp
# next to Open MPI's shared memory ping-pong (bench/mpi_pp with --mca btl
# self,vader --mca btl_vader_single_copy_mechanism none, the only vader
# mode possible between VMs), processes pinned to cores 0 and 1, sizes
# 0 B .. 4 MiB; then connection set-up times (bench/connect-time) and the
# goals as ratios to Open MPI in the same run. A second bandwidth column
# is streaming (16 messages in flight, as osu_bw: pscom_pp --window 16,
# mpi_pp --window 16) from 1 KiB; the header names the CPU (lscpu) and
# one core's memcpy() rate at 64 KiB and 1 MiB (bench/copy-bench
# --limit), the ceiling a streaming copy is compared with.
#
#   bench/pp-table.sh [--quick] [--maxsize N] [--loops N] [--repeat N]
#                     [--checksum] [--bell | --bell-only] [--builddir DIR]
#
# --bell adds doorbell waits (PSP_IVSHMEM_DOORBELL, host processes woken
# through eventfds from the server's socket) beside polling: the
# half-RTT with both sides idle before every message (pscom_pp --gap
# 200, PSP_SPIN_US=1: every wait sleeps, so it is the wake-up latency),
# the same back to back with the default PSP_SPIN_US (the doorbell's
# cost per message: a fence and a load of the peer's line), and
# the CPU time an idle waiting process uses per second (utime + stime
# over 3 s). --bell-only prints just that table (no Open MPI run).
#
# --checksum also runs ivshmem with PSP_IVSHMEM_CHECKSUM=1 (a CRC32C after
# every message) and prints its cost after the goals: a second table
# of ivshmem without and with the checksum, same run, same rounds.
#
# --repeat N alternates all runs N times; the table shows each size's
# median over the rounds, for every column alike. Not the best round: on
# a shared host a column sometimes gets a lucky stretch (seen: vader at
# several times its usual bandwidth for a few seconds), and the best of N then
# measures luck. The goal lines give the worst ratio by both statistics.
# --loops (default 20000) is the round trips per small size, for every
# column alike: 1000 round trips of 0.1 us are over in 0.2 ms, too short
# to get past clock ramps and other processes' noise.
# ivshmem runs on a segment of a real ivshmem-server started here (host
# view: /dev/shm/<name>, PSP_SHM=0, as two VMs would). Numbers are only
# meaningful on an otherwise quiet machine.
set -u
here=$(cd "$(dirname "$0")" && pwd)
builddir=${top_builddir:-}
maxsize=4M
loops=20000
conns=200
repeat=1
checksum=0
bell=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) maxsize=64K; loops=50; conns=20 ;;
    --maxsize) maxsize=$2; shift ;;
    --loops) loops=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --checksum) checksum=1 ;;
    --bell) bell=1 ;;
    --bell-only) bell=2 ;;
    --builddir) builddir=$2; shift ;;
    -h | --help)
        sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0 ;;
    *) echo "pp-table: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
. "$here/bench-lib.sh"
builddir=$(bench_builddir "$builddir" "$here") || exit 1
pscom_pp=$builddir/bin/pscom_pp
mpi_pp=$builddir/bench/mpi_pp
ctime=$builddir/bench/connect-time
server_bin=$builddir/vendor/ivshmem/server/ivshmem-server
plugindir=$builddir/lib/pscom4ivshmem/.libs/
cbench=$builddir/bench/copy-bench
for p in "$pscom_pp" "$mpi_pp" "$ctime" "$server_bin" "$cbench" \
    "$plugindir/libpscom4ivshmem.so"; do
    [ -e "$p" ] ||
        { echo "pp-table: $p is missing: build first (make)" >&2; exit 1; }
done
for p in taskset mpirun python3 lscpu; do
    command -v $p >/dev/null ||
        { echo "pp-table: $p is missing (scripts/deps.sh)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pp-table.XXXXXX")
shm=pscom-pp-table-$$
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp" "/dev/shm/$shm"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cpu_a=0
cpu_b=$(( $(nproc) > 1 ? 1 : 0 ))

# The segment: 64 MiB, pscom layout (bench-lib.sh).
bench_ivshmem_server "$server_bin" "$shm" "$tmp" || exit 1
pids="$pids $BENCH_SERVER_PID"

# Environment of each pscom transport.
env_ivshmem="PSP_SHM=0 PSP_IVSHMEM=1 PSP_IVSHMEM_DEVICE=/dev/shm/$shm"
env_ivshmem="$env_ivshmem PSP_PLUGINDIR=$plugindir"
env_shm="PSP_SHM=1 PSP_IVSHMEM=0"
env_tcp="PSP_SHM=0 PSP_IVSHMEM=0"
env_ivscrc="$env_ivshmem PSP_IVSHMEM_CHECKSUM=1"
transports="ivshmem shm tcp"

[ $checksum = 1 ] && transports="$transports ivscrc"

# A server pinned to one core, its client to the other; the client's
# output on stdout.
pinned_pair() { # ENV PROGRAM SERVER-ARG... -- CLIENT-ARG...
    local envs=$1 prog=$2 sargs=() addr
    shift 2
    while [ "$1" != -- ]; do sargs+=("$1"); shift; done
    shift
    # Emptied here, not by the redirection below: that runs in the
    # background child, and the loop could read the last server's address.
    : >"$tmp/pair.out"
    env $envs taskset -c $cpu_a "$prog" "${sargs[@]}" >"$tmp/pair.out" 2>&1 &
    local spid=$!
    for _ in $(seq 1 1000); do
        grep -q '^Waiting for client: ' "$tmp/pair.out" && break
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.01
    done
    addr=$(sed -n 's/^Waiting for client: //p' "$tmp/pair.out")
    if [ -z "$addr" ]; then
        echo "pp-table: $(basename "$prog") server printed no address" \
            "within 10 s" >&2
        cat "$tmp/pair.out" >&2
        kill "$spid" 2>/dev/null
        wait "$spid" 2>/dev/null
        return 1
    fi
    env $envs taskset -c $cpu_b "$prog" "$@" "$addr"
    local rc=$?
    if [ $rc -ne 0 ]; then
        # Its server would wait for the missing clients for ever.
        echo "pp-table: $(basename "$prog") client exited with $rc" >&2
        kill "$spid" 2>/dev/null
    fi
    wait "$spid" || rc=1
    return $rc
}

pp_run() { # TRANSPORT: pscom_pp JSON lines, appended
    eval "envs=\$env_$1"
    pinned_pair "$envs" "$pscom_pp" -l 0 -- --json --maxsize "$maxsize" \
        --loops "$loops" >>"$tmp/pp_$1.json" 2>"$tmp/pp_$1.err" ||
        { echo "pp-table: pscom_pp over $1 failed" >&2
          cat "$tmp/pp_$1.err" >&2; exit 1; }
}
bw_run() { # TRANSPORT: pscom_pp --window 16 JSON lines, appended
    eval "envs=\$env_$1"
    pinned_pair "$envs" "$pscom_pp" -l 0 -- --json --window 16 \
        --minsize 1K --maxsize "$maxsize" --loops "$loops" \
        >>"$tmp/bw_$1.json" 2>"$tmp/bw_$1.err" ||
        { echo "pp-table: pscom_pp --window over $1 failed" >&2
          cat "$tmp/bw_$1.err" >&2; exit 1; }
}
root=""
[ "$(id -u)" -eq 0 ] && root=--allow-run-as-root
ompi_run() { # OUTPUT [mpi_pp args]
    local out=$1
    shift
    mpirun $root -np 2 --bind-to core --map-by core \
        --mca btl self,vader --mca btl_vader_single_copy_mechanism none \
        "$mpi_pp" --json --maxsize "$maxsize" --loops "$loops" "$@" \
        >>"$tmp/$out.json" 2>"$tmp/$out.err" ||
        { echo "pp-table: Open MPI run failed" >&2
          cat "$tmp/$out.err" >&2; exit 1; }
}
# ---- --bell: doorbell waits beside polling -------------------------------
bell_env() { # poll|bell [PSP_SPIN_US]
    echo "$env_ivshmem PSP_IVSHMEM_SOCKET=$tmp/ivshmem.sock" \
        "PSP_SPIN_US=${2:-50}" \
        "PSP_IVSHMEM_DOORBELL=$([ "$1" = bell ] && echo auto || echo 0)"
}
bell_idle_ms() { # poll|bell: CPU ms per idle second of a waiting server
    local envs out spid cpid t0 t1 addr
    envs=$(bell_env "$1")
    out=$tmp/idle_$1
    env $envs taskset -c $cpu_a "$pscom_pp" -l 0 >"$out.srv" 2>&1 &
    spid=$!
    for _ in $(seq 1 1000); do
        grep -q '^Waiting for client: ' "$out.srv" && break
        sleep 0.01
    done
    addr=$(sed -n 's/^Waiting for client: //p' "$out.srv")
    env $envs taskset -c $cpu_b "$pscom_pp" --maxsize 0 --loops 10 \
        --linger 60 "$addr" >"$out.cli" 2>&1 &
    cpid=$!
    for _ in $(seq 1 1000); do
        grep -q '^lingering' "$out.cli" && break
        sleep 0.01
    done
    kill -STOP "$cpid"
    t0=$(awk '{ print $14 + $15 }' "/proc/$spid/stat")
    sleep 3
    t1=$(awk '{ print $14 + $15 }' "/proc/$spid/stat")
    kill -KILL "$cpid"
    wait "$cpid" "$spid" 2>/dev/null
    echo $(((t1 - t0) * 1000 / $(getconf CLK_TCK) / 3))
}
if [ $bell -gt 0 ]; then
    for _ in $(seq "$repeat"); do
        for m in poll bell; do
            pinned_pair "$(bell_env $m 1)" "$pscom_pp" -l 0 -- --json \
                --maxsize 4K --loops $((loops / 20 + 1)) --gap 200 \
                >>"$tmp/gap_$m.json" 2>"$tmp/gap_$m.err" &&
            pinned_pair "$(bell_env $m)" "$pscom_pp" -l 0 -- --json \
                --maxsize 4K --loops "$loops" \
                >>"$tmp/b2b_$m.json" 2>"$tmp/b2b_$m.err" ||
                { echo "pp-table: pscom_pp --gap ($m) failed" >&2
                  cat "$tmp/gap_$m.err" "$tmp/b2b_$m.err" >&2; exit 1; }
        done
    done
    idle_poll=$(bell_idle_ms poll)
    idle_bell=$(bell_idle_ms bell)
    python3 - "$tmp" "$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)" \
        "$idle_poll" "$idle_bell" <<'PY'
import json, statistics, sys
tmp, cpu = sys.argv[1], sys.argv[2]
def load(name):
    rows = {}
    for line in open(f"{tmp}/{name}.json"):
        d = json.loads(line)
        rows.setdefault(d["size"], []).append(d["half_rtt_us"])
    return {s: statistics.median(v) for s, v in rows.items()}
cols = {n: load(n) for n in ("gap_poll", "gap_bell", "b2b_poll", "b2b_bell")}
print(f"CPU: {cpu}")
print("ivshmem on the host, doorbells (eventfds from the server's socket) "
      "beside polling; half round-trip in us, median of rounds")
print("idle: both sides idle 200 us before every message, PSP_SPIN_US=1 "
      "(a wake-up each); busy: back to back, PSP_SPIN_US=50")
head = f"{'size':>8} | {'poll idle':>9} {'bell idle':>9} | {'poll busy':>9} {'bell busy':>9}"
print(head)
print("-" * len(head))
for s in sorted(cols["gap_poll"]):
    print(f"{s:>8} | {cols['gap_poll'][s]:9.2f} {cols['gap_bell'][s]:9.2f} | "
          f"{cols['b2b_poll'][s]:9.2f} {cols['b2b_bell'][s]:9.2f}")
print(f"CPU time of an idle waiting process per idle second: polling "
      f"{sys.argv[3]} ms, doorbell {sys.argv[4]} ms")
PY
    [ $bell = 2 ] && exit 0
fi
for _ in $(seq "$repeat"); do
    for t in $transports; do
        pp_run $t
    done
    ompi_run pp_ompi
    for t in ivshmem shm; do
        bw_run $t
    done
    ompi_run bw_ompi --window 16 --minsize 1K
done
# The copy ceiling: one core's memcpy(), pinned like the servers.
memcpy_64k=$(taskset -c $cpu_a "$cbench" --limit 65536)
memcpy_1m=$(taskset -c $cpu_a "$cbench" --limit 1048576)
cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
for t in ivshmem shm tcp; do
    eval "envs=\$env_$t"
    pinned_pair "$envs" "$ctime" -l "$conns" -- "$conns" \
        >"$tmp/ct_$t.json" 2>"$tmp/ct_$t.err" ||
        { echo "pp-table: connect-time over $t failed" >&2
          cat "$tmp/ct_$t.err" >&2; exit 1; }
done

# The receive area each ivshmem side allocates, as the library reads its
# environment (pscom_info); shm's size is fixed at build time and checked
# there (static_assert in lib/core/shm.c).
ring_size=$(env $env_ivshmem "$builddir/bin/pscom_info" |
    sed -n 's/^ *PSP_IVSHMEM_RING_SIZE *= *\([0-9]*\) .*/\1/p')
[ -n "$ring_size" ] ||
    { echo "pp-table: pscom_info did not show PSP_IVSHMEM_RING_SIZE" >&2; exit 1; }
python3 - "$tmp" "$ring_size" "$cpu_model" "$memcpy_64k" "$memcpy_1m" "$checksum" <<'PY'
import json, statistics, sys
tmp = sys.argv[1]
ring_kib = int(sys.argv[2]) / 1024
cpu_model, mc64, mc1m = sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
runs = ["ivshmem", "shm", "tcp", "ompi"]
extra = ["ivscrc"] if sys.argv[6] == "1" else []
rounds = {}
for r in runs + extra:
    rounds[r] = {}
    for line in open(f"{tmp}/pp_{r}.json"):
        if line.startswith("{"):
            j = json.loads(line)
            rounds[r].setdefault(j["size"], []).append(j)
for r in runs[:3] + extra:
    got = {j["type"] for js in rounds[r].values() for j in js}
    if got != {r if r != "ivscrc" else "ivshmem"}:
        sys.exit(f"pp-table: the {r} run used {sorted(got)}")
def pick(stat):
    out = {}
    for r in runs + extra:
        out[r] = {}
        for s, js in rounds[r].items():
            t = [j["half_rtt_us"] for j in js]
            b = [j["mb_s"] for j in js]
            if stat == "best":
                out[r][s] = {"half_rtt_us": min(t), "mb_s": max(b)}
            else:
                out[r][s] = {"half_rtt_us": statistics.median(t),
                             "mb_s": statistics.median(b)}
    return out
data = pick("median")
best = pick("best")
# Streaming bandwidth (--window 16), median MB/s per size.
bw = {}
for r in ("ivshmem", "shm", "ompi"):
    per = {}
    for line in open(f"{tmp}/bw_{r}.json"):
        if line.startswith("{"):
            j = json.loads(line)
            per.setdefault(j["size"], []).append(j["mb_s"])
    bw[r] = {s: statistics.median(v) for s, v in per.items()}
print(f"CPU: {cpu_model}; one core's memcpy(): {mc64:.1f} GB/s at 64 KiB, "
      f"{mc1m:.1f} GB/s at 1 MiB (bench/copy-bench --limit)")
nrounds = min(len(js) for r in runs for js in rounds[r].values())
sizes = sorted(set(data["ompi"]) & set(data["ivshmem"]))
print("half round-trip in us, bandwidth in MB/s, median of "
      f"{nrounds} round(s); ratios to Open MPI vader (same run)")
head = (f"{'size':>8} | {'ivshmem':>8} {'shm':>8} {'tcp':>8} {'ompi':>8}"
        f" {'ivs/om':>6} {'shm/om':>6} | {'ivshmem':>8} {'shm':>8}"
        f" {'tcp':>8} {'ompi':>8} {'ivs/om':>6} {'shm/om':>6} |"
        f" {'ivs-str':>8} {'shm-str':>8} {'om-str':>8}")
print(head)
print("-" * len(head))
def ratios(d):
    lo, bo = d["ompi"]["half_rtt_us"], d["ompi"]["mb_s"]
    lr = {r: d[r]["half_rtt_us"] / lo if lo else 0 for r in ("ivshmem", "shm")}
    br = {r: d[r]["mb_s"] / bo if bo else 0 for r in ("ivshmem", "shm")}
    return lr, br
def worst(src):
    lat = {"ivshmem": (0.0, 0), "shm": (0.0, 0)}
    bw = {"ivshmem": (9e9, 0), "shm": (9e9, 0)}
    for s in sizes:
        lr, br = ratios({r: src[r][s] for r in runs})
        for r in lat:
            lat[r] = max(lat[r], (lr[r], s))
            if s >= 65536:
                bw[r] = min(bw[r], (br[r], s))
    return lat, bw
for s in sizes:
    d = {r: data[r][s] for r in runs}
    lr, br = ratios(d)
    print(f"{s:>8} | " + " ".join(f"{d[r]['half_rtt_us']:8.2f}" for r in runs)
          + f" {lr['ivshmem']:6.2f} {lr['shm']:6.2f} | "
          + " ".join(f"{d[r]['mb_s']:8.1f}" for r in runs)
          + f" {br['ivshmem']:6.2f} {br['shm']:6.2f} | "
          + " ".join(f"{bw[r][s]:8.1f}" if s in bw[r] else f"{'':8}"
                     for r in ("ivshmem", "shm", "ompi")))
print()
for r in ("ivshmem", "shm", "tcp"):
    c = json.loads(open(f"{tmp}/ct_{r}.json").read())
    print(f"connect to first message, {r:>7}: median {c['median_us']:8.1f} us,"
          f" max {c['max_us']:8.1f} us, first {c['first_us']:8.1f} us"
          f" ({c['connections']} connections)")
print()
def verdict(ok):
    return "met" if ok else "MISSED"
lat_worst, bw_worst = worst(data)
lat_best, bw_best = worst(best)
for r in ("ivshmem", "shm"):
    (lw, ls), (bl, bs) = lat_worst[r], lat_best[r]
    print(f"goal {r}: half-RTT <= 1.0x Open MPI at every size: worst "
          f"{lw:.2f}x at {ls} B {verdict(lw <= 1.0)} (best rounds: "
          f"{bl:.2f}x at {bs} B)")
    if bw_worst[r][0] < 9e9:
        (w, ws), (b, bs) = bw_worst[r], bw_best[r]
        print(f"goal {r}: bandwidth >= 1.0x Open MPI from 64 KiB: worst "
              f"{w:.2f}x at {ws} B {verdict(w >= 1.0)} (best rounds: "
              f"{b:.2f}x at {bs} B)")
    if 1048576 in bw[r]:
        v = bw[r][1048576] / 1000
        print(f"goal {r}: 1 MiB streaming >= 0.5x one core's memcpy() "
              f"({mc1m:.1f} GB/s): {v:.1f} GB/s = {v / mc1m:.2f}x "
              f"{verdict(v >= 0.5 * mc1m)}")
c = json.loads(open(f"{tmp}/ct_ivshmem.json").read())
print(f"goal ivshmem: connect to first message <= 1 ms: median "
      f"{c['median_us'] / 1000:.3f} ms {verdict(c['median_us'] <= 1000)}")
print(f"goal shared memory per connection <= 64 KiB: ivshmem 2 x "
      f"{ring_kib:g} KiB receive areas (PSP_IVSHMEM_RING_SIZE) "
      f"{verdict(2 * ring_kib <= 64)}; shm: checked at build time; bulk "
      f"areas only while large messages flow (PSP_SHM_BULK_IDLE_MS)")
if extra:
    # The cost of PSP_IVSHMEM_CHECKSUM=1: a CRC32C over every message on
    # both sides (no goal: it is opt-in).
    print()
    print("ivshmem with PSP_IVSHMEM_CHECKSUM=1 (CRC32C per message), median "
          f"of {nrounds} round(s)")
    head = (f"{'size':>8} | {'plain':>8} {'crc':>8} {'cost':>7} |"
            f" {'plain':>8} {'crc':>8} {'cost':>7}")
    print(head)
    print("-" * len(head))
    for s in sizes:
        a, c = data["ivshmem"][s], data["ivscrc"].get(s)
        if not c:
            continue
        lc = (c["half_rtt_us"] / a["half_rtt_us"] - 1) * 100 \
            if a["half_rtt_us"] else 0
        bc = (1 - c["mb_s"] / a["mb_s"]) * 100 if a["mb_s"] else 0
        print(f"{s:>8} | {a['half_rtt_us']:8.2f} {c['half_rtt_us']:8.2f}"
              f" {lc:6.1f}% | {a['mb_s']:8.1f} {c['mb_s']:8.1f} {bc:6.1f}%")
PY
