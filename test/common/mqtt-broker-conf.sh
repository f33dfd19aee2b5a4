#!/bin/bash
# mqtt-broker-conf.sh PORT LOG [LINE...] -- the mosquitto.conf of every
# test broker (shell tests through lib.sh's mqtt_broker_start, the VM
# tests through vmmigrate.py), printed on stdout: 127.0.0.1:PORT,
# anonymous, no persistence, everything logged to LOG, then LINE...
# log_dest file: mosquitto buffers its stdout when it is not a tty.
# user: started as root it would switch to "mosquitto", who may not
# write into the test's private directory.
set -u
[ $# -ge 2 ] || { echo "usage: mqtt-broker-conf.sh PORT LOG [LINE...]" >&2; exit 2; }
port=$1 log=$2
shift 2
cat <<EOT
user $(id -un)
listener $port 127.0.0.1
allow_anonymous true
persistence false
log_dest file $log
log_type all
EOT
for line in "$@"; do
    echo "$line"
done
