#!/bin/bash
# Suspend/resume over MQTT of processes streaming over tcp
# (PSP_SUSPEND_TCP=1: tcp migrates, so it is suspended only when asked).
exec /bin/bash "$(dirname "$0")/mqtt-run.sh" tcp
