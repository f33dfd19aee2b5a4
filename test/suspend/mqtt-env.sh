# mqtt-env.sh -- source after tl_init (lib.sh; ivshmem-env.sh calls it):
# what the MQTT suspend tests share. Sets st (susp_stream) and mig
# (pscom-migrate), bailing out when either is missing; starts a real
# mosquitto on a free port of 127.0.0.1 (start_mosquitto, lib.sh) and
# sets B, its address, and H, this host's name (the <hostname> of the
# topics).
st=$top_builddir/test/suspend/susp_stream
mig=$top_builddir/bin/pscom-migrate
[ -x "$st" ] && [ -x "$mig" ] || tap_bail "susp_stream or pscom-migrate missing"
tl_need mosquitto_sub
start_mosquitto
H=$(hostname)
B=127.0.0.1:$MQTT_PORT
