#!/bin/bash
# bin/pscom_pp: a server and a client print the table over tcp (with
# --verify and an xheader), JSON output, and every bad command line ends
# with exit status 2 and a message.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
pp=$top_builddir/bin/pscom_pp
[ -x "$pp" ] || tap_bail "$pp is missing (make builds it)"
export PSP_SHM=0 PSP_IVSHMEM=0
tl_init
tap_plan 27

start_server() { # NAME
    tl_start "$1" "$pp" -l 0
    tl_wait_line "$TL_DIR/$1.out" '^Waiting for client: ' ||
        { cat "$TL_DIR/$1.out"; tap_bail "pscom_pp server did not start"; }
    addr=$(sed -n 's/^Waiting for client: //p' "$TL_DIR/$1.out" | head -n1)
}

start_server srv1
"$pp" --maxsize 64K --loops 50 --verify --xheader 16 "$addr" >"$TL_DIR/c1.out" 2>&1
tap_result $? "client with --verify --xheader 16 exits 0"
rows=$(grep -cE '^ +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+  tcp$' "$TL_DIR/c1.out")
tap_is "$rows" 18 "table has 18 rows (0, 1, 2 ... 64 KiB), all via tcp"
tl_wait_exit srv1 30
tap_result $? "server exits 0 after its client"
grep -q '^New connection from .* via tcp$' "$TL_DIR/srv1.out"
tap_result $? "server reports the connection type"
[ "$rows" = 18 ] || sed 's/^/# /' "$TL_DIR/c1.out" "$TL_DIR/srv1.out"

start_server srv2
"$pp" --minsize 3 --maxsize 100 --loops 5 --json "$addr" >"$TL_DIR/c2.out" 2>&1
tap_result $? "client with --json exits 0"
# 3 4 8 16 32 64 100: powers of two from minsize, then maxsize itself.
sizes=$(sed -n 's/^{"size": \([0-9]*\),.*"type": "tcp"}$/\1/p' "$TL_DIR/c2.out" | tr '\n' ' ')
tap_is "$sizes" "3 4 8 16 32 64 100 " "JSON lines: sizes from minsize to maxsize"
tl_wait_exit srv2 30 >/dev/null

# --rounds: the same count at every size (loops would give 1000 rounds at
# 8 bytes and 32 at 1 MiB).
start_server srv6
"$pp" --minsize 8 --maxsize 1M --rounds 7 --json "$addr" >"$TL_DIR/c6.out" 2>&1
loops=$(sed -n 's/^{"size": [0-9]*, "loops": \([0-9]*\),.*/\1/p' "$TL_DIR/c6.out" | sort -u | tr '\n' ' ')
tap_is "$loops" "7 " "--rounds 7: seven round trips at every size, 8 B to 1 MiB"
tl_wait_exit srv6 30 >/dev/null

# --forever serves one client after the other; --maxtime ends each size
# early (a million loops would otherwise take minutes).
tl_start srv3 "$pp" --forever -l 0
tl_wait_line "$TL_DIR/srv3.out" '^Waiting for client: ' || tap_bail "no server"
addr=$(sed -n 's/^Waiting for client: //p' "$TL_DIR/srv3.out" | head -n1)
"$pp" --maxsize 8 --loops 1000000 --maxtime 0.05 "$addr" >"$TL_DIR/c3.out" 2>&1
tap_result $? "--maxtime: a run with a million loops per size ends"
# Two clients at once: the second waits until the first is done.
tl_start c5 "$pp" --maxsize 64K --loops 100 "$addr"
"$pp" --maxsize 8 --loops 10 "localhost:${addr##*:}" >"$TL_DIR/c4.out" 2>&1
rc=$?
tl_wait_exit c5 60
[ $rc -eq 0 ] && [ $? -eq 0 ]
tap_result $? "--forever: two clients at once (one by host name) are served"
kill -0 "$TL_PID_srv3" 2>/dev/null
tap_result $? "--forever: the server is still waiting"

# The 0x0200 program's spelling of the same runs: -l PORT -1 for the
# server, -c HOST:PORT -n --minsize --maxsize --xheader -V -i --valloc.
tl_start srv4 "$pp" -1 -l 0
tl_wait_line "$TL_DIR/srv4.out" '^Waiting for client: ' || tap_bail "no server"
addr=$(sed -n 's/^Waiting for client: //p' "$TL_DIR/srv4.out" | head -n1)
"$pp" -c -n 20 --minsize 1 --maxsize 4K --xheader 12 -V -i --valloc \
    "localhost:${addr##*:}" >"$TL_DIR/c6.out" 2>&1
tap_result $? "0x0200 options: -c -n --minsize --maxsize --xheader -V -i --valloc"
rows=$(grep -cE '^ +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+  tcp$' "$TL_DIR/c6.out")
histo=$(grep -cE '^# histo [0-9]+: <[0-9]+us:[0-9]+' "$TL_DIR/c6.out")
tap_is "$rows/$histo" "13/13" "1 B..4 KiB: 13 rows, each with a --histo line"
[ "$rows/$histo" = 13/13 ] || sed 's/^/# /' "$TL_DIR/c6.out"
tl_wait_exit srv4 30
tap_result $? "-1: the server exits after its client"

bad() { # "what" args...: exit status 2 and a message naming the problem
    what=$1
    shift
    "$pp" "$@" >"$TL_DIR/bad.out" 2>&1
    rc=$?
    [ $rc -eq 2 ] && grep -q . "$TL_DIR/bad.out"
    tap_result $? "bad command line ($what): exit 2 with a message"
    [ $rc -eq 2 ] || tap_diag "exit $rc: $(cat "$TL_DIR/bad.out")"
}
bad "negative --minsize" --minsize -1 127.0.0.1:1
bad "non-numeric --maxsize" --maxsize abc 127.0.0.1:1
bad "min > max" --minsize 10 --maxsize 5 127.0.0.1:1
bad "--loops 0" --loops 0 127.0.0.1:1
bad "--rounds 0" --rounds 0 127.0.0.1:1
bad "port out of range" 127.0.0.1:99999
bad "unresolvable host" no-such-host.invalid:4000
bad "no address" --maxsize 1K
bad "server and client at once" -l 0 127.0.0.1:1
bad "xheader too large" --xheader 70000 127.0.0.1:1
bad "-c and -l at once" -c -l 0
bad "--once and --forever" -1 --forever -l 0

port=$(tl_free_port)
"$pp" "127.0.0.1:$port" >"$TL_DIR/refused.out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -qi 'refused\|connect' "$TL_DIR/refused.out"
tap_result $? "nothing listening: exit 1 with a message"
[ $rc -eq 1 ] || tap_diag "exit $rc: $(cat "$TL_DIR/refused.out")"

"$pp" --help | grep -q -- '--maxsize'
tap_result $? "--help describes the options"
exit "$(tap_status)"
