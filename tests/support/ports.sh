# shellcheck shell=bash
# tests/support/ports.sh: free loopback ports for the shell tests (sourced).
#
#   . tests/support/ports.sh
#   free_port VAR [N]    VAR := the first of N consecutive free ports
#
# Ports are drawn at random from [10000, start of the kernel's ephemeral
# range), the rule tu_free_port follows in C: a port inside the ephemeral range
# may be taken as the *source* port of any outgoing connection (this test's,
# or a neighbour's) between the moment we pick it and the moment the server
# under test binds it. CI saw exactly that: "cannot listen on 127.0.0.1:38110:
# Address already in use" for three ports at once, right after the browser
# test. A port is free when no TCP socket of any state has it as its local
# port (/proc/net/tcp and tcp6); ports handed out earlier in this shell are
# never handed out again.

ports_lo=32768
read -r ports_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || ports_lo=32768
[ "$ports_lo" -gt 11000 ] 2>/dev/null || ports_lo=32768
ports_given=" "

# The local ports of every TCP socket on this host, one per line.
ports_in_use() {
    local h
    # shellcheck disable=SC2013 # one hex port per word
    for h in $(awk 'FNR > 1 { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
        echo $((16#$h))
    done
}

free_port() {
    local n=${2:-1} p i okp tries taken
    taken=" $(ports_in_use | tr '\n' ' ')$ports_given"
    for ((tries = 0; tries < 1000; tries++)); do
        p=$((10000 + (RANDOM * 32768 + RANDOM) % (ports_lo - 10000 - n)))
        okp=1
        for ((i = 0; i < n; i++)); do
            case $taken in *" $((p + i)) "*) okp=0 ;; esac
        done
        if [ $okp = 1 ]; then
            for ((i = 0; i < n; i++)); do ports_given+="$((p + i)) "; done
            printf -v "$1" %s "$p"
            return 0
        fi
    done
    echo "free_port: no $n free consecutive port(s) below $ports_lo" >&2
    return 1
}
