#!/bin/bash
# The maps of the tree stay complete: the file map at the top of
# lib/core/pscom_priv.h names every source file of lib/core (a name or a
# glob such as precon*.c), and the rooms table of HACKING.md names every
# directory of lib/ and vendor/, and bin, bench, test, doc and scripts.
set -u
src=${top_srcdir:?}
n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=1; echo "not ok $n - $*"; }

priv=$src/lib/core/pscom_priv.h
hacking=$src/HACKING.md
[ -f "$priv" ] && [ -f "$hacking" ] || { echo "Bail out! $priv or $hacking missing"; exit 1; }

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
    if [ -n "$hit" ]; then ok "pscom_priv.h's map names lib/core/$b"
    else notok "pscom_priv.h's map names lib/core/$b"; fi
done

rooms=$(sed -n '/^## Rooms/,/^## /p' "$hacking" | grep '^|')
dirs=$(cd "$src" && ls -d lib/*/ vendor/*/ | sed 's:/$::')
for d in $dirs bin bench test doc scripts; do
    if printf '%s\n' "$rooms" | grep -qF -- "\`$d/"; then ok "HACKING.md's rooms table has $d/"
    else notok "HACKING.md's rooms table has $d/"; fi
done

echo "1..$n"
exit $fail
