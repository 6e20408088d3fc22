#!/bin/bash
# tests/deploy/check-configs.sh (`make test-deploy`): the deploy files of
# servers A, B and C, run for real on this machine through deploy/gw.
#
# A's register, B's and C's gateway + business workers (the lottery against a
# throwaway PostgreSQL, tests/support/pgtmp.sh) start with -d from the files
# in deploy/production as they are; only what is host-specific is overridden
# on the command line, the way the multi-host test will: addresses and ports
# (loopback, free ports), pid and log files (a temp folder), the store URL,
# and C's worker name (on one host B's and C's workers share an IP, and a
# gateway keys workers by ip:name:index). Then: status of every role, the
# gateways' /health counts every business worker of B and C, the lottery's
# pages come from webRoot (a path relative to the config's folder), a log
# rotated by logrotate (or mv) is followed with no signal, a reload of the
# business workers brings them all back, and stop leaves nothing behind.
# Also: deploy/gw's refusals (placeholders, a role already running), the
# sysctl keys exist, the systemd unit verifies.
#
#   tests/deploy/check-configs.sh [BINDIR]      (default: build/, or $GW_BIN)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-${GW_BIN:-$top/build}}
gw=$top/deploy/gw
prod=$top/deploy/production
T=$(mktemp -d /tmp/gw-deploy-check.XXXXXX)
chmod 755 "$T"
. "$top/tests/support/checks.sh"

# ---- free ports on 127.0.0.1, below the ephemeral range ----
. "$top/tests/support/ports.sh"
free_port RP
free_port GPB
free_port GPC
free_port SPB 2
free_port SPC 2
free_port PGP

mkdir -p "$T/a" "$T/b" "$T/c"
A=(-c "$prod/server-a.ini" --allow-placeholders
    --register.listen="text://127.0.0.1:$RP"
    --register.pidFile="$T/a/register.pid" --register.logFile="$T/a/register.log")
common_bc=(--allow-placeholders --registerAddress="127.0.0.1:$RP")
B=(-c "$prod/server-b.ini" "${common_bc[@]}"
    --gateway.listen="websocket://127.0.0.1:$GPB" --gateway.lanIp=127.0.0.1 --gateway.startPort="$SPB"
    --gateway.pidFile="$T/b/gateway.pid" --gateway.logFile="$T/b/gateway.log"
    --business.pidFile="$T/b/business.pid" --business.logFile="$T/b/business.log")
C=(-c "$prod/server-c.ini" "${common_bc[@]}"
    --gateway.listen="websocket://127.0.0.1:$GPC" --gateway.lanIp=127.0.0.1 --gateway.startPort="$SPC"
    --gateway.pidFile="$T/c/gateway.pid" --gateway.logFile="$T/c/gateway.log"
    --business.name=LotteryBusinessC
    --business.pidFile="$T/c/business.pid" --business.logFile="$T/c/business.log")

