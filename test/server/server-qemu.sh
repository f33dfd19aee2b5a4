#!/bin/sh
# QEMU's own ivshmem-doorbell device against our server: two QEMUs
# (-S, no guest) must realise the device (QEMU exits if the protocol is
# wrong), stay up, show up as two peers, and their disconnects must be
# reported when they are killed.
. "$top_srcdir/test/common/tap.sh"
. "$top_srcdir/test/common/lib.sh"
. "$top_srcdir/test/common/host.sh"
host_init
tl_need qemu-system-x86_64 python3
tap_plan 9

# hmp SOCKET COMMAND: one human monitor command, print its output.
hmp() {
    python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
def until_prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace")
until_prompt()
s.sendall(sys.argv[2].encode() + b"\n")
print(until_prompt())
PY
}

qemu() { # qemu NAME: start one QEMU with its monitor on $TL_DIR/NAME.mon
    tl_start "$1" qemu-system-x86_64 -machine pc -accel tcg -S \
        -display none -nic none -m 64 \
        -monitor "unix:$TL_DIR/$1.mon,server=on,wait=off" \
        -chardev "socket,path=$HOST_SOCK,id=iv" \
        -device ivshmem-doorbell,chardev=iv,vectors=2
}

host_server_start srv -m 4 -n 2 -c pscom || tap_bail "$(cat "$HOST_LOG")"
qemu q1
tl_wait_line "$HOST_LOG" "peer [0-9]+ connected \(1 peer\)" 60
tap_result $? "server reports the first QEMU as a peer"
qemu q2
tl_wait_line "$HOST_LOG" "peer [0-9]+ connected \(2 peers\)" 60
tap_result $? "server reports both QEMUs as peers"
tl_wait_file "$TL_DIR/q1.mon" 60 && tl_wait_file "$TL_DIR/q2.mon" 60
for q in q1 q2; do
    hmp "$TL_DIR/$q.mon" "info pci" >"$TL_DIR/$q.pci" 2>&1
    grep -q "1af4:1110" "$TL_DIR/$q.pci"
    tap_result $? "$q realised the ivshmem-doorbell device (1af4:1110)"
done
tap_ok "both QEMUs are still running" \
    sh -c "kill -0 $TL_PID_q1 && kill -0 $TL_PID_q2"
kill -KILL "$TL_PID_q1"
tl_wait_line "$HOST_LOG" "peer [0-9]+ disconnected \(1 peer\)" 60
tap_result $? "killing the first QEMU: disconnect reported"
tap_ok "second QEMU survives its peer's death" kill -0 "$TL_PID_q2"
kill -KILL "$TL_PID_q2"
tl_wait_line "$HOST_LOG" "peer [0-9]+ disconnected \(0 peers\)" 60
tap_result $? "killing the second QEMU: disconnect reported"
host_server_stop srv
tap_is $? 0 "server shuts down cleanly"
exit "$(tap_status)"
