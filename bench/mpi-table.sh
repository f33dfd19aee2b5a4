#!/bin/bash
# mpi-table.sh -- ONE run, ONE table: MPI ping-pong (bench/mpi_pp,
# unchanged) over our Open MPI component (--mca pml cm --mca mtl pscom,
# lib/ompi-mtl) on ivshmem and on shm, next to Open MPI's own vader
# (--mca btl_vader_single_copy_mechanism none) and tcp, the two ranks
# pinned to cores 0 and 1 (--bind-to core --map-by core), sizes
# 0 B .. 4 MiB: half round-trip in us and MB/s with the ratios to vader,
# the goals of issue 17 with met/MISSED, the CPU model in the header.
# Then a real application: Debian's hpcc (2 ranks, HPL N=1000), its wall
# time on ours (ivshmem) against vader and Open MPI tcp.
#
#   bench/mpi-table.sh [--quick] [--maxsize N] [--loops N] [--repeat N]
#                      [--hpcc-n N] [--builddir DIR]
#
# --repeat N alternates all runs N times; the table shows each size's
# median over the rounds, for every column alike. A goal is judged by its
# worst size; the median ratio over the goal's sizes follows in brackets
# (on a loaded host one size's spike decides the verdict). --loops (default
# 20000) is the round trips per small size, for every column alike.
# --quick: 0 B .. 64 KiB, 50 loops, hpcc with N=400 (make check's smoke
# run). ivshmem runs on a segment of a real ivshmem-server started here
# (host view, PSP_SHM=0, as ranks in two VMs would). Each run over the
# component is checked to have selected it and to have connected over the
# wanted transport. Numbers are only meaningful on a quiet machine.
set -u
here=$(cd "$(dirname "$0")" && pwd)
builddir=${top_builddir:-}
maxsize=4M
loops=20000
repeat=1
hpcc_n=1000
while [ $# -gt 0 ]; do
    case $1 in
    --quick) maxsize=64K; loops=50; hpcc_n=400 ;;
    --maxsize) maxsize=$2; shift ;;
    --loops) loops=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --hpcc-n) hpcc_n=$2; shift ;;
    --builddir) builddir=$2; shift ;;
    -h | --help)
        sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0 ;;
    *) echo "mpi-table: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
. "$here/bench-lib.sh"
builddir=$(bench_builddir "$builddir" "$here") || exit 1
srcdir=$(cd "$here/.." && pwd)
mpi_pp=$builddir/bench/mpi_pp
server_bin=$builddir/vendor/ivshmem/server/ivshmem-server
plugindir=$builddir/lib/pscom4ivshmem/.libs/
mtldir=$builddir/lib/ompi-mtl/.libs
for p in "$mpi_pp" "$server_bin" "$plugindir/libpscom4ivshmem.so" \
    "$mtldir/mca_mtl_pscom.so" "$srcdir/test/mpi/hpccinf.txt"; do
    [ -e "$p" ] ||
        { echo "mpi-table: $p is missing: build first (make)" >&2; exit 1; }
done
for p in mpirun ompi_info hpcc lscpu python3; do
    command -v $p >/dev/null ||
        { echo "mpi-table: $p is missing (scripts/deps.sh)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mpi-table.XXXXXX")
