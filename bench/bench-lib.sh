# bench-lib.sh -- sourced by the benchmark scripts.

# bench_builddir DIR HERE: the build tree to use, as an absolute path. DIR
# is --builddir (or $top_builddir); empty: the build tree whose bench/
# directory we run in, else scripts/demo.sh's build/demo next to HERE (the
# script's directory in the source tree).
bench_builddir() {
    local dir=$1 here=$2
    if [ -z "$dir" ]; then
        if [ -x ./mpi_pp ] && [ -x ../bin/pscom_pp ]; then
            dir=..
        else
            dir=$here/../build/demo
        fi
    fi
    (cd "$dir" && pwd)
}

# bench_ivshmem_server SERVER-BIN SHM DIR: a real ivshmem-server with a
# 64 MiB segment of the pscom layout on /dev/shm/SHM, its socket and log
# in DIR; returns once it serves (it says "ready" on fd 3), 1 (after
# printing its log) if it exited first. Sets BENCH_SERVER_PID.
bench_ivshmem_server() {
    mkfifo "$3/ready" || return 1
    "$1" -s "$2" -m 64 -c pscom -p "$3/ivshmem.sock" -R 3 \
        3>"$3/ready" >"$3/server.log" 2>&1 &
    BENCH_SERVER_PID=$!
    [ "$(timeout 30 head -n 1 "$3/ready")" = ready ] ||
        { cat "$3/server.log" >&2; return 1; }
}
