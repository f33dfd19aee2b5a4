#!/bin/bash
# The maps of the tree stay complete: the file map at the top of
# lib/core/pscom_priv.h names every source file of lib/core (a name or a
# glob such as precon*.c), and the rooms table of HACKING.md names every
# directory of lib/ and vendor/, and bin, bench, test, doc and scripts.
set -u
src=${top_srcdir:?}
. "$top_srcdir/test/common/tap.sh"

priv=$src/lib/core/pscom_priv.h
hacking=$src/HACKING.md
[ -f "$priv" ] && [ -f "$hacking" ] || { tap_bail "$priv or $hacking missing"; }

# The header comment: everything before its closing " */".
map=$(sed -n '1,/^ \*\//p' "$priv")
names=$(printf '%s\n' "$map" | grep -oE '[A-Za-z0-9_]+\*?\.[ch]\b' | sort -u)
for f in "$src"/lib/core/*.c "$src"/lib/core/*.h; do
    b=${f##*/}
    hit=
    for pat in $names; do
        # shellcheck disable=SC2254
        case $b in $pat) hit=1; break ;; esac
    done
    if [ -n "$hit" ]; then tap_result 0 "pscom_priv.h's map names lib/core/$b"
    else tap_result 1 "pscom_priv.h's map names lib/core/$b"; fi
done

rooms=$(sed -n '/^## Rooms/,/^## /p' "$hacking" | grep '^|')
dirs=$(cd "$src" && ls -d lib/*/ vendor/*/ | sed 's:/$::')
for d in $dirs bin bench test doc scripts; do
    if printf '%s\n' "$rooms" | grep -qF -- "\`$d/"; then tap_result 0 "HACKING.md's rooms table has $d/"
    else tap_result 1 "HACKING.md's rooms table has $d/"; fi
done

tap_plan "$TAP_N"
exit "$(tap_status)"