shm=pscom-mpi-table-$$
spid=""
cleanup() {
    [ -n "$spid" ] && kill "$spid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp" "/dev/shm/$shm"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The segment: 64 MiB, pscom layout (bench-lib.sh).
bench_ivshmem_server "$server_bin" "$shm" "$tmp"
rc=$?
spid=$BENCH_SERVER_PID
[ $rc -eq 0 ] || exit 1

defpath=$(ompi_info --parsable --param mca base --level 9 2>/dev/null |
    sed -n 's/^mca:mca:base:param:mca_base_component_path:value:"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p')
[ -n "$defpath" ] ||
    { echo "mpi-table: ompi_info shows no mca_base_component_path" >&2; exit 1; }
base=(--bind-to core --map-by core -np 2 --mca btl_tcp_if_include lo
    --mca oob_tcp_if_include lo)
[ "$(id -u)" -eq 0 ] && base+=(--allow-run-as-root)
ours=(--mca mca_base_component_path "$mtldir:$defpath" --mca pml cm
    --mca mtl pscom --mca mtl_base_verbose 10 -x PSP_SHM -x PSP_IVSHMEM
    -x PSP_DEBUG -x PSP_IVSHMEM_DEVICE -x PSP_PLUGINDIR)
# A build with --enable-sanitizers (make check's smoke run under
# distcheck): the component carries ASan, mpi_pp and hpcc do not, so the
# ranks get the runtimes preloaded (numbers of such a build mean nothing).
san=$(ldd "$mtldir/mca_mtl_pscom.so" 2>/dev/null |
    sed -n 's/^[[:space:]]*lib[a-z]*san\.so[^ ]* => \([^ ]*\) .*/\1/p' |
    paste -s -d: -)
[ -n "$san" ] && ours+=(-x "LD_PRELOAD=$san"
    -x "ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0")
export PSP_DEBUG=2 PSP_IVSHMEM_DEVICE=/dev/shm/$shm PSP_PLUGINDIR=$plugindir

# run COLUMN PROGRAM ARGS...: mpirun in that column's configuration;
# stdout to stdout, stderr into $tmp/COLUMN.err (appended).
run() {
    local col=$1 opts
    shift
    case $col in
    ivshmem) export PSP_SHM=0 PSP_IVSHMEM=1; opts=("${ours[@]}") ;;
    shm) export PSP_SHM=1 PSP_IVSHMEM=0; opts=("${ours[@]}") ;;
    vader) opts=(--mca pml ob1 --mca btl self,vader
        --mca btl_vader_single_copy_mechanism none) ;;
    tcp) opts=(--mca pml ob1 --mca btl self,tcp) ;;
    esac
    mpirun "${base[@]}" "${opts[@]}" "$@" 2>>"$tmp/$col.err"
}

# ours COLUMN: the run really used the component over that transport.
check_ours() {
    local col=$1 err=$tmp/$1.err
    grep -q 'mtl) Selected component \[pscom\]' "$err" &&
        grep -q "connected via $col\$" "$err" &&
        ! grep -o 'connected via [a-z]*' "$err" |
            grep -qv -e "via $col\$" -e 'via loop$' ||
        { echo "mpi-table: the $col run did not use the pscom MTL over" \
               "$col only:" >&2
          grep -v 'mca' "$err" | tail -n 20 >&2; exit 1; }
}

# The machine's load, printed with the table: on a shared host it says
# more about the numbers than anything else.
load0=$(cut -d' ' -f1-3 /proc/loadavg)
cols="ivshmem shm vader tcp"
for _ in $(seq "$repeat"); do
    for c in $cols; do
        run $c "$mpi_pp" --json --maxsize "$maxsize" --loops "$loops" \
            >>"$tmp/pp_$c.json" ||
            { echo "mpi-table: mpi_pp over $c failed" >&2
              grep -v 'mca' "$tmp/$c.err" | tail -n 20 >&2; exit 1; }
    done
done
check_ours ivshmem
check_ours shm

# hpcc: the same small input for every column, wall time of mpirun.
for c in ivshmem vader tcp; do
    mkdir -p "$tmp/hpcc-$c"
    sed "s/^[0-9]* *Ns\$/$hpcc_n          Ns/" "$srcdir/test/mpi/hpccinf.txt" \
        >"$tmp/hpcc-$c/hpccinf.txt"
    t0=$(date +%s.%N)
    (cd "$tmp/hpcc-$c" && run $c hpcc >/dev/null) ||
        { echo "mpi-table: hpcc over $c failed" >&2
          grep -v 'mca' "$tmp/$c.err" | tail -n 20 >&2; exit 1; }
    t1=$(date +%s.%N)
    echo "$t0 $t1" >"$tmp/hpcc-$c/wall"
done
check_ours ivshmem

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
[ -n "$san" ] &&
    echo "NOTE: a sanitizer build (ASan/UBSan preloaded): the numbers mean nothing"
python3 - "$tmp" "$cpu" "$hpcc_n" "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, os, statistics, sys
tmp, cpu, hpcc_n, load0, load1 = sys.argv[1:6]
cols = ["ivshmem", "shm", "vader", "tcp"]
rounds = {}
for c in cols:
    rounds[c] = {}
    for line in open(f"{tmp}/pp_{c}.json"):
        if line.startswith("{"):
            j = json.loads(line)
            rounds[c].setdefault(j["size"], []).append(j)
