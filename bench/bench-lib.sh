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
