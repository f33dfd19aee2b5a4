#!/bin/sh
# pscom-region end to end: usage and exit codes, write/read/list/--json,
# --id, --append --lines, and watch following a writer fed line by line.
. "$top_srcdir/test/region/region-lib.sh"
region_setup tool -m 2
tap_plan 22

code() { "$@" >/dev/null 2>&1; echo $?; }

tap_ok "--help prints usage" sh -c "'$TOOL' --help | grep -q '^Usage: '"
tap_is "$(code "$TOOL")" 2 "no command: exit 2"
tap_is "$(code "$TOOL" frobnicate x)" 2 "unknown command: exit 2"
tap_is "$(code "$TOOL" list --json)" 0 "list on an empty directory: exit 0"
tap_is "$("$TOOL" list --json)" "[]" "empty JSON list is []"
tap_is "$(code "$TOOL" read nope)" 3 "reading a missing name: exit 3"
tap_is "$(code "$TOOL" read 'bad name')" 2 "bad name: exit 2"
tap_is "$(code "$TOOL" read --id 0)" 2 "bad id: exit 2"
tap_is "$(code "$TOOL" write big --size 99999999999 </dev/null)" 2 \
    "size larger than the segment: exit 2"
tap_is "$(code "$TOOL" --device /nonexistent/dev list)" 1 \
    "missing device: exit 1"

printf 'hello\nworld\n' >"$TL_DIR/greet.in"
region_start g "$TL_DIR/greet.in" "$TOOL" write greet --hold
tl_wait_line "$TL_DIR/g.out" '^holding greet id ' 30
tap_result $? "write --hold holds greet"
"$TOOL" read greet >"$TL_DIR/greet.read"
tap_ok "read returns the bytes written" cmp "$TL_DIR/greet.in" \
    "$TL_DIR/greet.read"
tap_is "$(code "$TOOL" write greet </dev/null)" 6 \
    "writing another owner's name: exit 6"
"$TOOL" list --json >"$TL_DIR/list.json"
WANT='"name": "greet", .*"owner_label": "pscom-region", .*'
WANT=$WANT'"size": 12, "length": 12, "version": 1, "stale": false'
tap_ok "JSON list: name, size, length, version, live" grep -q "$WANT" \
    "$TL_DIR/list.json"
id=$(sed -n 's/.*"id": \([0-9]*\), "name": "greet".*/\1/p' "$TL_DIR/list.json")
"$TOOL" read --id "$id" >"$TL_DIR/greet.byid"
tap_ok "read --id returns the same bytes" cmp "$TL_DIR/greet.in" \
    "$TL_DIR/greet.byid"
tap_ok "text list shows greet live" sh -c \
    "'$TOOL' list | grep -Eq ' greet +[0-9]+ +pscom-region +12 +12 +1 live\$'"

printf 'a\nb\n' >"$TL_DIR/app.in"
region_start ap "$TL_DIR/app.in" "$TOOL" write app --lines --append \
    --hold
tl_wait_line "$TL_DIR/ap.out" '^holding app id ' 30
tap_is "$("$TOOL" read app | od -An -c | tr -s ' ')" " a \n b \n" \
    "--lines --append keeps the lines and newlines"

# watch starts before the partition exists and follows a live feed.
mkfifo "$TL_DIR/feed"
tl_start wa "$TOOL" watch feed --count 3
region_start fw "$TL_DIR/feed" "$TOOL" write feed --lines
exec 4>"$TL_DIR/feed"
for word in one two three; do
    echo "$word" >&4
    tl_wait_line "$TL_DIR/wa.out" "^$word\$" 30 || break
done
tl_wait_exit wa 30
tap_is $? 0 "watch exits 0 after --count versions"
tap_is "$(cat "$TL_DIR/wa.out" | tr '\n' ' ')" "one two three " \
    "watch printed every version in order"
exec 4>&-
tl_wait_exit fw 30
tap_is $? 0 "a --lines writer exits 0 at end of input"
tap_is "$(code "$TOOL" read feed)" 3 "its partition is gone after exit"
kill -TERM "$TL_PID_g"
tl_wait_exit g 30
tap_is $? 0 "SIGTERM ends --hold cleanly"
exit "$(tap_status)"
