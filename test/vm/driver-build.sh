#!/bin/sh
# The uio driver in vendor/ivshmem/driver builds against Debian's kernel
# headers (linux-headers-amd64, the same kernel the VM tests boot) without
# a warning, and the module says what the guest kernel checks on insmod:
# vermagic of that kernel, GPL licence, the ivshmem PCI alias.
set -u
: "${top_srcdir:?run through make check}"
. "$top_srcdir/test/common/tap.sh"
tap_plan 5
vmlib="$top_srcdir/test/vm/vmlib.py"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/driver-build.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

if rel=$(python3 "$vmlib" kernel-release 2>"$tmp/err"); then
    kver=${rel%% *}
    tap_result 0 "guest kernel headers: $rel"
else
    tap_result 1 "linux-headers-amd64 (scripts/deps.sh installs it)"
    sed 's/^/# /' "$tmp/err"
    kver=none
fi

# Build the way vmlib.py builds it for the guests (a copy: srcdir may be
# read-only), with the driver's own Makefile and KDIR.
mkdir "$tmp/drv"
cp "$top_srcdir/vendor/ivshmem/driver/Kbuild" \
   "$top_srcdir/vendor/ivshmem/driver/Makefile" \
   "$top_srcdir/vendor/ivshmem/driver/uio_ivshmem.c" "$tmp/drv/"
chmod u+w "$tmp/drv"/*
# The kernel build is a separate build: none of make check's flags or
# jobserver (under make -jN its warning would read as a compiler's).
unset MAKEFLAGS MFLAGS MAKELEVEL
if make -C "$tmp/drv" KDIR="/usr/src/linux-headers-$kver" \
        >"$tmp/build.log" 2>&1 && [ -f "$tmp/drv/uio_ivshmem.ko" ]; then
    tap_result 0 "uio_ivshmem.ko builds against linux-headers-$kver"
else
    tap_result 1 "uio_ivshmem.ko builds against linux-headers-$kver"
    sed 's/^/# /' "$tmp/build.log"
fi

# Compiler and linker diagnostics ("file:line:col: warning: ..."), and
# modpost's ("WARNING: modpost: ...").
if grep -E ': (warning|error):|WARNING: modpost' "$tmp/build.log" \
        >"$tmp/warn"; then
    tap_result 1 "no compiler warnings"
    sed 's/^/# /' "$tmp/warn"
else
    tap_result 0 "no compiler warnings"
fi

info="$tmp/modinfo"
if objcopy -O binary --only-section=.modinfo "$tmp/drv/uio_ivshmem.ko" \
        "$info.bin" 2>/dev/null; then
    tr '\0' '\n' <"$info.bin" >"$info"
else
    : >"$info"
fi
if grep -q "^vermagic=$kver " "$info" && grep -q '^license=GPL' "$info" &&
        grep -q '^alias=pci:v00001AF4d00001110sv' "$info"; then
    tap_result 0 "modinfo: vermagic $kver, GPL, pci alias 1af4:1110"
else
    tap_result 1 "modinfo: vermagic $kver, GPL, pci alias 1af4:1110"
    sed 's/^/# /' "$info"
fi

# make install = modules_install (+ depmod): the module lands in the tree
# of the headers' kernel release.
if make -C "$tmp/drv" KDIR="/usr/src/linux-headers-$kver" \
        INSTALL_MOD_PATH="$tmp/root" modules_install >"$tmp/inst.log" 2>&1 &&
        [ -f "$tmp/root/lib/modules/$kver/extra/uio_ivshmem.ko" ]; then
    tap_result 0 "modules_install places lib/modules/$kver/extra/uio_ivshmem.ko"
else
    tap_result 1 "modules_install places lib/modules/$kver/extra/uio_ivshmem.ko"
    sed 's/^/# /' "$tmp/inst.log"
fi
exit "$(tap_status)"
