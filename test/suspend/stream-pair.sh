# stream-pair.sh -- source after ivshmem-env.sh (it needs tap.sh, lib.sh
# and a started broker). One helper for the MQTT tests over ivshmem:
#
#   stream_pair N   start "srv" (susp_stream listening, with the MQTT agent)
#                   and "cli" (its peer, no agent: it only keeps calling
#                   pscom) streaming N messages; srv stops halfway until
#                   $TL_DIR/go exists and ends at $TL_DIR/end. Returns once
#                   srv is halfway and its agent has subscribed.
#                   Needs $st (the susp_stream program).

stream_pair() {
    _sp_n=$1
    PSP_SUSPEND_RESUME=1 tl_start srv "$st" -l -n "$_sp_n" -h $((_sp_n / 2)) \
        -g "$TL_DIR/go" -w "$TL_DIR/end"
    tl_wait_line "$TL_DIR/srv.out" '^port ' 30 || tap_bail "server did not listen"
    _sp_port=$(awk '/^port/{print $2}' "$TL_DIR/srv.out")
    tl_start cli "$st" -c "127.0.0.1:$_sp_port" -n "$_sp_n"
    tl_wait_line "$TL_DIR/srv.out" '^halfway' 60 || tap_bail "no halfway"
    mqtt_wait_agent "$TL_PID_srv" 30 ||
        tap_bail "the agent did not subscribe"
}
