#!/bin/bash
# Keep README.md true: every PSP_* variable the library and its plugins
# declare (as printed by pscom_info with the ivshmem plugin loaded) and
# every program `make install` puts into bin/sbin must be named in
# README.md, and README.md must name the test command of .ci/run.
set -u
src=${top_srcdir:?}
bld=${top_builddir:?}
readme=$src/README.md
n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=1; echo "not ok $n - $*"; }

[ -f "$readme" ] || { echo "Bail out! $readme is missing"; exit 1; }

info=$bld/bin/pscom_info
[ -x "$info" ] || { echo "Bail out! $info is missing (make)"; exit 1; }
plugdir=$bld/lib/pscom4ivshmem/.libs/
[ -f "$plugdir/libpscom4ivshmem.so" ] ||
    { echo "Bail out! ivshmem plugin not built in $plugdir"; exit 1; }

vars=$(PSP_PLUGINDIR=$plugdir "$info" 2>&1 | grep -oE '^  PSP_[A-Z0-9_]+' | sort -u)
[ -n "$vars" ] || { echo "Bail out! pscom_info listed no variables"; exit 1; }
echo "$vars" | grep -q PSP_IVSHMEM_ ||
    notok "pscom_info lists the plugin's PSP_IVSHMEM_* variables"
for v in $vars; do
    if grep -qw -- "$v" "$readme"; then ok "README names $v"
    else notok "README names $v"; fi
done

# Programs: every *_PROGRAMS entry in bin/ and vendor/ivshmem/server.
progs=$(sed -n 's/^\(s\?bin\)_PROGRAMS *+\?= *//p' \
        "$src/bin/Makefile.am" "$src/vendor/ivshmem/server/Makefile.am" | tr ' ' '\n' | grep -v '^$' | sort -u)
for p in $progs; do
    # automake names: pscom_pp, ivshmem-server ...
    if grep -qF -- "$p" "$readme"; then ok "README names program $p"
    else notok "README names program $p"; fi
done

cmd=$(grep -vE '^\s*(#|$|set |cd |export )' "$src/.ci/run" | head -n 1)
if grep -qF -- "$cmd" "$readme"; then ok "README names the CI test command ($cmd)"
else notok "README names the CI test command ($cmd)"; fi

echo "1..$n"
exit $fail
