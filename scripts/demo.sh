#!/bin/bash
# The main job, from a fresh Debian 12 checkout: install the dependencies,
# generate the build system, build from scratch in build/demo, start an
# ivshmem-server (the host side), then run pscom_pp between two processes
# pinned to different cores that use the segment as two VMs would
# (PSP_IVSHMEM=1, PSP_SHM=0) and print its table (message size, half
# round-trip time, bandwidth, transport: ivshmem).
#   scripts/demo.sh [pscom_pp client options, e.g. --maxsize 1M --verify]
# Environment: JOBS (parallel make, default 2), DEMO_SKIP_BUILD=1 reuses an
# existing build/demo.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build/demo
JOBS=${JOBS:-2}

fail() {
    echo "demo: FAILED: $*" >&2
    exit 1
}

step() { echo "demo: $*"; }

if [ "${DEMO_SKIP_BUILD:-0}" != 1 ]; then
    step "installing dependencies (scripts/deps.sh)"
    "$top/scripts/deps.sh" || fail "installing the dependencies (scripts/deps.sh)"
    step "generating the build system (scripts/autogen.sh)"
    rm -rf "$build"
    mkdir -p "$build"
    "$top/scripts/autogen.sh" >"$build/autogen.log" 2>&1 ||
        { tail -n 30 "$build/autogen.log" >&2; fail "autogen (see $build/autogen.log)"; }
    step "building from scratch in $build"
    (cd "$build" && "$top/configure" -q >configure.log 2>&1) ||
        { tail -n 30 "$build/configure.log" >&2; fail "configure (see $build/config.log)"; }
    (cd "$build" && make -s -j"$JOBS" >make.log 2>&1) ||
        { tail -n 30 "$build/make.log" >&2; fail "make (see $build/make.log)"; }
fi
pp=$build/bin/pscom_pp
[ -x "$pp" ] || fail "$pp was not built"
command -v taskset >/dev/null || fail "taskset is missing (util-linux)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pscom-demo.XXXXXX")
server=""
ivsrv=""
shm=pscom-demo-$$
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    [ -n "$ivsrv" ] && kill "$ivsrv" 2>/dev/null
    rm -rf "$tmp" "/dev/shm/$shm"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The host side: ivshmem-server creates the segment with the pscom layout.
# Both pscom_pp processes map its object (/dev/shm/NAME) the way two VMs
# map their ivshmem BAR; PSP_SHM=0 keeps them off the same-OS transport.
ivs=$build/vendor/ivshmem/server/ivshmem-server
step "starting the host side: ivshmem-server -s $shm -m 64 -c pscom"
mkfifo "$tmp/ready"
"$ivs" -s "$shm" -m 64 -c pscom -p "$tmp/ivshmem.sock" -R 3 \
    3>"$tmp/ready" >"$tmp/ivshmem.log" 2>&1 &
ivsrv=$!
[ "$(timeout 30 head -n 1 "$tmp/ready")" = ready ] ||
    { cat "$tmp/ivshmem.log" >&2; fail "ivshmem-server did not start"; }
export PSP_IVSHMEM=1 PSP_SHM=0 PSP_IVSHMEM_DEVICE=/dev/shm/$shm \
    PSP_PLUGINDIR=$build/lib/pscom4ivshmem/.libs/
step "both processes: PSP_IVSHMEM=1 PSP_SHM=0 PSP_IVSHMEM_DEVICE=$PSP_IVSHMEM_DEVICE"

# Two different cores when the machine has them.
cpu_server=0
cpu_client=$(( $(nproc) > 1 ? 1 : 0 ))

step "starting the server: taskset -c $cpu_server pscom_pp -l 0"
taskset -c $cpu_server "$pp" -l 0 >"$tmp/server.out" 2>&1 &
server=$!
# Wait for the server to say where it listens (it prints that line once
# it is ready); give up if it dies or after 30 s.
for _ in $(seq 1 3000); do
    grep -q '^Waiting for client: ' "$tmp/server.out" && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.01
done
addr=$(sed -n 's/^Waiting for client: //p' "$tmp/server.out")
[ -n "$addr" ] || { cat "$tmp/server.out" >&2; fail "the pscom_pp server did not start"; }
step "server listens on $addr; client: taskset -c $cpu_client pscom_pp $* $addr"
echo
taskset -c $cpu_client "$pp" "$@" "$addr" || fail "the pscom_pp client failed"
wait "$server" || fail "the pscom_pp server failed: $(cat "$tmp/server.out")"
server=""
echo
step "done"
