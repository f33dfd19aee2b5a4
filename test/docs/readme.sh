#!/bin/bash
# Keep README.md true: every PSP_* variable the library and its plugins
# declare (as printed by pscom_info with the ivshmem plugin loaded) and
# every program `make install` puts into bin/sbin must be named in
# README.md, and README.md must name the test command of .ci/run.
set -u
src=${top_srcdir:?}
bld=${top_builddir:?}
readme=$src/README.md
. "$src/test/common/tap.sh"

[ -f "$readme" ] || tap_bail "$readme is missing"

info=$bld/bin/pscom_info
[ -x "$info" ] || tap_bail "$info is missing (make)"
plugdir=$bld/lib/pscom4ivshmem/.libs/
[ -f "$plugdir/libpscom4ivshmem.so" ] ||
    tap_bail "ivshmem plugin not built in $plugdir"

vars=$(PSP_PLUGINDIR=$plugdir "$info" 2>&1 | grep -oE '^  PSP_[A-Z0-9_]+' | sort -u)
[ -n "$vars" ] || tap_bail "pscom_info listed no variables"
echo "$vars" | grep -q PSP_IVSHMEM_ ||
    tap_result 1 "pscom_info lists the plugin's PSP_IVSHMEM_* variables"
for v in $vars; do
    if grep -qw -- "$v" "$readme"; then tap_result 0 "README names $v"
    else tap_result 1 "README names $v"; fi
done

# Programs: every *_PROGRAMS entry in bin/ and vendor/ivshmem/server.
progs=$(sed -n 's/^\(s\?bin\)_PROGRAMS *+\?= *//p' \
        "$src/bin/Makefile.am" "$src/vendor/ivshmem/server/Makefile.am" | tr ' ' '\n' | grep -v '^$' | sort -u)
for p in $progs; do
    # automake names: pscom_pp, ivshmem-server ...
    if grep -qF -- "$p" "$readme"; then tap_result 0 "README names program $p"
    else tap_result 1 "README names program $p"; fi
done

cmd=$(grep -vE '^\s*(#|$|set |cd |export )' "$src/.ci/run" | head -n 1)
if grep -qF -- "$cmd" "$readme"; then tap_result 0 "README names the CI test command ($cmd)"
else tap_result 1 "README names the CI test command ($cmd)"; fi

tap_plan "$TAP_N"
exit "$(tap_status)"
