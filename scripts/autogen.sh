#!/bin/sh
# Generate configure and Makefile.in files from a fresh checkout.
set -eu
cd "$(dirname "$0")/.."
mkdir -p build-aux m4
autoreconf -fi
# The TAP test driver is not installed by autoreconf; take automake's own.
for d in /usr/share/automake-*; do
    if [ -f "$d/tap-driver.sh" ]; then
        cp -f "$d/tap-driver.sh" build-aux/tap-driver.sh
        break
    fi
done
test -f build-aux/tap-driver.sh || { echo "autogen: tap-driver.sh not found" >&2; exit 1; }