data = {c: {s: {"lat": statistics.median(j["half_rtt_us"] for j in js),
                "bw": statistics.median(j["mb_s"] for j in js)}
            for s, js in rounds[c].items()} for c in cols}
nrounds = min(len(js) for c in cols for js in rounds[c].values())
sizes = sorted(set.intersection(*(set(data[c]) for c in cols)))
print(f"MPI ping-pong (bench/mpi_pp), 2 ranks pinned to cores 0 and 1; "
      f"CPU: {cpu}")
print("ours = --mca pml cm --mca mtl pscom (ivshmem: PSP_SHM=0 on a real "
      "ivshmem-server segment; shm);")
print("vader = ob1 + btl vader, single_copy_mechanism none; tcp = ob1 + btl "
      "tcp over lo")
print(f"load average (1, 5, 15 min) before: {load0}, after: {load1} "
      f"on {os.cpu_count()} CPUs")
print(f"half round-trip in us, bandwidth in MB/s, median of {nrounds} "
      "round(s); ratios to vader (same run)")
head = (f"{'size':>8} | {'ivshmem':>8} {'shm':>8} {'vader':>8} {'tcp':>8}"
        f" {'ivs/vd':>6} {'shm/vd':>6} | {'ivshmem':>8} {'shm':>8}"
        f" {'vader':>8} {'tcp':>8} {'ivs/vd':>6} {'shm/vd':>6}")
print(head)
print("-" * len(head))
def ratio(a, b):
    return a / b if b else 0.0
for s in sizes:
    d = {c: data[c][s] for c in cols}
    print(f"{s:>8} | " + " ".join(f"{d[c]['lat']:8.2f}" for c in cols)
          + f" {ratio(d['ivshmem']['lat'], d['vader']['lat']):6.2f}"
          + f" {ratio(d['shm']['lat'], d['vader']['lat']):6.2f} | "
          + " ".join(f"{d[c]['bw']:8.1f}" for c in cols)
          + f" {ratio(d['ivshmem']['bw'], d['vader']['bw']):6.2f}"
          + f" {ratio(d['shm']['bw'], d['vader']['bw']):6.2f}")
print()
def verdict(ok):
    return "met" if ok else "MISSED"
for c in ("ivshmem", "shm"):
    lat = [(ratio(data[c][s]["lat"], data["vader"][s]["lat"]), s)
           for s in sizes if s <= 4096]
    w, ws = max(lat)
    print(f"goal {c}: half-RTT <= 1.15x vader from 0 B to 4 KiB: worst "
          f"{w:.2f}x at {ws} B {verdict(w <= 1.15)} (median over the "
          f"sizes {statistics.median(r for r, _ in lat):.2f}x)")
    bw = [(ratio(data[c][s]["bw"], data["vader"][s]["bw"]), s)
          for s in sizes if s >= 65536]
    if bw:
        w, ws = min(bw)
        print(f"goal {c}: bandwidth >= 1.0x vader from 64 KiB: worst "
              f"{w:.2f}x at {ws} B {verdict(w >= 1.0)} (median over the "
              f"sizes {statistics.median(r for r, _ in bw):.2f}x)")
    if 0 in sizes:
        r = ratio(data["tcp"][0]["lat"], data[c][0]["lat"])
        print(f"goal {c}: >= 10x better than Open MPI tcp at 0 B: "
              f"{r:.1f}x {verdict(r >= 10)}")
print()
walls = {}
for c in ("ivshmem", "vader", "tcp"):
    t0, t1 = map(float, open(f"{tmp}/hpcc-{c}/wall").read().split())
    ok = "Success=1" in open(f"{tmp}/hpcc-{c}/hpccoutf.txt").read()
    walls[c] = (t1 - t0, ok)
print(f"hpcc (Debian, unchanged), 2 ranks, HPL N={hpcc_n}: wall time of "
      "mpirun")
for c, name in (("ivshmem", "ours (ivshmem)"), ("vader", "Open MPI vader"),
                ("tcp", "Open MPI tcp")):
    t, ok = walls[c]
    print(f"  {name:>15}: {t:7.2f} s  {ratio(t, walls['vader'][0]):5.2f}x "
          f"vader  {'Success=1' if ok else 'FAILED'}")
PY
