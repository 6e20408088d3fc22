#!/usr/bin/env bash
# `make bench`: starts register + gateway (+ business with apps/echo when they
# exist) on loopback, runs every scenario that can run BENCH_REPEAT times with a
# fresh server each time, and writes
#   build/bench/<stamp>/<scenario>-<rep>.json   one wsload result per run
#   build/bench/<stamp>/summary.json|.tsv      median, min, max per scenario
#   build/bench/<stamp>/bench.png              the chart (gnuplot)
# and a table on the terminal. Not a test: nothing here asserts a timing; it
# fails only when a run loses connections or messages, or cannot start.
#
# Environment: BENCH_REPEAT (3), BENCH_SCENARIOS (all), BENCH_PIN (1: servers on
# CPU 0, the load generator on CPU 1), BENCH_PORT (base port), BENCH_HOLD (5 s),
# BENCH_TLS=0 skips the wss rows (issue 11), BENCH_STORM_CONNS (5000) sizes the wss storm,
# BENCH_PERF=1 (perf record -g of every server process into <scenario>-<rep>.perf.data;
# BENCH_PERF_FREQ, 999 Hz), BENCH_SYSCALLS=1 (perf stat counts of send/write/read/epoll
# calls per server process into <scenario>-<rep>.syscalls.csv; costs a little CPU),
# BENCH_GW_ARGS (more gateway settings for every scenario, e.g. --clientWritePath=lws),
# BENCH_KEEP_LOGS=1 (the servers' logs are copied to /tmp/gwbench-kept.PID at the end).
#
# BENCH_VS_PHP=1 (`make bench-vs-php`, issue 11): the plain ws scenarios against the real PHP
# GatewayWorker too, started through PHP_REF_SH (../shared/interop-php/ref.sh, which needs
# GW_REF: /tmp/gw-ref), ours and PHP alternating within every repetition; the table at the
# end (and summary-vs-php.tsv/.json) gives both and the paired ratios. Exits 0 with a message
# when the PHP reference is not there. Nothing of PHP's is kept in this repository.
set -u
bin=$(cd "${1:-build}" && pwd) || exit 1
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1

# ---- bench-vs-php: is the PHP reference there, and which event loop will Workerman use? ----
VS_PHP=${BENCH_VS_PHP:-0}
targets=(ours)
if [ "$VS_PHP" = 1 ]; then
    PHP_REF_SH=${PHP_REF_SH:-$top/../shared/interop-php/ref.sh}
    export GW_REF=${GW_REF:-/tmp/gw-ref}
    why=""
    if [ ! -x "$PHP_REF_SH" ]; then
        why="no $PHP_REF_SH"
    elif ! command -v "${PHP:-php}" >/dev/null; then
        why="no ${PHP:-php} (apt-get install php-cli)"
    elif [ ! -f "$GW_REF/GatewayWorker/src/Gateway.php" ] || [ ! -f "$GW_REF/workerman/src/Worker.php" ]; then
        why="no PHP GatewayWorker sources in GW_REF=$GW_REF"
    fi
    if [ -n "$why" ]; then
        echo "bench-vs-php: skipped: $why (see ../shared/interop-php/README.md)"
        exit 0
    fi
    targets=(ours php)
    # Workerman runs on epoll with PHP's pecl `event` extension (in php.ini, or $GW_REF/ext/event.so,
    # which ref.sh loads unless GW_EVENT=off); without it on stream_select, which handles fds
    # below 1024 only: about 1,000 connections per process. The sizes follow (VS_LIST below).
    php_event=0
    case "${GW_EVENT:-auto}" in
    off) ;;
    auto) [ -f "$GW_REF/ext/event.so" ] && php_event=1 ;;
    *) [ -f "$GW_EVENT" ] && php_event=1 ;;
    esac
    "${PHP:-php}" -m 2>/dev/null | grep -qx event && php_event=1
    if [ "$php_event" = 1 ]; then # the sizes of `make bench`
        VS_LIST="idle-10k-c1 idle-20k-c2 storm-10k-c1 echo-1k-x1 echo-1k-x10 broadcast-10k-step broadcast-10k-100ps"
    else # at most ~900 clients per gateway process (SO_REUSEPORT spreads them)
        VS_LIST="idle-900-c1 idle-1600-c2 storm-900-c1 echo-1k-x1 echo-1k-x10 broadcast-1600-step broadcast-1600-100ps"
    fi
fi

