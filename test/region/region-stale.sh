#!/bin/sh
# A writer that dies: SIGKILL (the server sees its pid gone) and SIGSTOP
# (its heartbeat stops; the server's short owner timeout evicts it). Its
# partition reads as stale with a distinct exit code, the name can be
# created again, and a resumed writer learns it was evicted.
. "$top_srcdir/test/region/region-lib.sh"
region_setup stale -m 2 -r 50 -T 1000
tap_plan 12

holder() { # PROC TEXT NAME: a tool process holding partition NAME
    printf '%s' "$2" >"$TL_DIR/$1.in"
    region_start "$1" "$TL_DIR/$1.in" "$TOOL" write "$3" --hold --size 64
    tl_wait_line "$TL_DIR/$1.out" "^holding $3 id " 30
}

holder h1 first victim
tap_result $? "holder 1 created victim"
tap_is "$("$TOOL" read victim)" first "victim reads 'first'"
kill -KILL "$TL_PID_h1"
RECLAIMED="reclaimed [0-9]+ frames? .*'pscom-region'"
tl_wait_line "$HOST_LOG" "$RECLAIMED.*process gone" 30
tap_result $? "server reclaimed the SIGKILLed holder's frames"
"$TOOL" read victim >/dev/null 2>"$TL_DIR/err"
tap_is $? 4 "reading a dead writer's partition: exit 4 (stale)"
tap_ok "the message says the writer is gone" grep -q "writer is gone" \
    "$TL_DIR/err"
"$TOOL" list --json >"$TL_DIR/list.json"
tap_ok "list --json marks it stale" \
    grep -q '"name": "victim".*"stale": true' "$TL_DIR/list.json"

holder h2 second victim
tap_result $? "a new writer recycles the stale name"
tap_is "$("$TOOL" read victim)" second "victim now reads 'second'"
tap_is "$("$TOOL" list | grep -c ' victim ')" 1 "exactly one victim listed"

kill -STOP "$TL_PID_h2"
tl_wait_line "$HOST_LOG" "$RECLAIMED.*heartbeat" 30
tap_result $? "a stopped writer is evicted after the owner timeout"
"$TOOL" read victim >/dev/null 2>&1
tap_is $? 4 "its partition reads stale"
kill -CONT "$TL_PID_h2"
tl_wait_exit h2 30
tap_is $? 1 "the resumed writer learns it was evicted and exits 1"
sed 's/^/# /' "$TL_DIR/h2.out"
exit "$(tap_status)"
