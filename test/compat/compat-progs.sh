#!/bin/bash
# The 0x0200-style programs of compat_prog.c between processes: a client
# reaching its server as "localhost:PORT" (messages with a user-type
# xheader, RMA write and read) and three ranks connecting on demand by
# socket name, broadcasting from every root; over tcp and over shm.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
prog=$top_builddir/test/compat/compat_prog
[ -x "$prog" ] || tap_bail "$prog is missing (make check builds it)"
export PSP_IVSHMEM=0
tl_init
tap_plan 8

show() { for f in "$@"; do sed "s|^|# $(basename "$f"): |" "$f"; done; }

pp() { # TRANSPORT PSP_SHM
    export PSP_SHM=$2
    tl_start srv_$1 "$prog" server
    tl_wait_line "$TL_DIR/srv_$1.out" '^port [0-9]+$' ||
        { show "$TL_DIR/srv_$1.out"; tap_bail "server did not start"; }
    port=$(sed -n 's/^port //p' "$TL_DIR/srv_$1.out")
    "$prog" client "localhost:$port" >"$TL_DIR/cli_$1.out" 2>&1
    rc=$?
    tap_result $rc "$1: client via localhost:$port: messages and RMA verified"
    [ $rc -eq 0 ] || show "$TL_DIR/cli_$1.out"
    tl_wait_exit "srv_$1" 60 &&
        grep -q '^server: rma window verified$' "$TL_DIR/srv_$1.out" &&
        grep -q "^New connection from .* via $1\$" "$TL_DIR/srv_$1.out"
    rc=$?
    tap_result $rc "$1: server saw the RMA write land, connection via $1"
    [ $rc -eq 0 ] || show "$TL_DIR/srv_$1.out"
}

bcast() { # TRANSPORT PSP_SHM
    export PSP_SHM=$2
    mkdir "$TL_DIR/addr_$1"
    for r in 0 1 2; do
        tl_start "b$1$r" "$prog" bcast $r 3 "$TL_DIR/addr_$1"
    done
    rc=0
    for r in 0 1 2; do
        tl_wait_exit "b$1$r" 60 || rc=1
    done
    tap_result $rc "$1: 3 ranks, on-demand by name, bcast and barrier"
    [ $rc -eq 0 ] || show "$TL_DIR"/b"$1"?.out
    n=$(cat "$TL_DIR"/b"$1"?.out | grep -c '^ok ')
    tap_is "$n" 9 "$1: every rank reported its 3 checks ok"
}

pp tcp 0
pp shm 1
bcast tcp 0
bcast shm 1
exit "$(tap_status)"
