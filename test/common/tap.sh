# tap.sh -- Test Anything Protocol output for shell tests (source it).
#   tap_plan N; tap_ok "what" cmd args...; tap_is GOT WANT "what";
#   tap_diag text; tap_bail text; exit "$(tap_status)"
TAP_N=0
TAP_FAILED=0

tap_plan() { echo "1..$1"; }

# tap_result COND(0=pass) "what"
tap_result() {
    TAP_N=$((TAP_N + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $TAP_N - $2"
    else
        TAP_FAILED=$((TAP_FAILED + 1))
        echo "not ok $TAP_N - $2"
    fi
}

# tap_ok "what" cmd args...: passes when the command succeeds.
tap_ok() {
    _what=$1
    shift
    "$@"
    tap_result $? "$_what"
}

# tap_is GOT WANT "what"
tap_is() {
    if [ "$1" = "$2" ]; then
        tap_result 0 "$3"
    else
        tap_result 1 "$3"
        tap_diag "got '$1', want '$2'"
    fi
}

tap_diag() { echo "$*" | sed 's/^/# /'; }

tap_bail() {
    echo "Bail out! $*"
    exit 1
}

tap_status() { [ "$TAP_FAILED" -eq 0 ] && echo 0 || echo 1; }
