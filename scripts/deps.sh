#!/bin/sh
# Install everything the build, the demo and the test suite need on a
# Debian 12 machine. Idempotent; uses sudo when not run as root.
set -eu
PKGS="build-essential autoconf automake libtool pkg-config
libhwloc-dev hwloc libpaho-mqtt-dev mosquitto mosquitto-clients
openmpi-bin libopenmpi-dev python3-mpi4py hpcc libcmocka-dev uuid-dev
clang libclang-rt-14-dev clang-format
qemu-system-x86 busybox-static linux-headers-amd64 python3 procps iproute2 systemd"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
else
    echo "deps: all packages present"
fi
