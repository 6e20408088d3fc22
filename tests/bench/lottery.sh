#!/usr/bin/env bash
# The lottery benchmark (issue 8), called by run.sh (`make bench`, scenario
# `lottery`) or alone: tests/bench/lottery.sh [BUILD_DIR]
#
# Each run (BENCH_REPEAT, 3): a fresh register, TWO gateways (separate
# instances, separate WebSocket ports), the business worker (count 2) with
# apps/lottery and a fresh sqlite store, all on 127.0.0.1; then
# build/bench/lottery_signin: LOTTERY_N (5000) phones over both gateways sign
# in paced over LOTTERY_WINDOW (10) seconds; a screen counts the `signins`
# pushes; an admin draws (start + stop) and every phone's draw.result latency
# is measured from the draw.stop send. Writes <out>/lottery-<N>-<rep>.json
# (BENCH_OUT, default <build>/bench/lottery-<stamp>), prints a table of the
# median [min..max]. Nothing asserts a timing: it fails only when a run loses
# connections, sign-ins or results, or cannot start.
set -u
bin=$(cd "${1:-build}" && pwd) || exit 1
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1

REPEAT=${BENCH_REPEAT:-3}
PIN=${BENCH_PIN:-1}
N=${LOTTERY_N:-5000}
WINDOW=${LOTTERY_WINDOW:-10}
BASE=${LOTTERY_PORT:-$((20000 + $$ % 1000 * 10))} # below the ephemeral range: 5,000 clients use many of those
name="lottery-$((N / 1000))k"
out=${BENCH_OUT:-$bin/bench/lottery-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
CLIENT="$bin/bench/lottery_signin"
TOKEN="bench-admin-token"
KEY="bench-key"

for f in "$bin/register" "$bin/gateway" "$bin/business" "$bin/apps/lottery.so" "$CLIENT"; do
    if [ ! -e "$f" ]; then
        echo "== $name: skipped ($f does not exist)"
        exit 0
    fi
done
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
srv_pin=() cli_pin=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    srv_pin=(taskset -c 0) cli_pin=(taskset -c 1)
fi

run_dir=$(mktemp -d /tmp/gwbench-lottery.XXXXXX)
pids=()
stop_servers() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    pids=()
}
cleanup() { stop_servers; rm -rf "$run_dir"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # port: until something listens on 127.0.0.1:port (at most 5 s)
    for _ in $(seq 100); do
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
        sleep 0.05
    done
    return 1
}
wait_log() { # file text: until the file holds the text (at most 15 s)
    for _ in $(seq 300); do
        grep -qF "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

REG=$BASE WS1=$((BASE + 1)) LAN1=$((BASE + 2)) WS2=$((BASE + 3)) LAN2=$((BASE + 4))
start_servers() {
    local d=$run_dir/run
    rm -rf "$d"
    mkdir -p "$d"
    "${srv_pin[@]}" "$bin/register" --listen="text://127.0.0.1:$REG" --secretKey="$KEY" --pidFile="$d/reg.pid" \
        start >>"$d/register.log" 2>&1 &
    pids+=($!)
    wait_port "$REG" || { echo "lottery bench: register did not start"; return 1; }
    local ws lan
    for pair in "$WS1:$LAN1" "$WS2:$LAN2"; do
        ws=${pair%:*} lan=${pair#*:}
        "${srv_pin[@]}" "$bin/gateway" --listen="websocket://127.0.0.1:$ws" --startPort="$lan" --lanIp=127.0.0.1 \
            --registerAddress="127.0.0.1:$REG" --secretKey="$KEY" --pidFile="$d/gw-$lan.pid" \
            start >>"$d/gateway-$lan.log" 2>&1 &
        pids+=($!)
        wait_port "$ws" || { echo "lottery bench: gateway on $ws did not start"; return 1; }
    done
    cat >"$d/business.ini" <<EOF
[business]
registerAddress = 127.0.0.1:$REG
secretKey = $KEY
name = LotteryBench
count = 2
eventHandler = $bin/apps/lottery.so
pidFile = $d/business.pid

[app]
store = sqlite:$d/lottery.db
adminToken = $TOKEN
openSignup = false
title = bench
EOF
    "${srv_pin[@]}" "$bin/business" -c "$d/business.ini" start >>"$d/business.log" 2>&1 &
    pids+=($!)
    local i lan2
    for lan2 in "$LAN1" "$LAN2"; do
        for i in 0 1; do
            wait_log "$d/gateway-$lan2.log" "business worker 127.0.0.1:LotteryBench:$i connected" ||
                { echo "lottery bench: business process $i did not link to gateway $lan2"; tail -5 "$d/business.log"; return 1; }
        done
    done
}

failures=0
for ((rep = 1; rep <= REPEAT; rep++)); do
    echo "== $name run $rep/$REPEAT: $N phones over 2 gateways, sign-ins paced over $WINDOW s"
    if ! start_servers; then
        failures=$((failures + 1))
        stop_servers
        continue
    fi
    "${cli_pin[@]}" "$CLIENT" --gw="$WS1,$WS2" --n="$N" --window="$WINDOW" --admin-token="$TOKEN" \
        --label="$name" --json="$out/$name-$rep.json" >/dev/null 2>"$run_dir/client.err"
    rc=$?
    sed 's/^/   /' "$run_dir/client.err"
    if [ $rc -ne 0 ]; then
        failures=$((failures + 1))
        tail -3 "$run_dir/run/business.log" | sed 's/^/   business: /'
    fi
    if [ -f "$out/$name-$rep.json" ] && command -v jq >/dev/null; then
        jq -c --arg n "$name" --argjson r "$rep" '. + {scenario: $n, gateway_count: 2, rep: $r}' \
            "$out/$name-$rep.json" >"$out/.tmp" && mv "$out/.tmp" "$out/$name-$rep.json"
    fi
    stop_servers
    sleep 1
done

shopt -s nullglob
files=("$out/$name"-[0-9]*.json)
if [ ${#files[@]} -gt 0 ] && command -v jq >/dev/null; then
    jq -s '
      def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
               else (.[length / 2 - 1] + .[length / 2]) / 2 end;
      . as $runs | {scenario: .[0].scenario, runs: length, conns: .[0].conns,
        metrics: ([.[0] | to_entries[] | select(.value | type == "number") | .key] | map(. as $k |
          {key: $k, value: ([$runs[][$k] | select(. != null)] | {median: med, min: min, max: max})}) | from_entries)}' \
        "${files[@]}" >"$out/lottery-summary.json"
    echo
    echo "$name: median [min..max] over ${#files[@]} runs (ms unless noted)"
    jq -r '
      def r(k): .metrics[k] as $m | if $m == null or $m.median == null then "-"
        else "\($m.median * 10 | round / 10) [\($m.min * 10 | round / 10)..\($m.max * 10 | round / 10)]" end;
      ["phones connected + hello", "\(r("connected")) of \(.conns), in \(r("connect_ms")) ms"],
      ["sign-ins acknowledged", r("signin_acked")],
      ["all sign-ins acknowledged (from the first)", r("signin_all_acked_ms")],
      ["screen signedIn == N (from the first)", r("signin_screen_ms")],
      ["sign-in round trip p50", r("signin_rtt_p50_ms")],
      ["sign-in round trip p99", r("signin_rtt_p99_ms")],
      ["screen signins pushes", r("screen_pushes")],
      ["draw.started on every phone (from the start)", r("draw_started_all_ms")],
      ["draw.started / draw.result message bytes", "\(r("draw_started_bytes")) / \(r("draw_result_bytes"))"],
      ["draw.stop reply to the admin", r("draw_stop_reply_ms")],
      ["draw.result received by phones", r("draw_received")],
      ["draw.result latency p50", r("draw_p50_ms")],
      ["draw.result latency p99", r("draw_p99_ms")],
      ["draw.result latency max", r("draw_max_ms")],
      ["lost (sign-ins + results)", r("lost")] | @tsv' "$out/lottery-summary.json" | column -t -s $'\t'
    echo "json: $out/$name-[0-9].json, $out/lottery-summary.json"
fi
[ "$failures" -eq 0 ] || { echo "lottery bench: $failures run(s) failed"; exit 1; }
