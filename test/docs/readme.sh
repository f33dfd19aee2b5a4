#!/bin/bash
# Keep README.md true: every program `make install` puts into bin/sbin
# must be named in README.md, README.md must name the demo and the test
# command of .ci/run and both mpirun forms of the Open MPI component, and
# point to doc/environment.md, the variable reference (which
# environment.sh checks against the library's table).
set -u
src=${top_srcdir:?}
readme=$src/README.md
. "$top_srcdir/test/common/tap.sh"

[ -f "$readme" ] || { tap_bail "$readme is missing"; }

if grep -qF -- '(doc/environment.md)' "$readme"; then tap_result 0 "README links doc/environment.md"
else tap_result 1 "README links doc/environment.md"; fi

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

for form in './scripts/demo.sh' \
    'mpirun -np 8 -x PSP_IVSHMEM=1 --mca pml cm --mca mtl pscom ./app' \
    'OMPI_MCA_pml=cm OMPI_MCA_mtl=pscom mpirun -np 8 -x PSP_IVSHMEM=1 ./app'; do
    if grep -qF -- "$form" "$readme"; then tap_result 0 "README names '$form'"
    else tap_result 1 "README names '$form'"; fi
done

tap_plan "$TAP_N"
exit "$(tap_status)"
