#!/bin/sh
# Device discovery without a VM: a fake sysfs tree (PSP_IVSHMEM_SYSFS_ROOT)
# with uio devices whose nodes are regular files (PSP_IVSHMEM_DEV_ROOT;
# map 1 at offset one page), a PCI resource2 file, explicit
# PSP_IVSHMEM_DEVICE, choice by segment name, every rejected candidate
# reported at PSP_DEBUG=2. PCI discovery through hwloc runs on this
# machine's real topology (the VM tests prove the device path).
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"
host_init
INFO=$(host_info)
T=$TL_DIR
tap_plan 17

# Two segments named A and B (files), laid out by the server.
for n in A B; do
    host_server_start "mk$n" -f "$T/$n.img" -m 1 -c pscom ||
        tap_bail "$(cat "$HOST_LOG")"
    host_server_stop "mk$n"
done
head -c 1048576 /dev/zero >"$T/plain.img"
page=$(getconf PAGESIZE)

# uioN: sysfs name + map1 size, node = one page of padding + the image.
mkuio() { # mkuio N NAME IMAGE [nosize]
    d="$T/sys/class/uio/uio$1"
    mkdir -p "$d/maps/map1" "$d/maps/map0"
    echo "$2" >"$d/name"
    echo 0x100 >"$d/maps/map0/size"
    [ "$4" = nosize ] ||
        printf '0x%x\n' "$(stat -c %s "$3")" >"$d/maps/map1/size"
    { head -c "$page" /dev/zero; cat "$3"; } >"$T/dev/uio$1"
}
mkdir -p "$T/dev"
mkuio 0 other_driver "$T/A.img"
mkuio 1 ivshmem "$T/plain.img"
mkuio 2 ivshmem "$T/A.img" nosize
mkuio 3 ivshmem "$T/A.img"
mkuio 4 ivshmem "$T/B.img"
# uio3's registers (map 0, the padding page): IVPosition = 7.
printf '\007\000' | dd of="$T/dev/uio3" bs=1 seek=8 conv=notrunc 2>/dev/null
export PSP_IVSHMEM_SYSFS_ROOT="$T/sys" PSP_IVSHMEM_DEV_ROOT="$T/dev"

info() { PSP_DEBUG=2 "$INFO" --json "$@" >"$T/out" 2>"$T/err"; }
field() { sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p" "$T/out"; }

info
tap_is "$(field kind)/$(field name)" "uio/A.img" "first valid uio segment wins"
tap_ok "non-ivshmem uio rejected with reason" \
    grep -q "uio0: rejected: uio name 'other_driver' is not ivshmem" "$T/err"
tap_ok "uio without a pscom layout rejected with reason" \
    grep -q "uio1: rejected: no pscom segment: magic" "$T/err"
tap_ok "uio without map1 size rejected with reason" \
    grep -q "uio2: rejected: no uio map1 size" "$T/err"
tap_ok "peer id read from the IVPosition register" \
    grep -q '"peer_id": 7,' "$T/out"
PSP_IVSHMEM_DEVICE="$T/dev/uio3" "$(tl_builddir)/test/shmseg/seg_owner" \
    -N 5:1 >/dev/null
tap_is "$(od -An -tx4 -j12 -N4 "$T/dev/uio3" | tr -d ' ')" 00050001 \
    "doorbell write: peer 5 vector 1 in the Doorbell register"

PSP_IVSHMEM_SEGMENT=B.img info
tap_is "$(field device)" "$T/dev/uio4" "PSP_IVSHMEM_SEGMENT picks by name"
tap_ok "other names rejected with reason" \
    grep -q "uio3: rejected: segment name 'A.img', wanted 'B.img'" "$T/err"

# Explicit devices: a PCI resource2 file, a host object, a bad one.
pci="$T/sys/bus/pci/devices/0000:00:05.0"
mkdir -p "$pci"
cp "$T/B.img" "$pci/resource2"
PSP_IVSHMEM_DEVICE="$pci/resource2" info
tap_is "$(field kind)/$(field name)" "pci/B.img" "PSP_IVSHMEM_DEVICE: resource2"
tap_ok "no resource0: no registers, reason given" sh -c \
    "grep -q 'resource0: no registers' $T/err &&
     grep -q '\"peer_id\": -1' $T/out"
PSP_IVSHMEM_DEVICE="$T/dev/uio3" info
tap_is "$(field kind)/$(field name)" "uio/A.img" "PSP_IVSHMEM_DEVICE: uio node"
info "$T/A.img"
tap_is "$(field kind)/$(field name)" "host/A.img" "explicit host file"
PSP_IVSHMEM_DEVICE="$T/plain.img" info
tap_is $? 1 "explicit device without a segment: failure"
tap_ok "...and only that device is tried" sh -c \
    "grep -q 'PSP_IVSHMEM_DEVICE=$T/plain.img holds no usable segment' $T/err &&
     ! grep -q uio3 $T/err"
PSP_IVSHMEM_DEVICE="$T/missing" info
tap_ok "missing explicit device: reason given" \
    grep -q "missing: rejected: open: No such file" "$T/err"

# Nothing valid: uio is empty, PCI (hwloc, real machine) has no 1af4:1110
# here; the report is one clear line.
mkdir -p "$T/empty"
PSP_IVSHMEM_SYSFS_ROOT="$T/empty" info
rc=$?
if grep -q '"kind": "pci"' "$T/out"; then
    tap_result 0 "hwloc found a real ivshmem device"
    tap_result 0 "(device present: no-device report not applicable)"
else
    tap_is $rc 1 "no device: exit 1"
    tap_ok "no device: hwloc searched and one clear report" sh -c \
        "grep -q 'hwloc: no PCI device 1af4:1110' $T/err &&
         grep -q 'no ivshmem device with a valid segment' $T/err"
fi
exit "$(tap_status)"
