#!/bin/bash
# Suspend/resume over MQTT of processes streaming over shm.
exec /bin/bash "$(dirname "$0")/mqtt-run.sh" shm
