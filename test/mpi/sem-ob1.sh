#!/bin/bash
# The semantics suite under Open MPI's own ob1 (vader at 2 ranks with the
# 64 MiB case, tcp at 4): it validates the test itself, so that a failure
# over the pscom MTL is the component's.
exec /bin/bash "$(dirname "$0")/sem-run.sh" ob1-vader:2 ob1-tcp:4