pg_started=0
cleanup() {
    GW_BIN=$bin "$gw" "${C[@]}" stop >/dev/null 2>&1
    GW_BIN=$bin "$gw" "${B[@]}" stop >/dev/null 2>&1
    GW_BIN=$bin "$gw" "${A[@]}" stop >/dev/null 2>&1
    [ $pg_started = 1 ] && "$top/tests/support/pgtmp.sh" stop "$T/pg" >/dev/null 2>&1
    if [ $fail -gt 0 ]; then
        for f in "$T"/*/*.log; do
            [ -f "$f" ] || continue
            echo "---- $f (last lines)"
            tail -15 "$f"
        done
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

for r in register gateway business; do
    [ -x "$bin/$r" ] || {
        echo "check-configs: $bin/$r not built (make all)"
        exit 1
    }
done
[ -f "$bin/apps/lottery.so" ] || {
    echo "check-configs: $bin/apps/lottery.so not built (make all)"
    exit 1
}
# The configs name the lottery relative to their folder (../../build/...): a
# BINDIR elsewhere (build-asan) takes its own .so.
if [ "$(cd "$bin" && pwd)" != "$top/build" ]; then
    B+=(--business.eventHandler="$bin/apps/lottery.so")
    C+=(--business.eventHandler="$bin/apps/lottery.so")
fi

# ---- the store: PostgreSQL as on server A ----
# (a port free a moment ago may be taken by a test running beside us: retry)
for _ in 1 2 3; do
    if url=$("$top/tests/support/pgtmp.sh" start "$T/pg" "$PGP" 2>"$T/pg.err"); then
        pg_started=1
        break
    fi
    "$top/tests/support/pgtmp.sh" stop "$T/pg" >/dev/null 2>&1
    free_port PGP
done
if [ $pg_started = 1 ]; then
    ok "throwaway PostgreSQL for the store ($url)"
else
    url="sqlite:$T/lottery.db"
    skip "PostgreSQL not available ($(tail -1 "$T/pg.err")): the store is $url"
fi
B+=(--app.store="$url")
C+=(--app.store="$url")

gwc() { GW_BIN=$bin "$gw" "$@"; }

# HTTP GET on 127.0.0.1: curl, or bash's /dev/tcp.
http_get() { # port path
    if command -v curl >/dev/null 2>&1; then
        curl -sS --max-time 5 "http://127.0.0.1:$1$2"
    else
        (
            exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
            printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
            timeout 5 cat <&3 | sed '1,/^\r\{0,1\}$/d'
        )
    fi
}
# wait_workers PORT N: /health of that gateway reports N business workers.
wait_workers() {
    local i body
    for ((i = 0; i < 150; i++)); do
        body=$(http_get "$1" /health 2>/dev/null)
        case $body in *"\"workers\":$2}"*)
            echo "$body"
            return 0
            ;;
        esac
        sleep 0.1
    done
    echo "last /health: $body"
    return 1
}

# ---- deploy/gw check (issue 12): each role's own check, then the placeholders ----
for s in a b c; do
    out=$(gwc -c "$prod/server-$s.ini" check 2>&1)
    rc=$?
    nroles=$(grep -Ec '^\[(register|gateway|business)\]' "$prod/server-$s.ini")
    nok=$(echo "$out" | grep -c "^server-$s.ini: ok$")
    nph=$(grep -c '^[^;#]*CHANGE-ME' "$prod/server-$s.ini")
    nrep=$(echo "$out" | grep -Ec "^$prod/server-$s.ini:[0-9]+: [A-Za-z]+: still a CHANGE-ME placeholder$")
    if [ $rc -eq 1 ] && [ "$nok" = "$nroles" ] && [ "$nph" -gt 0 ] && [ "$nrep" = "$nph" ]; then
        ok "gw check server-$s.ini: $nroles role(s) ok, $nph placeholder(s) named, exit 1"
    else
        bad "gw check server-$s.ini: exit $rc, $nok of $nroles roles ok, $nrep of $nph placeholders named"
        echo "$out" | sed 's/^/     | /'
    fi
done

# ---- deploy/gw refusals and dry run ----
out=$(gwc -c "$prod/server-b.ini" start -d 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "placeholder" && echo "$out" | grep -q "secretKey"; then
    ok "gw refuses to start with CHANGE-ME values (exit $rc)"
else
    bad "gw refuses to start with CHANGE-ME values (exit $rc: $out)"
fi
out=$(gwc -c "$prod/server-b.ini" -n stop -g 2>&1 | grep '^(cd')
if echo "$out" | head -1 | grep -q "business.*stop -g" && echo "$out" | tail -1 | grep -q "gateway.*stop -g" &&
    echo "$out" | grep -q "cd $prod &&"; then
    ok "gw -n: stop runs business then gateway, in the config's folder, -g passed"
else
    bad "gw -n stop order: $out"
fi
out=$(gwc -c "$prod/server-a.ini" -n start -d 2>&1 | grep '^(cd')
if [ "$(echo "$out" | grep -c register)" = 1 ] && ! echo "$out" | grep -q "gateway\|business"; then
    ok "gw: server-a.ini runs the register only"
else
    bad "gw: server-a.ini roles: $out"
fi

# ---- start A, B, C as daemons ----
check "server A: gw start -d (register)" gwc "${A[@]}" start -d
check "server B: gw start -d (gateway, business)" gwc "${B[@]}" start -d
check "server C: gw start -d (gateway, business)" gwc "${C[@]}" start -d
grep -q "^started, pid" "$T/last.out" && ok "the roles report their daemon's pid" || bad "no 'started, pid' line"

check "server A: gw status" gwc "${A[@]}" status
grep -q "register" "$T/last.out" || bad "register status output"
check "server B: gw status" gwc "${B[@]}" status
grep -q "gateway master pid" "$T/last.out" && grep -q "business master pid" "$T/last.out" &&
    ok "server B status shows the gateway and the business masters" || bad "server B status: $(cat "$T/last.out")"
check "server C: gw status" gwc "${C[@]}" status

# B and C each run 4 worker processes (the file's count); every one links to
# every gateway process of B and C.
nb=$(sed -n 's/^count *= *//p' "$prod/server-b.ini" | tail -1)
nc=$(sed -n 's/^count *= *//p' "$prod/server-c.ini" | tail -1)
want=$((nb + nc))
check "gateway B's /health: $want business workers (B's and C's)" wait_workers "$GPB" "$want"
check "gateway C's /health: $want business workers" wait_workers "$GPC" "$want"
page=$(http_get "$GPB" / 2>/dev/null)
case $page in *"<html"* | *"<!doctype"* | *"<!DOCTYPE"*) ok "gateway B serves the phone page from webRoot (relative to the config)" ;;
*) bad "gateway B: GET / gave: $(echo "$page" | head -3)" ;; esac
page=$(http_get "$GPC" /screen.html 2>/dev/null)
case $page in *"<html"* | *"<!doctype"* | *"<!DOCTYPE"*) ok "gateway C serves /screen.html" ;;
*) bad "gateway C: GET /screen.html gave: $(echo "$page" | head -3)" ;; esac
grep -q "worker_key" "$T/b/business.log" && ok "B's business log has its workers' start lines" ||
    bad "B's business log: no worker start lines"

