#!/bin/bash
# doc/environment.md is the one reference of the PSP_* variables; keep it
# true against the library's own table: every variable pscom_info lists
# (with the ivshmem plugin loaded) and every "PSP_..." name in lib/ has a
# row there with the default pscom_info prints, and every row names a
# variable pscom_info lists.
set -u
src=${top_srcdir:?}
bld=${top_builddir:?}
doc=$src/doc/environment.md
. "$top_srcdir/test/common/tap.sh"

[ -f "$doc" ] || { tap_bail "$doc is missing"; }
info=$bld/bin/pscom_info
[ -x "$info" ] || { tap_bail "$info is missing (make)"; }
plugdir=$bld/lib/pscom4ivshmem/.libs/
[ -f "$plugdir/libpscom4ivshmem.so" ] ||
    { tap_bail "ivshmem plugin not built in $plugdir"; }

# pscom_info in an environment without PSP_* (so it prints the defaults)
# but PSP_PLUGINDIR: "  NAME = VALUE [origin]".
unset $(env | sed -n 's/^\(PSP_[A-Za-z0-9_]*\)=.*/\1/p')
listed=$(PSP_PLUGINDIR=$plugdir "$info" 2>&1 | sed -n 's/^  \(PSP_[A-Z0-9_]*\) *= *\(.*[^ ]\) *\[\(.*\)\]$/\1\t\2\t\3/p')
[ -n "$listed" ] || { tap_bail "pscom_info listed no variables"; }
echo "$listed" | grep -q '^PSP_IVSHMEM_' ||
    tap_result 1 "pscom_info lists the plugin's PSP_IVSHMEM_* variables"

# The doc's rows: "| `NAME` | `DEFAULT` or (empty) | ...".
rows=$(sed -n 's/^| `\(PSP_[A-Z0-9_]*\)` | \([^|]*\) |.*/\1\t\2/p' "$doc" |
       sed 's/\t`\(.*\)` *$/\t\1/; s/\t(empty) *$/\t/')

while IFS=$'\t' read -r name value origin; do
    value=${value#\"}; value=${value%\"}
    row=$(printf '%s\n' "$rows" | awk -F'\t' -v v="$name" '$1 == v')
    if [ -z "$row" ]; then
        tap_result 1 "doc/environment.md has a row for $name"
    elif [ "$origin" != default ]; then
        tap_result 0 "doc/environment.md has a row for $name (set by this test)"
    elif [ "$(printf '%s' "$row" | cut -f2)" = "$value" ]; then
        tap_result 0 "doc/environment.md: $name default '$value'"
    else
        tap_result 1 "doc/environment.md: $name default '$(printf '%s' "$row" | cut -f2)', pscom_info says '$value'"
    fi
done <<<"$listed"

names=$(echo "$listed" | cut -f1)
for v in $(printf '%s\n' "$rows" | cut -f1); do
    if grep -qxF -- "$v" <<<"$names"; then tap_result 0 "$v (documented) is read by the library"
    else tap_result 1 "$v (documented) is read by the library"; fi
done

# Names the code reads directly (getenv in lib/shmseg, the plugin).
for v in $(grep -rhoE '"PSP_[A-Z0-9_]+' "$src/lib" | tr -d '"' | sort -u); do
    if printf '%s\n' "$rows" | cut -f1 | grep -qxF -- "$v"; then
        tap_result 0 "lib/ reads $v: documented"
    else
        tap_result 1 "lib/ reads $v: documented in doc/environment.md"
    fi
done

tap_plan "$TAP_N"
exit "$(tap_status)"