REPEAT=${BENCH_REPEAT:-3}
PIN=${BENCH_PIN:-1}
HOLD=${BENCH_HOLD:-5}
# ports below the ephemeral range (tests/support/ports.sh): a port inside it may be some other
# connection's source port, or a TIME_WAIT left by wsload's 10,000s of clients
. tests/support/ports.sh
BASE=${BENCH_PORT:-}
[ -n "$BASE" ] || free_port BASE 10 || exit 1
REG_PORT=$BASE
WS_PORT=$((BASE + 1))
LAN_PORT=$((BASE + 2))
stamp=$(date +%Y%m%d-%H%M%S)
out="$bin/bench/$stamp"
mkdir -p "$out"
ln -sfn "$stamp" "$bin/bench/latest"
WSLOAD="$bin/bench/wsload"

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
NCPU=$(nproc)
srv_pin=() cli_pin=()
if [ "$PIN" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
    srv_pin=(taskset -c 0) cli_pin=(taskset -c 1)
fi

have_business=0
if [ -x "$bin/business" ] && [ -f "$bin/apps/echo.so" ]; then
    have_business=1
fi

pinning="off"
[ ${#srv_pin[@]} -gt 0 ] && pinning="servers on CPU 0, load generator on CPU 1"
echo "bench: results in $out (open files per process: $NOFILE, CPUs: $NCPU, pinning: $pinning)"
if [ "$VS_PHP" = 1 ]; then
    echo "bench-vs-php: PHP GatewayWorker from GW_REF=$GW_REF through $PHP_REF_SH; ours and PHP alternate in every repetition"
    if [ "$php_event" = 1 ]; then
        echo "bench-vs-php: PHP has the event extension (epoll): the sizes of make bench"
    else
        echo "bench-vs-php: PHP has no event extension: Workerman uses stream_select (fds < 1024, about 1,000"
        echo "  connections per process), so the scenarios are scaled to what it holds: at most ~900 clients per"
        echo "  gateway process (idle 900 / 1,600, storm 900, broadcast to 1,600; echo keeps 1,000 over 2); ours runs the same sizes"
    fi
    echo "bench-vs-php: every scenario runs with 2 business workers for both (PHP's gateway closes clients while none is connected)"
fi
[ "$have_business" = 1 ] || echo "bench: $bin/business or $bin/apps/echo.so does not exist yet: echo, broadcast and group are skipped"

run_dir=$(mktemp -d /tmp/gwbench.XXXXXX)
srv_pids=()
php_up=""
stop_servers() {
    local p
    [ -n "$php_up" ] && stop_php
    for p in "${srv_pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${srv_pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    srv_pids=()
}
cleanup() { stop_servers; [ -n "${BENCH_KEEP_LOGS:-}" ] && cp -r "$run_dir" /tmp/gwbench-kept.$$; rm -rf "$run_dir"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # port: until something listens on 127.0.0.1:port (at most 5 s)
    for _ in $(seq 100); do
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
        sleep 0.05
    done
    return 1
}

# ---- the PHP reference as a target (bench-vs-php): the same ports, CPU and process counts ----
php_ref() { # php_ref GW_COUNT start|stop
    env GW_RUN="$run_dir/php" GW_REGISTER="127.0.0.1:$REG_PORT" GW_WS_LISTEN="127.0.0.1:$WS_PORT" \
        GW_LAN_IP=127.0.0.1 GW_START_PORT="$LAN_PORT" GW_GATEWAY_COUNT="$1" GW_BUSINESS_COUNT=2 \
        GW_REUSE_PORT=1 GW_NOFILE="$NOFILE" GW_CPUS="$([ ${#srv_pin[@]} -gt 0 ] && echo 0)" \
        "$PHP_REF_SH" "$2" >>"$run_dir/php-ref.log" 2>&1
}
php_pids() { # master pid of ROLE and its children, comma-separated
    local m
    m=$(tr -dc '0-9' <"$run_dir/php/$1.pid" 2>/dev/null)
    [ -n "$m" ] && { echo "$m"; cat /proc/"$m"/task/*/children 2>/dev/null | tr " " "\n"; } | grep . | paste -sd,
}
start_php() { # start_php GW_COUNT: ref.sh returns once every business worker reached every gateway
    php_up=$1
    if ! php_ref "$1" start; then
        echo "bench: the PHP reference did not start:"
        tail -5 "$run_dir/php-ref.log" "$run_dir"/php/*.log 2>/dev/null | sed 's/^/   /'
        return 1
    fi
    [ -n "$php_loop" ] || php_loop=$(grep -o 'event-loop=[A-Za-z\\]*' "$run_dir/php/gateway.log" | tail -1)
    GW_PIDS=$(php_pids gateway)
    OTHER_PIDS="$(php_pids register),$(php_pids business)"
    sleep 0.3
}
stop_php() {
    php_ref "$php_up" stop
    php_up=""
}
php_loop=""

# start_servers COUNT WITH_BUSINESS: sets GW_PIDS (master and children) and OTHER_PIDS
start_servers() {
    local count=$1 biz=$2 i m kids
    [ "$TARGET" = php ] && { start_php "$count"; return; }
    rm -f "$run_dir"/*.pid
    "${srv_pin[@]}" "$bin/register" --listen="text://127.0.0.1:$REG_PORT" --pidFile="$run_dir/reg.pid" \
        start >>"$run_dir/register.log" 2>&1 &
    srv_pids+=($!)
    wait_port "$REG_PORT" || { echo "bench: register did not start"; tail "$run_dir/register.log"; return 1; }
    "${srv_pin[@]}" "$bin/gateway" --listen="websocket://127.0.0.1:$WS_PORT" --startPort="$LAN_PORT" \
        --registerAddress="127.0.0.1:$REG_PORT" --lanIp=127.0.0.1 --count="$count" "${gw_extra[@]}" ${BENCH_GW_ARGS:-} \
        --pidFile="$run_dir/gw.pid" start >>"$run_dir/gateway.log" 2>&1 &
    m=$!
    srv_pids+=($m)
    for ((i = 0; i < count; i++)); do
        wait_port $((LAN_PORT + i)) || { echo "bench: gateway did not start"; tail "$run_dir/gateway.log"; return 1; }
    done
    wait_port "$WS_PORT" || return 1
    kids=$(cat /proc/$m/task/*/children 2>/dev/null)
    GW_PIDS=$(echo $m $kids | tr ' ' ',')
    OTHER_PIDS=$(pgrep -d, -P "${srv_pids[0]}" ; echo "${srv_pids[0]}")
    OTHER_PIDS=${OTHER_PIDS//$'\n'/,}
    if [ "$biz" = 1 ]; then
        "${srv_pin[@]}" "$bin/business" --registerAddress="127.0.0.1:$REG_PORT" --count=2 \
            --eventHandler="$bin/apps/echo.so" --pidFile="$run_dir/biz.pid" start >>"$run_dir/business.log" 2>&1 &
        m=$!
        srv_pids+=($m)
        sleep 1.5 # the workers learn the gateways from the register, then connect
        kill -0 "$m" 2>/dev/null || { echo "bench: business did not start"; tail "$run_dir/business.log"; return 1; }
        kids=$(cat /proc/$m/task/*/children 2>/dev/null)
        OTHER_PIDS="$OTHER_PIDS,$(echo $m $kids | tr ' ' ',')"
    fi
    sleep 0.3
}

failures=0 php_failures=0
gw_extra=() # more gateway settings for the next scenarios (wss: certificate, ticket key)
# scenario NAME GW_COUNT NEEDS_BUSINESS WSLOAD_ARGS...
# In bench-vs-php only the scenarios of VS_LIST run, each repetition once per target, in the
# order ours, PHP, PHP, ours, ours, PHP... (so a drifting machine load hits both alike and
# neither always goes first); PHP's rows are NAME@php.
TARGET=ours
scenario() {
    local name=$1 count=$2 biz=$3 rep i lbl
    shift 3
    if [ "$VS_PHP" = 1 ]; then
        [[ " $VS_LIST " == *" $name "* ]] || return
        biz=1 # PHP's gateway closes every client while no business worker is connected
    fi
    if [ -n "${BENCH_SCENARIOS:-}" ] && ! [[ " $BENCH_SCENARIOS " == *" ${name%%-*} "* || " $BENCH_SCENARIOS " == *" $name "* ]]; then
        return
    fi
    if [ "$biz" = 1 ] && [ "$have_business" = 0 ]; then
        echo "== $name: skipped (needs $bin/business and $bin/apps/echo.so)"
        return
    fi
    local nt=${#targets[@]}
    for ((i = 0; i < REPEAT * nt; i++)); do
        rep=$((i / nt + 1)) TARGET=${targets[i % nt]} lbl=$name
        [ $((rep % 2)) = 0 ] && TARGET=${targets[nt - 1 - i % nt]}
        [ "$TARGET" = php ] && lbl=$name@php
        if ! start_servers "$count" "$biz"; then
            [ "$TARGET" = php ] && php_failures=$((php_failures + 1)) || failures=$((failures + 1))
            stop_servers
            TARGET=ours
            return
        fi
        local prof_pid=""
        if [ -n "${BENCH_PERF:-}" ]; then # profile the servers over the whole run
            perf record -q -F "${BENCH_PERF_FREQ:-999}" -g -p "$GW_PIDS,$OTHER_PIDS" \
                -o "$out/$lbl-$rep.perf.data" >"$run_dir/perf.log" 2>&1 &
            prof_pid=$!
        fi
        if [ -n "${BENCH_SYSCALLS:-}" ]; then # syscall counts per server process over the whole run
            perf stat --per-thread -x, -p "$GW_PIDS,$OTHER_PIDS" -o "$out/$lbl-$rep.syscalls.csv" \
                -e syscalls:sys_enter_sendto,syscalls:sys_enter_write,syscalls:sys_enter_writev \
                -e syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait \
                -e syscalls:sys_enter_epoll_ctl >"$run_dir/perf.log" 2>&1 &
            prof_pid=$!
        fi
        cpu0=$(awk '/^cpu[0-9]/ {printf "%s %d %d ", $1, $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat)
        "${cli_pin[@]}" "$WSLOAD" --port="$WS_PORT" --gw-pids="$GW_PIDS" --other-pids="$OTHER_PIDS" \
            --label="$lbl" --json="$out/$lbl-$rep.json" "$@" 2>"$run_dir/wsload.err"
        local rc=$?
        # busy share of each CPU over the run (is the server's core, or the client's, the limit?)
        awk -v before="$cpu0" 'BEGIN { n = split(before, b, " "); for (i = 1; i <= n; i += 3) { busy[b[i]] = b[i+1]; idle[b[i]] = b[i+2] } }
             /^cpu[0-9]/ { db = $2 + $3 + $4 + $7 + $8 - busy[$1]; di = $5 + $6 - idle[$1];
                           pct = db + di > 0 ? 100 * db / (db + di) : 0; printf "%s%s %.0f%%", sep, $1, pct; sep = ", " }
             END { print "" }' /proc/stat | sed 's/^/   busy over the run (connect included): /'
        if [ -n "$prof_pid" ]; then
            kill -INT "$prof_pid" 2>/dev/null
            wait "$prof_pid" 2>/dev/null
        fi
        sed 's/^/   /' "$run_dir/wsload.err"
        stop_servers
        if [ $rc -ne 0 ] && [ "$TARGET" = php ]; then # the reference's troubles are reported, not ours
            php_failures=$((php_failures + 1))
            tail -5 "$run_dir/php/gateway.log" | sed 's/^/   PHP gateway: /'
        elif [ $rc -ne 0 ]; then
            failures=$((failures + 1))
            tail -5 "$run_dir/gateway.log" | sed 's/^/   gateway: /'
        fi
        if [ -f "$out/$lbl-$rep.json" ]; then
            jq -c --arg n "$lbl" --argjson c "$count" --argjson r "$rep" --arg t "$TARGET" \
                '. + {scenario: $n, gateway_count: $c, rep: $r, target: $t}' "$out/$lbl-$rep.json" >"$out/.tmp" &&
                mv "$out/.tmp" "$out/$lbl-$rep.json"
        fi
        sleep 1 # let TIME_WAIT and the kernel's socket memory settle
    done
    TARGET=ours
}

mem_avail_mb=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)

# ---- idle: connect rate and memory per connection ----
scenario idle-10k-c1 1 0 --mode=idle --conns=10000 --hold="$HOLD"
scenario idle-19k-c1 1 0 --mode=idle --conns=19000 --hold="$HOLD"
scenario idle-20k-c2 2 0 --mode=idle --conns=20000 --hold="$HOLD"
scenario idle-38k-c2 2 0 --mode=idle --conns=38000 --hold="$HOLD"
if [ "$mem_avail_mb" -gt 3000 ]; then
    scenario idle-50k-c3 3 0 --mode=idle --conns=50000 --procs=3 --hold="$HOLD"
else
    echo "== idle-50k-c3: skipped (only $mem_avail_mb MB available)"
fi
# ---- reconnect storm (no business needed: connect and handshake only) ----
scenario storm-10k-c1 1 0 --mode=storm --conns=10000 --rounds=3
# ---- through the business worker ----
scenario echo-1k-x1 2 1 --mode=echo --conns=1000 --inflight=1 --duration=10 --warmup=2
scenario echo-1k-x10 2 1 --mode=echo --conns=1000 --inflight=10 --duration=10 --warmup=2
scenario broadcast-10k-step 2 1 --mode=broadcast --conns=10000 --msgs=200 --rate=0 --duration=60
scenario broadcast-10k-10ps 2 1 --mode=broadcast --conns=10000 --msgs=100 --rate=10 --duration=60
scenario broadcast-10k-100ps 2 1 --mode=broadcast --conns=10000 --msgs=1000 --rate=100 --duration=60
scenario group-100x100 2 1 --mode=group --groups=100 --group-size=100 --inflight=1 --duration=10 --warmup=2
# ---- bench-vs-php when PHP has no event extension: the same kinds, sized for stream_select ----
# (≤ ~900 clients per gateway process: fds stay below 1024 with the inner links and listeners)
if [ "$VS_PHP" = 1 ] && [ "$php_event" = 0 ]; then
    scenario idle-900-c1 1 1 --mode=idle --conns=900 --hold="$HOLD"
    scenario idle-1600-c2 2 1 --mode=idle --conns=1600 --hold="$HOLD"
    scenario storm-900-c1 1 1 --mode=storm --conns=900 --rounds=3
    scenario broadcast-1600-step 2 1 --mode=broadcast --conns=1600 --msgs=200 --rate=0 --duration=60
    scenario broadcast-1600-100ps 2 1 --mode=broadcast --conns=1600 --msgs=1000 --rate=100 --duration=60
fi
if [ "$VS_PHP" = 1 ]; then
    echo "bench-vs-php: no wss rows: the reference's gateway (ref.sh, start_gateway.php in ../shared/interop-php)"
    echo "  has no TLS setting; Workerman would serve wss with a context 'ssl' option, which needs a PHP start"
    echo "  file of our own, and PHP code stays out of this repository. Lottery and floor rows: ours only, not run."
fi

# ---- wss (issue 11): TLS handshakes, memory, echo and the storm, with their floor ----
# Throwaway certificates and a ticket key, made here in the build folder (never committed).
# The floor is measured in the same run: `openssl speed` for the signatures and the key
# exchange, and a bare `openssl s_server` (also on CPU 0) with the same generator.
if [ "$VS_PHP" = 0 ] && [ "${BENCH_TLS:-1}" = 1 ] && { [ -z "${BENCH_SCENARIOS:-}" ] || [[ " $BENCH_SCENARIOS " == *" wss"* || " $BENCH_SCENARIOS " == *" floor"* ]]; }; then
    tlsdir="$bin/bench/tls"
    mkdir -p "$tlsdir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost -days 2 \
        -keyout "$tlsdir/ecdsa.key" -out "$tlsdir/ecdsa.pem" >/dev/null 2>&1 &&
    openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 \
        -keyout "$tlsdir/rsa.key" -out "$tlsdir/rsa.pem" >/dev/null 2>&1 &&
    openssl rand 80 >"$tlsdir/ticket.key" || { echo "bench: cannot make the test certificates"; exit 1; }
    chmod 600 "$tlsdir"/*.key

    # wss NAME CERT(ecdsa|rsa) GW_COUNT NEEDS_BUSINESS WSLOAD_ARGS...
    wss() {
        local name=$1 kind=$2 count=$3 biz=$4
        shift 4
        gw_extra=(--ssl_cert="$tlsdir/$kind.pem" --ssl_key="$tlsdir/$kind.key" --ssl_ticket_key="$tlsdir/ticket.key")
        scenario "$name" "$count" "$biz" --tls=1 "$@"
        gw_extra=()
    }
    SC=${BENCH_STORM_CONNS:-5000}
    # one connection at a time: connect latency (TCP + TLS + upgrade), and the CPU of one handshake
    wss wss-latency-ecdsa ecdsa 1 0 --mode=churn --conns=300 --procs=1 --max-pending=1 --settle=0.5
    # handshakes back to back (16 in flight), each connection closed once open: full, then resumed
    wss wss-full-ecdsa ecdsa 1 0 --mode=churn --conns=3000 --max-pending=16 --settle=0.5
    wss wss-resumed-ecdsa ecdsa 1 0 --mode=churn --conns=3000 --max-pending=16 --settle=0.5 --resume=1
    wss wss-full-rsa rsa 1 0 --mode=churn --conns=3000 --max-pending=16 --settle=0.5
    # held: connect rate and memory per idle wss connection
    wss wss-idle-5k-ecdsa ecdsa 1 0 --mode=idle --conns=5000 --hold=2
    wss wss-idle-5k-rsa rsa 1 0 --mode=idle --conns=5000 --hold=2
    # echo through the business worker over wss
    wss wss-echo-1k-x1 ecdsa 2 1 --mode=echo --conns=1000 --inflight=1 --duration=10 --warmup=2
    # the party's storm: everyone drops, everyone comes back after 0.5 s +-50 % (the lottery
    # pages' backoff), resuming its TLS session; count=1 (one core) and count=2; and without resumption
    wss wss-storm-${SC}-c1 ecdsa 1 0 --mode=storm --conns="$SC" --rounds=2 --backoff=0.5 --resume=1
    wss wss-storm-${SC}-c2 ecdsa 2 0 --mode=storm --conns="$SC" --rounds=2 --backoff=0.5 --resume=1
    wss wss-storm-${SC}-c1-full ecdsa 1 0 --mode=storm --conns="$SC" --rounds=2 --backoff=0.5 --resume=0

    # the floor: a bare `openssl s_server` (TLS 1.3, one ticket, as the gateway) with the same
    # generator, handshake only (it serves one connection at a time)
    floor() { # NAME CERT WSLOAD_ARGS...
        local name=$1 kind=$2 rep port=$((BASE + 7))
        shift 2
        if [ -n "${BENCH_SCENARIOS:-}" ] && ! [[ " $BENCH_SCENARIOS " == *" floor"* || " $BENCH_SCENARIOS " == *" $name "* ]]; then
            return
        fi
        for ((rep = 1; rep <= REPEAT; rep++)); do
            "${srv_pin[@]}" openssl s_server -accept "127.0.0.1:$port" -cert "$tlsdir/$kind.pem" -key "$tlsdir/$kind.key" \
                -tls1_3 -num_tickets 1 -www -quiet </dev/null >>"$run_dir/s_server.log" 2>&1 &
            local sp=$!
            srv_pids+=($sp)
            wait_port "$port" || { echo "bench: openssl s_server did not start"; failures=$((failures + 1)); stop_servers; return; }
            "${cli_pin[@]}" "$WSLOAD" --port="$port" --gw-pids="$sp" --label="$name" --json="$out/$name-$rep.json" \
                --tls-only=1 "$@" 2>"$run_dir/wsload.err"
            [ $? -eq 0 ] || failures=$((failures + 1))
            sed 's/^/   /' "$run_dir/wsload.err"
            stop_servers
            [ -f "$out/$name-$rep.json" ] && jq -c --arg n "$name" --argjson r "$rep" '. + {scenario: $n, gateway_count: 0, rep: $r}' \
                "$out/$name-$rep.json" >"$out/.tmp" && mv "$out/.tmp" "$out/$name-$rep.json"
            sleep 1
        done
    }
    floor floor-sserver-ecdsa ecdsa --mode=churn --conns=3000 --max-pending=16 --settle=0.5
    floor floor-sserver-rsa rsa --mode=churn --conns=3000 --max-pending=16 --settle=0.5
    # openssl speed: one signature (the full handshake's server-side work) and one key exchange
    # (both kinds of handshake), single core, same run
    if [ -z "${BENCH_SCENARIOS:-}" ] || [[ " $BENCH_SCENARIOS " == *" floor"* ]]; then
        "${srv_pin[@]}" openssl speed -seconds 2 ecdsap256 rsa2048 ecdhx25519 2>/dev/null >"$out/openssl-speed.txt"
        awk '/^rsa 2048 bits/ { printf "{\"scenario\":\"floor-speed\",\"rsa2048_sign_us\":%.2f,", 1e6 / $6 }
             /^ *256 bits ecdsa \(nistp256\)/ { printf "\"ecdsap256_sign_us\":%.2f,", 1e6 / $7 }
             /^ *253 bits ecdh \(X25519\)/ { printf "\"x25519_op_us\":%.2f}\n", 1e6 / $6 }' "$out/openssl-speed.txt" \
            >"$out/floor-speed-1.json"
        jq -e . "$out/floor-speed-1.json" >/dev/null 2>&1 || { echo "bench: could not read openssl speed:"; cat "$out/openssl-speed.txt"; rm -f "$out/floor-speed-1.json"; }
    fi
fi

# ---- the lottery (issue 8): 5,000 phones sign in through two gateways, then a draw ----
# tests/bench/lottery.sh starts its own servers (two gateway instances, apps/lottery);
# its JSON goes into $out with the others, so the summary below includes it.
if [ "$VS_PHP" = 0 ] && { [ -z "${BENCH_SCENARIOS:-}" ] || [[ " $BENCH_SCENARIOS " == *" lottery "* ]]; }; then
    BENCH_OUT="$out" BENCH_REPEAT="$REPEAT" BENCH_PIN="$PIN" \
        tests/bench/lottery.sh "$bin" || failures=$((failures + 1))
fi

# ---- the floor (issue 11): a broadcast delivery without a gateway ----
# tests/bench/floor.c writes the broadcast's frame to 10,000 loopback sockets,
# one write() each (and through io_uring); its CPU per delivery is the floor
# the broadcast rows are compared with below.
if [ "$VS_PHP" = 0 ] && [ -x "$bin/bench/floor" ] && { [ -z "${BENCH_SCENARIOS:-}" ] || [[ " $BENCH_SCENARIOS " == *" floor "* ]]; }; then
    for mode in write uring; do
        for ((rep = 1; rep <= REPEAT; rep++)); do
            "${srv_pin[@]}" "$bin/bench/floor" --mode=$mode --conns=10000 --msgs=200 --size=32 \
                --reader-cpu="$([ ${#cli_pin[@]} -gt 0 ] && echo 1 || echo -1)" --label=floor-$mode-10k \
                --json="$out/floor-$mode-10k-$rep.json" | sed 's/^/   /' || failures=$((failures + 1))
            [ -f "$out/floor-$mode-10k-$rep.json" ] &&
                jq -c --argjson r "$rep" '. + {scenario: .label, gateway_count: 0, rep: $r}' \
                    "$out/floor-$mode-10k-$rep.json" >"$out/.tmp" && mv "$out/.tmp" "$out/floor-$mode-10k-$rep.json"
        done
    done
fi

# ---- summary: median and range per scenario and metric ----
shopt -s nullglob
files=("$out"/*-[0-9]*.json)
if [ ${#files[@]} -eq 0 ]; then
    echo "bench: no results"
    exit 1
fi
jq -s '
  def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
           else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  group_by(.scenario) | map(
    . as $runs | {scenario: .[0].scenario, mode: .[0].mode, conns: .[0].conns, gateway_count: .[0].gateway_count,
     runs: length,
     metrics: ([.[0] | to_entries[] | select(.value | type == "number") | .key] | map(. as $k |
        {key: $k, value: ([$runs[][$k] | select(. != null)] | {median: med, min: min, max: max})}) | from_entries)})
  | sort_by(.scenario)' "${files[@]}" >"$out/summary.json"

{
    printf 'scenario\truns\tconns\tconnected\tconn/s\tclient_us/conn\tserver_us/conn\tB/conn\tRSS_held_MB\tops/s\tsrv_us/op\tp50_ms\tp99_ms\tp99.9_ms\tlost\tstorm_ms\tconn_p50_ms\tresumed\tsrv_us/reconn\n'
    jq -r '
      def r(k; d): .metrics[k] as $m | if $m == null or $m.median == null then "-"
        else "\($m.median * pow(10; d) | round / pow(10; d))[\($m.min * pow(10; d) | round / pow(10; d))..\($m.max * pow(10; d) | round / pow(10; d))]" end;
      .[] | [.scenario, (.runs | tostring), (.conns | tostring), r("connected"; 0), r("connect_rate"; 0),
             r("client_cpu_us_per_conn"; 1), r("server_cpu_us_per_conn"; 1), r("gw_bytes_per_conn"; 0),
             (.metrics.gw_rss_held_kb.median // null | if . == null then "-" else (. / 1024 | round | tostring) end),
             r("ops_per_s"; 0), r("server_cpu_us_per_op"; 2), r("p50_ms"; 2), r("p99_ms"; 2), r("p999_ms"; 2),
             r("lost"; 0), r("storm_back_max_ms"; 0), r("connect_p50_ms"; 2),
             (if .metrics.storm_resumed then r("storm_resumed"; 0) else r("tls_resumed_connect"; 0) end),
             r("server_cpu_us_per_reconnect"; 0)] | @tsv' "$out/summary.json"
} >"$out/summary.tsv"
echo
echo "median [min..max] over $REPEAT runs; B/conn = gateway RSS delta / connections; CPU from /proc/<pid>/stat"
column -t -s $'\t' "$out/summary.tsv" 2>/dev/null || cat "$out/summary.tsv"
# wss against its floor, medians of this run (issue 11)
jq -r 'def m(s; k): (map(select(.scenario == s))[0].metrics[k].median // null);
  def ratio(a; b): if a == null or b == null or b == 0 then "-" else "\(a / b * 100 | round / 100)" end;
  (m("wss-full-ecdsa"; "server_cpu_us_per_conn")) as $fe | (m("wss-full-rsa"; "server_cpu_us_per_conn")) as $fr |
  (m("wss-resumed-ecdsa"; "server_cpu_us_per_conn")) as $re |
  (m("floor-sserver-ecdsa"; "server_cpu_us_per_conn")) as $se | (m("floor-sserver-rsa"; "server_cpu_us_per_conn")) as $sr |
  (m("floor-speed"; "ecdsap256_sign_us")) as $ecs | (m("floor-speed"; "rsa2048_sign_us")) as $rss | (m("floor-speed"; "x25519_op_us")) as $x |
  select($fe != null or $se != null) |
  "wss server CPU per handshake (µs): full ECDSA \($fe), full RSA \($fr), resumed \($re); resumed/full ECDSA \(ratio($re; $fe))",
  "floor: openssl s_server full ECDSA \($se), RSA \($sr) µs; ours/s_server ECDSA \(ratio($fe; $se)), RSA \(ratio($fr; $sr)); openssl speed: P-256 sign \($ecs), RSA-2048 sign \($rss), X25519 \($x) µs"
  ' "$out/summary.json"

# The broadcast rows against the floor of the same run (all server processes' CPU
# per delivery over the floor's one write() per delivery).
jq -r '(map({(.scenario): .metrics.server_cpu_us_per_op.median}) | add) as $m
       | ($m["floor-write-10k"] // null) as $f | select($f != null and $f > 0)
       | ["broadcast-10k-step", "broadcast-10k-10ps", "broadcast-10k-100ps", "floor-uring-10k"][]
       | select($m[.] != null)
       | "\(.): \($m[.] * 100 | round / 100) us per delivery = \($m[.] / $f * 100 | round / 100) x the write() floor (\($f * 100 | round / 100) us)"' \
    "$out/summary.json" | sed 's/^/floor: /'

# ---- bench-vs-php: ours against PHP, same run; the ratio is paired by repetition ----
# "ours better ×" = PHP / ours for costs (memory, CPU, latency, storm time) and ours / PHP
# for rates, so above 1 means ours is better; median [min..max] over the repetitions' pairs.
if [ "$VS_PHP" = 1 ]; then
    jq -s '
      def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
               else (.[length / 2 - 1] + .[length / 2]) / 2 end;
      def rng: map(select(. != null)) | if length == 0 then null else {median: med, min: min, max: max} end;
      def wanted: {idle: [["connect_rate", true], ["gw_bytes_per_conn", false], ["server_cpu_us_per_conn", false]],
                   storm: [["storm_back_max_ms", false], ["server_cpu_us_per_reconnect", false]],
                   echo: [["ops_per_s", true], ["server_cpu_us_per_op", false], ["p50_ms", false], ["p99_ms", false]],
                   broadcast: [["ops_per_s", true], ["server_cpu_us_per_op", false], ["p50_ms", false], ["p99_ms", false]]};
      map(select(.target != null)) | group_by(.scenario | sub("@php$"; "")) | map(
        (.[0].scenario | sub("@php$"; "")) as $s | map(select(.target == "ours")) as $o | map(select(.target == "php")) as $p
        | select(($o | length) > 0 and ($p | length) > 0)
        | (wanted[$o[0].mode] // [])[] as [$k, $more]
        | {scenario: $s, metric: $k, higher_is_better: $more, ours: ([$o[][$k]] | rng), php: ([$p[][$k]] | rng),
           ours_better: ([$o[] as $a | $p[] | select(.rep == $a.rep) | .[$k] as $b
                          | if ($a[$k] // 0) == 0 or ($b // 0) == 0 then null
                            elif $more then $a[$k] / $b else $b / $a[$k] end] | rng),
           pairs: ([$o[] as $a | $p[] | select(.rep == $a.rep)] | length)}) | flatten' \
        "${files[@]}" >"$out/summary-vs-php.json"
    {
        printf 'scenario\tmetric\tours\tPHP\tours_better_x\tpairs\n'
        jq -r 'def d(v): if v >= 100 then (v | round) elif v >= 10 then (v * 10 | round / 10) else (v * 100 | round / 100) end;
               def r(m): if m == null then "-" else "\(d(m.median))[\(d(m.min))..\(d(m.max))]" end;
               .[] | [.scenario, .metric, r(.ours), r(.php), r(.ours_better), (.pairs | tostring)] | @tsv' \
            "$out/summary-vs-php.json"
    } >"$out/summary-vs-php.tsv"
    echo
    echo "ours vs PHP GatewayWorker (${php_loop:-PHP loop unknown}), same run, alternating; median [min..max];"
    echo "ours_better_x: PHP/ours for costs, ours/PHP for rates (> 1: ours better), paired by repetition"
    column -t -s $'\t' "$out/summary-vs-php.tsv" 2>/dev/null || cat "$out/summary-vs-php.tsv"
fi

# ---- chart ----
if command -v gnuplot >/dev/null; then
    jq -r '.[] | [.scenario, (.metrics.gw_bytes_per_conn.median // 0), (.metrics.gw_bytes_per_conn.min // 0),
                  (.metrics.gw_bytes_per_conn.max // 0), (.metrics.connect_rate.median // 0),
                  (.metrics.connect_rate.min // 0), (.metrics.connect_rate.max // 0),
                  (.metrics.server_cpu_us_per_conn.median // 0), (.metrics.client_cpu_us_per_conn.median // 0)]
                 | @tsv' "$out/summary.json" | grep -E '^(idle|storm)' >"$out/chart-conn.dat"
    jq -r '.[] | select(.metrics.p50_ms != null) | [.scenario, .metrics.p50_ms.median, .metrics.p99_ms.median,
                  (.metrics.p999_ms.median // 0), .metrics.ops_per_s.median, .metrics.server_cpu_us_per_op.median]
                 | @tsv' "$out/summary.json" >"$out/chart-msg.dat"
    {
        cat <<EOF
set terminal pngcairo size 1800,1000 noenhanced font ",10"
set output "$out/bench.png"
set multiplot layout 2,3 title "gateway bench $stamp (median, error bars: min..max over $REPEAT runs)"
set style fill solid 0.6 border -1
set boxwidth 0.6
set grid ytics
set xtics rotate by -30
set yrange [0:*]
set offsets 0.5, 0.5, 0, 0
EOF
        if [ -s "$out/chart-conn.dat" ]; then
            cat <<EOF
set title "idle: gateway memory per connection (RSS delta / N), bytes"
set arrow 1 from graph 0, first 2048 to graph 1, first 2048 nohead lc rgb "red" dt 2
set label 1 "target 2048 B" at graph 0.98, first 2048 offset 0,0.7 right front tc rgb "red"
set arrow 2 from graph 0, first 6134 to graph 1, first 6134 nohead lc rgb "gray40" dt 3
set label 2 "PHP 6134 B" at graph 0.98, first 6134 offset 0,0.7 right front tc rgb "gray40"
plot "$out/chart-conn.dat" using 0:2:xtic(1) with boxes lc rgb "#4477aa" notitle, "" using 0:2:3:4 with yerrorbars lc rgb "black" pt 0 notitle
unset arrow 1; unset label 1; unset arrow 2; unset label 2
set title "connect rate, connections/s"
set arrow 1 from graph 0, first 20000 to graph 1, first 20000 nohead lc rgb "red" dt 2
set label 1 "target 20000/s" at graph 0.98, first 20000 offset 0,0.7 right front tc rgb "red"
set arrow 2 from graph 0, first 6782 to graph 1, first 6782 nohead lc rgb "gray40" dt 3
set label 2 "PHP 6782/s" at graph 0.98, first 6782 offset 0,0.7 right front tc rgb "gray40"
plot "$out/chart-conn.dat" using 0:5:xtic(1) with boxes lc rgb "#228833" notitle, "" using 0:5:6:7 with yerrorbars lc rgb "black" pt 0 notitle
unset arrow 1; unset label 1; unset arrow 2; unset label 2
set title "CPU per connection (connect + handshake), microseconds"
set offsets 0, 0, 0, 0
set style data histograms
set style histogram clustered gap 1
plot "$out/chart-conn.dat" using 8:xtic(1) title "server" lc rgb "#ee6677", "" using 9 title "client" lc rgb "#66ccee"
EOF
        else # no idle/storm scenario in this run: keep the layout, say so
            for t in "idle: gateway memory per connection" "connect rate" "CPU per connection"; do
                printf 'set title "%s: no idle or storm run in this bench"\nunset xtics; unset ytics; set border 0\nplot [0:1][0:1] NaN notitle\nset xtics; set ytics; set border\n' "$t"
            done
        fi
        if [ -s "$out/chart-msg.dat" ]; then
            cat <<EOF
set title "message latency, ms (log scale)"
set offsets 0, 0, 0, 0
set style data histograms
set style histogram clustered gap 1
set logscale y
set yrange [*:*]
plot "$out/chart-msg.dat" using 2:xtic(1) title "p50", "" using 3 title "p99", "" using 4 title "p99.9"
unset logscale y
set yrange [0:*]
set title "throughput: messages (echo) or deliveries (broadcast, group) per second"
plot "$out/chart-msg.dat" using 5:xtic(1) title "ops/s" lc rgb "#228833"
set title "server CPU per message / delivery, microseconds (all server processes)"
set arrow 1 from graph 0, first 7 to graph 1, first 7 nohead lc rgb "red" dt 2
set label 1 "broadcast target 7 us" at graph 0.98, first 7 offset 0,0.7 right front tc rgb "red"
plot "$out/chart-msg.dat" using 6:xtic(1) title "server us/op" lc rgb "#ee6677"
unset arrow 1; unset label 1
EOF
        else
            cat <<EOF
set title "message latency: no echo/broadcast runs yet (needs build/business + build/apps/echo.so)"
unset xtics; unset ytics; set border 0
plot [0:1][0:1] NaN notitle
EOF
        fi
        echo "unset multiplot"
    } >"$out/chart.gp"
    if gnuplot "$out/chart.gp" 2>"$out/gnuplot.err"; then
        echo "chart: $out/bench.png"
    else
        echo "bench: gnuplot failed:"; cat "$out/gnuplot.err"
    fi
else
    echo "bench: gnuplot not installed: no chart (apt-get install gnuplot-nox)"
fi

# sanity: lost connections or messages make the bench fail (timings never do); the PHP
# reference's own losses (bench-vs-php) are reported, they are not ours to fail on
bad=$(jq '[.[] | select((.metrics.failed.max // 0) > 0 or (.metrics.lost.max // 0) > 0
                        or (.metrics.out_of_order.max // 0) > 0 or (.metrics.server_closed.max // 0) > 0)
           | .scenario] | join(" ")' -r "$out/summary.json")
php_bad=$(echo "$bad" | tr ' ' '\n' | grep '@php$' | tr '\n' ' ')
bad=$(echo "$bad" | tr ' ' '\n' | grep -v '@php$' | tr '\n' ' ' | sed 's/ *$//')
if [ -n "$php_bad" ] || [ "$php_failures" -gt 0 ]; then
    echo "bench-vs-php: the PHP reference lost connections or messages in: ${php_bad:-} ($php_failures runs failed)"
fi
if [ -n "$bad" ] || [ "$failures" -gt 0 ]; then
    echo "bench: problems in: ${bad:-} (${failures} runs failed)"
    exit 1
fi
echo "bench: every connection held, no message lost or out of order"