# A second start of B fails at its first role, and leaves the running ones alone.
out=$(gwc "${B[@]}" start -d 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "already running" && echo "$out" | grep -q "gateway failed to start" &&
    ! echo "$out" | grep -q "^== business"; then
    ok "gw start stops at the first failing role (already running), exit $rc"
else
    bad "gw start twice: exit $rc: $out"
fi

# ---- logs: rotated with no signal (shared/log.c) ----
sleep 1.1 # the roles look at their log path at most once a second
if command -v logrotate >/dev/null 2>&1; then
    sed -e "s#/var/log/gw/\*\.log#$T/b/gateway.log#" -e "s/^\( *\)su gw adm/\1su $(id -un) $(id -gn)/" \
        "$top/deploy/logrotate/gw" >"$T/logrotate.conf"
    check "logrotate -f with deploy/logrotate/gw rotates B's gateway.log" \
        logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf"
    rotated=$(ls "$T"/b/gateway.log-* 2>/dev/null | head -1)
else
    skip "logrotate not installed: the log is moved with mv"
    rotated=$T/b/gateway.log.1
    mv "$T/b/gateway.log" "$rotated"
fi
mv "$T/b/business.log" "$T/b/business.log.1"
[ -n "$rotated" ] && [ -f "$rotated" ] && [ ! -e "$T/b/gateway.log" ] && ok "gateway.log renamed to $(basename "$rotated")" ||
    bad "gateway.log was not rotated"
# reload: the gateway only logs it; the business workers restart.
check "server B: gw reload" gwc "${B[@]}" reload
wait_file() { # file text
    local i
    for ((i = 0; i < 50; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
check "B's gateway writes to a new gateway.log after the rotation" wait_file "$T/b/gateway.log" "reload requested"
check "B's business master and workers write to a new business.log" wait_file "$T/b/business.log" "process 0: worker_key"
grep -q "master: 2 gateway process(es) started" "$rotated" && ok "the lines before the rotation stayed in the rotated gateway log" ||
    bad "rotated gateway log lost its first lines"
grep -q "worker_key" "$T/b/business.log.1" && ! grep -q "reload requested" "$T/b/business.log.1" &&
    ok "business.log.1 keeps the old lines, the new file the new ones" || bad "business.log.1 content"
perm=$(stat -c %a "$T/b/gateway.log" 2>/dev/null)
[ "$perm" = 640 ] && ok "the new log file is mode 0640" || bad "new log file mode $perm"
check "after the reload, gateway B again counts $want workers" wait_workers "$GPB" "$want"

# ---- stop: C, B, A ----
check "server C: gw stop" gwc "${C[@]}" stop
check "server B: gw stop -g" gwc "${B[@]}" stop -g
check "server A: gw stop" gwc "${A[@]}" stop
left=$(ls "$T"/*/*.pid 2>/dev/null)
[ -z "$left" ] && ok "no pid file left" || bad "pid files left: $left"
out=$(gwc "${B[@]}" status 2>&1)
rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "not running" && ok "gw status after stop: not running, exit $rc" ||
    bad "gw status after stop: exit $rc: $out"

# ---- the other deploy files ----
missing=""
while read -r line; do
    key=${line%%=*}
    key=$(echo "$key" | tr -d ' ')
    case $key in "" | \#* | \;* | -*) continue ;; esac
    [ -e "/proc/sys/$(echo "$key" | tr . /)" ] || missing="$missing $key"
done <"$top/deploy/sysctl/90-gw.conf"
[ -z "$missing" ] && ok "every key of deploy/sysctl/90-gw.conf exists in /proc/sys" || bad "unknown sysctl keys:$missing"
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$T/unit"
    sed "s#/opt/gw#$top#g; s#^EnvironmentFile=.*#EnvironmentFile=-$T/unit/default#; s#^User=gw#User=root#; s#^Group=gw#Group=root#" \
        "$top/deploy/systemd/gw@.service" >"$T/unit/gw@gateway.service"
    out=$(cd "$T/unit" && systemd-analyze verify "$T/unit/gw@gateway.service" 2>&1 | grep -v "^$")
    [ -z "$out" ] && ok "systemd-analyze verify gw@gateway.service" || bad "systemd-analyze verify: $out"
else
    skip "systemd-analyze not installed"
fi

echo "deploy: $pass passed, $fail failed"
if [ -n "${GW_TEST_COUNTS:-}" ]; then echo "check-configs $pass $fail" >>"$GW_TEST_COUNTS"; fi
[ $fail -eq 0 ]
