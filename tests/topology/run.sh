#!/usr/bin/env bash
# The topology test (issue 9): `make test-topology`, part of `make test`.
#
#   tests/topology/run.sh BUILD_DIR        (as root; BUILD_DIR has the roles and topology/topo)
#
# The three-server deployment of deploy/production (server-a.ini: the
# register, with PostgreSQL beside it; server-b.ini and server-c.ini: a
# gateway and the lottery's business workers each), started with the
# one-command script deploy/gw, on ONE machine: every server is a network
# namespace on a bridge, with a load balancer (Debian's haproxy, TCP mode,
# PROXY protocol v2 to the gateways, health checks on /health) and a client
# host. The test subnet 10.213.0.0/24 exists only inside these namespaces:
# the bridge itself lives in a namespace of its own, nothing is added to the
# machine's own network and nothing is routed out.
#
#   ns  -sw  the bridge (the "switch")
#   ns  -a   10.213.0.1  server A: register (deploy/gw), PostgreSQL (tests/support/pgtmp.sh)
#   ns  -b   10.213.0.2  server B: gateway :1240 + business (deploy/gw)
#   ns  -c   10.213.0.3  server C: gateway :1241 + business (deploy/gw)
#   ns  -lb  10.213.0.4  haproxy :80 (both gateways), :8001 (B only), :8002 (C only)
#   ns  -cl  10.213.0.5  the client host: build/topology/topo client (phones, admins)
#
# The configs are copies of deploy/production/server-*.ini with only what a
# deployment must change: addresses (lanIp, registerAddress, the store's
# host), the CHANGE-ME secrets (random per run), and proxyProtocol = on (the
# balancer here is the SLB "TCP listener with Proxy Protocol v2" the file's
# comment names). Each server also gets its own /run and /var/log (a bind
# mount in the server's private mount namespace), so the files' pidFile and
# logFile (/run/gw/..., /var/log/gw/...) are used as written and the
# machine's own /run and /var/log are never touched.
#
# Scenarios (each check prints PASS/FAIL; the last line is
# "topology: N passed, M failed"):
#   1. addresses: the gateways see the client host's address (PROXY v2), not
#      the balancer's, although the balancer is their TCP peer;
#   2. 240 phones sign in through the balancer, spread over both gateways, and
#      all receive a draw;
#   3. gateway B stops: its phones reconnect through the balancer to C and
#      carry on (hello with their token, a draw reaches all); haproxy marks B
#      down; the business workers on B and C drop their links to B;
#   4. the register on A is killed (-9): sign-ins and a draw go on; started
#      again, gateways and workers re-register by themselves; gateway B,
#      started afterwards, is found (workers link, phones through B sign in
#      and get the draw);
#   5. business worker processes on B are killed (-9) during sign-ins and
#      draws (once one process, once all of B's; the client sends a burst of
#      sign-ins and a draw.start and kills right after, so commands are lost
#      with the processes and must be resent with their rid); the master
#      restarts them and they link again; then admins on B and on C start a
#      draw at the same moment:
#      nothing acknowledged is lost, no winner twice, the two draws are
#      serialised (one draw_open, the second sees the first's winners);
#      `lotteryctl verify` on the PostgreSQL store;
#   6. stop / restart -d / reload / status of every role (its binary) and
#      through deploy/gw, then traffic again, then deploy/gw stop everywhere.
#
# Cleanup (namespaces, every process in them, PostgreSQL, the run folder)
# runs on every exit, also on failure and Ctrl-C; on failure the logs are
# first copied to BUILD_DIR/topology/last-failure/ (TOPO_KEEP_LOGS=1: also
# after a run that passed, to BUILD_DIR/topology/last-run/). The test skips
# (exit 0, with a message) only when the machine forbids network namespaces
# or mount namespaces. Every wait is a condition polled against a deadline;
# TOPO_PHONES changes the number of phones of scenario 2 (default 240).
set -u
BUILD=$(cd "${1:-build}" && pwd) || exit 2
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
T0=$(date +%s%N)

PFX=gwt$$                     # namespace names: gwt<pid>-a ...
NET=10.213.0
A=$NET.1 B=$NET.2 C=$NET.3 LB=$NET.4 CL=$NET.5
HOSTS="a b c lb cl"
TOPO=$BUILD/topology/topo
NPHONES=${TOPO_PHONES:-240}

passed=0 failed=0
exec {OUT}>&1 {ERR}>&2 # the terminal: a trap may run while a command's output goes to a log
stamp() { local ms; ms=$(elapsed); printf '%3d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
pass() { passed=$((passed + 1)); echo "PASS [$(stamp)] $*"; }
fail() { failed=$((failed + 1)); echo "FAIL [$(stamp)] $*"; }
q() { "$@" >>"$T/commands.log" 2>&1; } # a command whose output only goes to the log
check() { # name, then a command: PASS if it succeeds
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
elapsed() { echo $((($(date +%s%N) - T0) / 1000000)); }
note() { echo "     [$(stamp)] $*"; }
step() { echo; echo "== $* [$(($(elapsed) / 1000)) s]"; }

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s until
# it succeeds (0) or the deadline passes (1, with a message).
wait_until() {
    local secs=$1 what=$2
    shift 2
    local end=$(($(date +%s%N) + secs * 1000000000))
    while :; do
        "$@" && return 0
        if [ "$(date +%s%N)" -gt "$end" ]; then
            echo "      timed out after ${secs} s: $what"
            return 1
        fi
        sleep 0.1
    done
}

for f in register gateway business lotteryctl apps/lottery.so topology/topo; do
    if [ ! -e "$BUILD/$f" ]; then
        echo "topology: $BUILD/$f is missing (make all $BUILD/topology/topo)"
        echo "topology: 0 passed, 1 failed"
        exit 1
    fi
done
if [ "$(id -u)" != 0 ]; then
    echo "topology: must run as root (network namespaces, haproxy, PostgreSQL as the postgres user)"
    echo "topology: 0 passed, 1 failed"
    exit 1
fi
for t in ip haproxy curl timeout; do
    command -v $t >/dev/null || { echo "topology: $t is not installed (make test-topology installs it)"; echo "topology: 0 passed, 1 failed"; exit 1; }
done

# The deployment being tested: the three server configs and the script.
DEPLOY=$top/deploy
CONF_SRC=""
for d in "$DEPLOY/production" "$DEPLOY"; do
    [ -f "$d/server-a.ini" ] && [ -f "$d/server-b.ini" ] && [ -f "$d/server-c.ini" ] && { CONF_SRC=$d; break; }
done
if [ -z "$CONF_SRC" ] || [ ! -x "$DEPLOY/gw" ]; then
    echo "topology: deploy/gw or deploy/{production/,}server-{a,b,c}.ini not found"
    echo "topology: 0 passed, 1 failed"
    exit 1
fi

# ---- may this machine make namespaces? (the only reason to skip) ----
probe_ns=$PFX-probe
if ! err=$(ip netns add "$probe_ns" 2>&1); then
    echo "topology: SKIPPED: this machine forbids network namespaces (ip netns add: $err)"
    echo "topology: 0 passed, 0 failed (skipped)"
    exit 0
fi
if ! err=$(ip netns exec "$probe_ns" sh -c 'mount -t tmpfs none /mnt' 2>&1); then
    ip netns del "$probe_ns" 2>/dev/null
    echo "topology: SKIPPED: this machine forbids mounts in a private mount namespace ($err)"
    echo "topology: 0 passed, 0 failed (skipped)"
    exit 0
fi
ip netns del "$probe_ns"

T=$(mktemp -d /tmp/gw-topology.XXXXXX)
chmod 755 "$T" # PostgreSQL's user must reach its folder in here
CLIENT_PID_="" CL_IN="" CL_OUT=""

# ---- cleanup, on every exit ----
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +eu
    exec 1>&"$OUT" 2>&"$ERR"
    if [ -n "$CLIENT_PID_" ]; then
        [ -n "$CL_IN" ] && { echo quit >&"$CL_IN"; exec {CL_IN}>&-; } 2>/dev/null
        for _ in $(seq 20); do kill -0 "$CLIENT_PID_" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$CLIENT_PID_" 2>/dev/null
    fi
    local keep=$BUILD/topology/last-failure
    rm -rf "$keep" # a previous run's
    [ "${TOPO_KEEP_LOGS:-0}" = 1 ] && [ "$failed" -eq 0 ] && [ "$rc" -eq 0 ] && keep=$BUILD/topology/last-run
    if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ] || [ "${TOPO_KEEP_LOGS:-0}" = 1 ]; then
        rm -rf "$keep"
        mkdir -p "$keep"
        for h in a b c; do
            for f in "$T/host-$h/log/gw/"*.log; do [ -f "$f" ] && cp "$f" "$keep/$h-$(basename "$f")"; done
        done
        cp "$T"/*.log "$T"/*.out "$T"/*.cfg "$keep/" 2>/dev/null
        cp -r "$T/deploy/production" "$keep/configs" 2>/dev/null
        [ -f "$T/pg/server.log" ] && cp "$T/pg/server.log" "$keep/postgresql.log"
        echo "topology: logs of the run in $keep"
        if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
            for f in "$keep"/b-business.log "$keep"/client.log; do
                [ -f "$f" ] && { echo "---- last lines of $(basename "$f")"; tail -15 "$f"; }
            done
        fi
    fi
    # every process in our namespaces: TERM, then KILL
    [ -d "$T/pg/data" ] && tests/support/pgtmp.sh stop "$T/pg" >/dev/null 2>&1
    local pids=""
    for h in $HOSTS sw; do pids="$pids $(ip netns pids "$PFX-$h" 2>/dev/null)"; done
    pids=$(echo $pids)
    if [ -n "$pids" ]; then
        kill $pids 2>/dev/null
        for _ in $(seq 30); do
            local alive=""
            for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
            [ -z "$alive" ] && break
            sleep 0.1
        done
        for p in $pids; do kill -9 "$p" 2>/dev/null; done
    fi
    for h in $HOSTS sw; do ip netns del "$PFX-$h" 2>/dev/null; done
    rm -rf "$T"
    local left
    left=$(ip netns list 2>/dev/null | grep -c "^$PFX-")
    [ "$left" -gt 0 ] && echo "topology: warning: $left namespaces could not be removed"
    echo
    echo "topology: $passed passed, $failed failed  ($(($(elapsed) / 1000)) s)"
    if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then exit 1; fi
    exit 0
}
trap cleanup EXIT
trap '' PIPE # a write to a client that died fails (EPIPE) instead of ending this script
trap 'exec 1>&"$OUT" 2>&"$ERR"; echo "topology: interrupted"; failed=$((failed + 1)); exit 130' INT TERM

# ---- the network ----
step "network: namespaces ${PFX}-{sw,a,b,c,lb,cl}, bridge, $NET.0/24"
setup_net() {
    ip netns add "$PFX-sw" || return 1
    ip -n "$PFX-sw" link set lo up || return 1
    ip -n "$PFX-sw" link add br0 type bridge || return 1
    ip -n "$PFX-sw" link set br0 up || return 1
    local i=1 h
    for h in a b c lb cl; do
        ip netns add "$PFX-$h" || return 1
        ip -n "$PFX-$h" link set lo up || return 1
        ip -n "$PFX-$h" link add eth0 type veth peer name "p-$h" netns "$PFX-sw" || return 1
        ip -n "$PFX-sw" link set "p-$h" master br0 up || return 1
        ip -n "$PFX-$h" addr add "$NET.$i/24" dev eth0 || return 1
        ip -n "$PFX-$h" link set eth0 up || return 1
        i=$((i + 1))
    done
}
if ! setup_net; then
    fail "network namespaces and the bridge"
    exit 1
fi
pass "network: 6 namespaces, a bridge, no address outside them"
# the subnet is nowhere in the machine's own network
if ip -4 addr show | grep -q "inet $NET\." || ip route show | grep -q "^$NET\."; then
    fail "the test subnet leaked into the machine's own network"
fi

ns() { local h=$1; shift; ip netns exec "$PFX-$h" "$@"; }
# hx HOST COMMAND...: COMMAND on that server: its network namespace, and its
# own /run and /var/log (bind mounts in the private mount namespace that
# `ip netns exec` creates; nothing propagates to the machine). Bounded.
hx() {
    local h=$1
    shift
    timeout 90 ip netns exec "$PFX-$h" sh -c 'mount --bind "$0/run" /run && mount --bind "$0/log" /var/log && exec "$@"' \
        "$T/host-$h" "$@"
}
for h in a b c; do mkdir -p "$T/host-$h/run/gw" "$T/host-$h/log/gw"; done

# ---- the configs: deploy/production copies, addresses changed ----
step "configs from $CONF_SRC (addresses, secrets, proxyProtocol)"
mkdir -p "$T/deploy/production"
ln -s "$BUILD" "$T/build" # the configs' relative paths (../../build/apps/lottery.so, ../../apps/lottery/www)
ln -s "$top/apps" "$T/apps"
CONF=$T/deploy/production
salt=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
# CHANGE-ME placeholders: the same placeholder gets the same value in A, B, C
placeholders=$(grep -ho 'CHANGE-ME[A-Za-z0-9_-]*' "$CONF_SRC"/server-[abc].ini | sort -u)
for h in a b c; do
    src=$CONF_SRC/server-$h.ini dst=$CONF/server-$h.ini
    case $h in a) ip=$A ;; b) ip=$B ;; c) ip=$C ;; esac
    awk -v ip="$ip" -v regip="$A" '
        function val(l) { sub(/^[^=]*=[ \t]*/, "", l); return l }
        /^[ \t]*lanIp[ \t]*=/ { print "lanIp = " ip; next }
        /^[ \t]*registerAddress[ \t]*=/ {
            v = val($0); n = split(v, parts, ","); out = ""
            for (i = 1; i <= n; i++) { p = parts[i]; gsub(/[ \t]/, "", p); sub(/^[^:]*/, regip, p); out = out (i > 1 ? "," : "") p }
            print "registerAddress = " out; next }
        /^[ \t]*store[ \t]*=[ \t]*postgres/ { l = $0; sub(/@[^:\/]*/, "@" regip, l); print l; next }
        /^[ \t]*proxyProtocol[ \t]*=/ { print "proxyProtocol = on"; next }
        { print }' "$src" >"$dst"
    for p in $placeholders; do
        v=topo-$(printf '%s' "$p$salt" | sha256sum | cut -c1-24)
        sed -i "s/$p/$v/g" "$dst"
    done
done
conf_get() { # file section key
    awk -v s="$2" -v k="$3" '
        /^[ \t]*\[/ { sec = $0; gsub(/[][ \t]/, "", sec); next }
        { line = $0; sub(/[ \t]*=.*/, "", line); gsub(/[ \t]/, "", line) }
        line == k && (sec == s || sec == "") { v = $0; sub(/^[^=]*=[ \t]*/, "", v); print v; exit }' "$1"
}
SECRET=$(conf_get "$CONF/server-b.ini" gateway secretKey)
TOKEN=$(conf_get "$CONF/server-b.ini" app adminToken)
STORE=$(conf_get "$CONF/server-b.ini" app store)
PORT_B=$(conf_get "$CONF/server-b.ini" gateway listen | sed 's/.*://')
PORT_C=$(conf_get "$CONF/server-c.ini" gateway listen | sed 's/.*://')
START_B=$(conf_get "$CONF/server-b.ini" gateway startPort)
COUNT_B=$(conf_get "$CONF/server-b.ini" gateway count)
START_C=$(conf_get "$CONF/server-c.ini" gateway startPort)
COUNT_C=$(conf_get "$CONF/server-c.ini" gateway count)
NBIZ_B=$(conf_get "$CONF/server-b.ini" business count)
NBIZ_C=$(conf_get "$CONF/server-c.ini" business count)
REG_PORT=$(conf_get "$CONF/server-a.ini" register listen | sed 's/.*://')
PG_PORT=$(echo "$STORE" | sed -n 's|.*@[^:/]*:\([0-9]*\)/.*|\1|p')
PG_PORT=${PG_PORT:-5432}
NGW=$((COUNT_B + COUNT_C))
note "B :$PORT_B (internal $START_B+$COUNT_B), C :$PORT_C (internal $START_C+$COUNT_C), register :$REG_PORT," \
    "business $NBIZ_B + $NBIZ_C processes, store $(echo "$STORE" | sed 's|//[^@]*@|//***@|')"
if [ -z "$SECRET" ] || [ -z "$TOKEN" ] || [ -z "$STORE" ] || [ -z "$PORT_B" ] || [ -z "$COUNT_B" ] || [ -z "$NBIZ_B" ]; then
    fail "the deploy configs have the settings this test reads (secretKey, adminToken, store, listen, count)"
    exit 1
fi
diff -u "$CONF_SRC/server-b.ini" "$CONF/server-b.ini" >"$T/config-b.diff"
note "changed in server-b.ini: $(grep -c '^+[^+]' "$T/config-b.diff") lines ($(grep '^+[^+]' "$T/config-b.diff" | sed 's/^+//; s/ = .*//' | tr '\n' ' '))"

pidfile() { # host role
    local p
    p=$(conf_get "$CONF/server-$1.ini" "$2" pidFile)
    case $p in /run/*) echo "$T/host-$1$p" ;; /*) echo "$p" ;; *) echo "$CONF/$p" ;; esac
}
logfile() {
    local p
    p=$(conf_get "$CONF/server-$1.ini" "$2" logFile)
    case $p in /var/log/*) echo "$T/host-$1/log${p#/var/log}" ;; /*) echo "$p" ;; *) echo "$CONF/$p" ;; esac
}
pid_of() { cat "$(pidfile "$1" "$2")" 2>/dev/null; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# role HOST ROLE ARGS...: the role's own binary with the server's config (in
# the config's folder, as deploy/gw runs it)
role() {
    local h=$1 r=$2
    shift 2
    (cd "$CONF" && hx "$h" "$BUILD/$r" -c "server-$h.ini" "$@")
}
# gw HOST ARGS...: the one-command script
gw() {
    local h=$1
    shift
    hx "$h" "$DEPLOY/gw" -c "$CONF/server-$h.ini" --bin="$BUILD" "$@"
}

# ---- PostgreSQL on A ----
step "PostgreSQL on A ($A:$PG_PORT)"
if url=$(ns a tests/support/pgtmp.sh start "$T/pg" "$PG_PORT" "$A" 2>"$T/pgtmp.log"); then
    pass "PostgreSQL listens on $A:$PG_PORT ($url)"
else
    fail "PostgreSQL on A: $(tail -3 "$T/pgtmp.log")"
    exit 1
fi

# ---- the servers, with deploy/gw ... start -d ----
step "start: deploy/gw -c server-X.ini start -d on A, B, C"
for h in a b c; do
    if gw $h start -d >"$T/start-$h.out" 2>&1; then
        pass "server $h: deploy/gw start -d"
    else
        fail "server $h: deploy/gw start -d: $(tail -3 "$T/start-$h.out")"
        exit 1
    fi
done

# status helpers
reg_status() { role a register status 2>&1; }
biz_status() { role "$1" business status 2>&1; }
gw_status() { role "$1" gateway status 2>&1; }
# every business process of host h has n gateways up of n
biz_links() {
    local h=$1 n=$2 want out
    case $h in b) want=$NBIZ_B ;; c) want=$NBIZ_C ;; esac
    out=$(biz_status "$h") || return 1
    [ "$(echo "$out" | grep -c "gateways $n up of $n\$")" -eq "$want" ]
}
all_linked() { biz_links b "$1" && biz_links c "$1"; }
reg_has() { # gateways-count workers-count
    local out
    out=$(reg_status) || return 1
    echo "$out" | grep -Eq "gateways $1 +workers $2 "
}
check_wait() { # name seconds command...
    local name=$1 secs=$2
    shift 2
    if wait_until "$secs" "$name" "$@"; then pass "$name"; else fail "$name"; fi
}
check_wait "every business process on B and C is linked to all $NGW gateway processes" 30 all_linked "$NGW"
check_wait "the register lists $NGW gateways and $((NBIZ_B + NBIZ_C)) workers" 10 reg_has "$NGW" "$((NBIZ_B + NBIZ_C))"

# ---- the balancer ----
step "haproxy on the balancer ($LB): TCP, PROXY v2, health checks on /health"
cat >"$T/haproxy.cfg" <<EOF
# the topology test's stand-in for the SLB (tests/topology/run.sh)
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout check 1s
    retries 3
    option redispatch
    default-server send-proxy-v2 check check-send-proxy inter 300ms fall 2 rise 2
frontend phones
    bind $LB:80
    default_backend gateways
frontend only_b
    bind $LB:8001
    default_backend gateway_b
frontend only_c
    bind $LB:8002
    default_backend gateway_c
backend gateways
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    server b $B:$PORT_B
    server c $C:$PORT_C
backend gateway_b
    option httpchk GET /health
    http-check expect status 200
    server b $B:$PORT_B
backend gateway_c
    option httpchk GET /health
    http-check expect status 200
    server c $C:$PORT_C
listen stats
    mode http
    bind 127.0.0.1:8404
    stats enable
    stats uri /stats
EOF
if ! haproxy -c -q -f "$T/haproxy.cfg" >"$T/haproxy-check.log" 2>&1; then
    fail "haproxy config: $(tail -3 "$T/haproxy-check.log")"
    exit 1
fi
if ns lb haproxy -f "$T/haproxy.cfg" -D -p "$T/haproxy.pid" >"$T/haproxy.log" 2>&1; then
    pass "haproxy started in the balancer namespace"
else
    fail "haproxy: $(tail -3 "$T/haproxy.log")"
    exit 1
fi
lb_stats() { ns lb curl -s -m 2 'http://127.0.0.1:8404/stats;csv' 2>/dev/null; }
# lb_field BACKEND SERVER FIELD
lb_field() {
    lb_stats | awk -F, -v px="$1" -v sv="$2" -v f="$3" '
        NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == px && $2 == sv { print $col[f] }'
}
lb_up() { [ "$(lb_field "$1" "$2" status)" = UP ]; }
lb_down() { lb_field "$1" "$2" status | grep -q '^DOWN'; }
check_wait "haproxy's health checks (PROXY v2 + GET /health) see gateways B and C up" 10 \
    eval 'lb_up gateways b && lb_up gateways c'

# ---- the client host ----
step "client host ($CL): $TOPO client"
coproc CLIENT { exec ip netns exec "$PFX-cl" "$TOPO" client --lb="$LB:80" --lb-b="$LB:8001" --lb-c="$LB:8002" \
    --token="$TOKEN" --npart=$((NPHONES + 330)) 2>"$T/client.log"; }
# our own copies of its pid and pipes (bash drops CLIENT_PID and CLIENT[] when it ends)
CLIENT_PID_=$CLIENT_PID
exec {CL_IN}>&"${CLIENT[1]}" {CL_OUT}<&"${CLIENT[0]}"
CLOUT=""
# cl TIMEOUT COMMAND: one command to the client, its answer line in CLOUT; 0 if "ok"
cl() {
    local secs=$1
    shift
    CLOUT=""
    echo "$*" >&"$CL_IN" || { CLOUT="the client is gone"; return 1; }
    if ! read -r -t "$secs" CLOUT <&"$CL_OUT"; then
        CLOUT="no answer within $secs s"
        return 1
    fi
    [ "${CLOUT%% *}" = ok ]
}
clcheck() { # name timeout command
    local name=$1
    shift
    if cl "$@"; then pass "$name  (${CLOUT#ok })"; else fail "$name: $CLOUT"; fi
}

# ==== 1. the client's address ====
step "1. the gateways see the client host's address"
# a stand-in business worker on A links to every gateway process and reports
# the client address in the events routed to it
gw_list=""
for ((i = 0; i < COUNT_B; i++)); do gw_list="$gw_list,$B:$((START_B + i))"; done
for ((i = 0; i < COUNT_C; i++)); do gw_list="$gw_list,$C:$((START_C + i))"; done
ns a "$TOPO" probe-worker --secret="$SECRET" --key=TopoProbe:0 --gw="${gw_list#,}" --want=2 --timeout-ms=20000 \
    >"$T/probe.out" 2>&1 &
probe_pid=$!
probe_linked() {
    local h n=0 k
    for h in b c; do
        k=$(grep -c "business worker $A:TopoProbe:0 connected" "$(logfile $h gateway)" 2>/dev/null)
        n=$((n + ${k:-0}))
    done
    [ "$n" -ge "$NGW" ]
}
check_wait "the probe worker is linked to every gateway process" 10 probe_linked
rounds=0
while alive "$probe_pid" && [ $rounds -lt 6 ]; do
    cl 20 probe 24 || break
    rounds=$((rounds + 1))
    wait_until 3 "probe events" eval '! alive $probe_pid' >/dev/null || true
done
wait_until 20 "the probe worker exits" eval '! alive $probe_pid' || kill "$probe_pid" 2>/dev/null
wait "$probe_pid"
probe_rc=$?
events=$(grep -c '^event ' "$T/probe.out")
from_cl=$(grep -c "^event .* client=$CL:" "$T/probe.out")
on_b=$(grep -c "^event gateway=$B:" "$T/probe.out")
on_c=$(grep -c "^event gateway=$C:" "$T/probe.out")
if [ $probe_rc -eq 0 ] && [ "$events" -gt 0 ] && [ "$from_cl" -eq "$events" ] && [ "$on_b" -gt 0 ] && [ "$on_c" -gt 0 ]; then
    pass "gateways B ($on_b events) and C ($on_c) saw every client as $CL (the client host), never $LB"
else
    fail "client address: probe exit $probe_rc, $events events, $from_cl from $CL, $on_b on B, $on_c on C: $(grep -v '^event' "$T/probe.out" | tail -2)"
fi
# the TCP peer of the gateways is the balancer: the address came through PROXY v2
peers=$(ns b ss -Htn state established "( sport = :$PORT_B )" 2>/dev/null | awk '{print $4}' | sed 's/:[0-9]*$//' | sort -u | tr '\n' ' ')
if [ "$peers" = "$LB " ]; then
    pass "gateway B's TCP peers are only the balancer ($peers)"
else
    fail "gateway B's TCP peers: '$peers' (want only $LB)"
fi
cl 10 probe-close >/dev/null
# The browser check page (/ws-check) from the client host through the
# balancer, in Debian's chromium (as a person would open it): the page's
# WebSocket is answered by a gateway itself and shows what it saw.
if command -v chromium >/dev/null 2>&1; then
    dom=$(ns cl timeout 90 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/chromium" \
        --virtual-time-budget=10000 --dump-dom "http://$LB/ws-check" 2>/dev/null)
    # The page's own verdict ("OK" after five round trips within its 10 s
    # timer) is not asserted: headless Chromium's virtual time fast-forwards
    # that timer while the page waits on a WebSocket. What the gateway put in
    # the page is: one answered round trip at least.
    check "/ws-check in chromium: the page came through the balancer and opened ws://$LB/ws-check" \
        eval 'echo "$dom" | grep -q "id=\"url\" class=\"\">ws://$LB/ws-check<"'
    check "/ws-check: the gateway saw the client host ($CL), via the PROXY protocol" \
        eval 'echo "$dom" | grep -q "id=\"client\" class=\"\">$CL:" && echo "$dom" | grep -q ">PROXY protocol<"'
    check "/ws-check: answered by gateway B or C (lanIp:port)" \
        eval 'echo "$dom" | grep -Eq "id=\"gateway\" class=\"\">($B|$C):[0-9]+<"'
else
    fail "/ws-check: chromium is not installed (make test-browser installs it)"
fi

# ==== 2. sign-ins and a draw through the balancer ====
step "2. $NPHONES phones sign in through the balancer; a draw reaches all"
clcheck "admin through the balancer: import and prizes" 40 setup
clcheck "$NPHONES phones signed in through the balancer" 90 phones "$NPHONES" lb
sb=$(lb_field gateways b scur) sc=$(lb_field gateways c scur)
if [ "${sb:-0}" -ge $((NPHONES / 4)) ] && [ "${sc:-0}" -ge $((NPHONES / 4)) ]; then
    pass "the balancer spread them over both gateways (B $sb, C $sc connections)"
else
    fail "the balancer's spread: B ${sb:-?}, C ${sc:-?} connections"
fi
gw_clients() { gw_status "$1" | awk '{for (i = 1; i < NF; i++) if ($i == "clients") s += $(i + 1)} END {print s + 0}'; }
nb=$(gw_clients b) nc=$(gw_clients c)
if [ $((nb + nc)) -ge "$NPHONES" ] && [ "$nb" -gt 0 ] && [ "$nc" -gt 0 ]; then
    pass "gateway status: B $nb clients, C $nc clients"
else
    fail "gateway status: B $nb clients, C $nc clients (want both > 0, >= $NPHONES in all)"
fi
clcheck "a draw: every phone received draw.result, whichever gateway it is on" 40 draw p2 5 lb

# ==== 3. gateway B stops ====
step "3. gateway B stops"
if out=$(role b gateway stop 2>&1); then pass "gateway B: stop ($(echo "$out" | tail -1))"; else fail "gateway B: stop: $out"; fi
check "gateway B: status says it is not running" eval '! role b gateway status >/dev/null 2>&1'
clcheck "B's phones reconnected through the balancer (to C) and are signed in again" 45 settle 40
check_wait "haproxy marks B down" 10 lb_down gateways b
check_wait "the business workers on B and C dropped their links to B ($COUNT_C up of $COUNT_C)" 20 all_linked "$COUNT_C"
for h in b c; do
    n=$(grep -c "gateway $B:[0-9]*: no longer listed by any register; link closed" "$(logfile $h business)")
    check "business on $h logged closing its links to B ($n)" [ "$n" -ge 1 ]
done
clcheck "a draw reaches every phone (all on C now)" 40 draw p2 5 lb
nc=$(gw_clients c)
check "gateway C holds every phone ($nc clients)" [ "$nc" -ge "$NPHONES" ]

# ==== 4. the register dies ====
step "4. kill -9 the register on A"
rpid=$(pid_of a register)
if alive "$rpid" && kill -9 "$rpid"; then
    wait_until 5 "the register is gone" eval '! alive $rpid' && pass "register (pid $rpid) killed"
else
    fail "no register pid to kill ($rpid)"
fi
clcheck "with the register down: 20 more phones sign in" 40 phones 20 lb
clcheck "with the register down: a draw reaches every phone" 40 draw p2 5 lb
if out=$(role a register start -d 2>&1); then pass "register: start -d again ($(echo "$out" | tail -1))"; else fail "register: start -d: $out"; fi
check_wait "gateway C and every business process re-registered by themselves" 20 reg_has "$COUNT_C" "$((NBIZ_B + NBIZ_C))"
if out=$(role b gateway start -d 2>&1); then pass "gateway B started afterwards ($(echo "$out" | tail -1))"; else fail "gateway B: start -d: $out"; fi
check_wait "the register lists gateway B again" 10 reg_has "$NGW" "$((NBIZ_B + NBIZ_C))"
check_wait "every business process found gateway B and linked to it" 20 all_linked "$NGW"
check_wait "haproxy marks B up again" 10 lb_up gateways b
clcheck "10 phones through B (balancer port for B only) sign in" 40 phones 10 b
clcheck "a draw reaches every phone, on B and on C" 40 draw p2 5 lb

# ==== 5. kill -9 business workers on B during sign-ins and draws; two admins at once ====
step "5. kill -9 business processes on B during sign-ins and draws; admins on B and C draw at once"
children() { # the business master's children on host h
    local m
    m=$(pid_of "$1" business)
    [ -n "$m" ] && cat /proc/"$m"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$'
}
bizlog_b=$(logfile b business)
kills=0
# kill_b LABEL PID...: kill -9 business processes on B while the workload
# runs; then the master must start as many new ones, each linked to every
# gateway process, and sign-ins and draws must carry on.
kill_b() {
    local label=$1 before nk p
    shift
    nk=$#
    before=" $(children b | tr '\n' ' ') "
    # the client kills them, right after sending a burst of commands
    if [ $nk -eq 0 ] || ! cl 30 wl-kill "$@"; then
        fail "$label: kill -9 business processes on B: ${CLOUT:-none found}"
        return
    fi
    kills=$((kills + nk))
    note "$label: kill -9 pid(s) $* of the business master on B (${CLOUT#ok }, client.log says which)"
    fresh=""
    replaced() {
        local now p
        now=$(children b)
        fresh=""
        [ "$(echo $now | wc -w)" -eq "$NBIZ_B" ] || return 1
        for p in $now; do case $before in *" $p "*) ;; *) fresh="$fresh $p" ;; esac; done
        [ "$(echo $fresh | wc -w)" -eq "$nk" ]
    }
    relinked() {
        local p
        for p in $fresh; do
            [ "$(grep -c "business\[$p\] INFO gateway .*: link up" "$bizlog_b")" -ge "$NGW" ] || return 1
        done
    }
    if wait_until 15 "the master replaces the killed processes" replaced; then
        check_wait "$label: the master started $nk new process(es) (${fresh# }), each linked to all $NGW gateway processes" 20 relinked
    else
        fail "$label: the business master on B did not replace pid(s) $*"
    fi
    clcheck "$label: sign-ins and draws carry on" 40 wl-wait 10 2
}
clcheck "workload started (new phones sign in, the admin draws)" 10 wl-start
clcheck "workload running" 40 wl-wait 10 2
kill_b "kill 1 (one process)" $(children b | head -1)
kill_b "kill 2 (all $NBIZ_B processes of B at once)" $(children b)
clcheck "workload stopped: every command in flight answered" 40 wl-stop
died=$(grep -c "died (signal 9)" "$bizlog_b")
check "business on B logged exactly our $kills kills ($died)" [ "$died" -eq "$kills" ]
clcheck "admins on B and C start a draw at the same moment: serialised" 40 dual p1 3
clcheck "nothing acknowledged lost, no winner twice, no stray draw (every token checked)" 120 verify
if out=$(ns a "$BUILD/lotteryctl" verify --store="$url" 2>&1 | tail -2); then
    pass "lotteryctl verify on the PostgreSQL store ($(echo "$out" | tail -1))"
else
    fail "lotteryctl verify: $out"
fi

# ==== 6. stop, restart -d, reload, status: each role, and deploy/gw ====
step "6. stop / restart -d / reload / status: every role, and through deploy/gw"
# register (A)
out=$(role a register status 2>&1)
check "register status" eval 'echo "$out" | grep -q "^register  pid"'
check "register reload" q role a register reload
old=$(pid_of a register)
check "register restart -d" q role a register restart -d
new=$(pid_of a register)
check "register restart: a new process ($old -> $new)" eval '[ -n "$new" ] && [ "$new" != "$old" ] && alive "$new"'
check_wait "after the register's restart everything re-registered" 20 reg_has "$NGW" "$((NBIZ_B + NBIZ_C))"
check "register stop" q role a register stop
check "register status after stop: not running" eval '! role a register status >/dev/null 2>&1'
check "register start -d" q role a register start -d
check_wait "after the register's stop and start everything re-registered" 20 reg_has "$NGW" "$((NBIZ_B + NBIZ_C))"
# gateway (C)
out=$(gw_status c)
check "gateway C status lists its $COUNT_C processes" eval '[ "$(echo "$out" | grep -c "^  process ")" -eq "$COUNT_C" ]'
check "gateway C reload" q role c gateway reload
check "gateway C still serving after reload" lb_up gateways c
old=$(pid_of c gateway)
check "gateway C restart -d" q role c gateway restart -d
new=$(pid_of c gateway)
check "gateway C restart: a new process ($old -> $new)" eval '[ -n "$new" ] && [ "$new" != "$old" ] && alive "$new"'
check_wait "after gateway C's restart every business process linked to it again" 20 all_linked "$NGW"
clcheck "C's phones reconnected" 45 settle 40
# business (B)
out=$(biz_status b)
check "business B status lists its $NBIZ_B processes" eval '[ "$(echo "$out" | grep -c "^  process ")" -eq "$NBIZ_B" ]'
before=$(children b | sort | tr '\n' ' ')
check "business B reload" q role b business reload
reloaded() { # NBIZ_B children, none of them one from before the reload
    local now p
    now=$(children b)
    [ "$(echo $now | wc -w)" -eq "$NBIZ_B" ] || return 1
    for p in $now; do case " $before " in *" $p "*) return 1 ;; esac; done
}
check_wait "business B reload: new processes" 15 reloaded
check_wait "business B reload: all linked again" 20 biz_links b "$NGW"
old=$(pid_of b business)
check "business B restart -d" q role b business restart -d
new=$(pid_of b business)
check "business B restart: a new master ($old -> $new)" eval '[ -n "$new" ] && [ "$new" != "$old" ] && alive "$new"'
check "business B stop" q role b business stop
check "business B status after stop: not running" eval '! role b business status >/dev/null 2>&1'
check "business B start -d" q role b business start -d
check_wait "business B linked again" 20 biz_links b "$NGW"
# the one-command script
for h in a b c; do
    if out=$(gw $h status 2>&1); then pass "deploy/gw -c server-$h.ini status"; else fail "deploy/gw -c server-$h.ini status: $(echo "$out" | tail -2)"; fi
    case $h in
    a) check "  ... shows the register" eval 'echo "$out" | grep -q "^register  pid"' ;;
    *) check "  ... shows gateway and business" eval 'echo "$out" | grep -q "^gateway master pid" && echo "$out" | grep -q "^business master pid"' ;;
    esac
done
for h in a b c; do
    check "deploy/gw -c server-$h.ini reload" q gw $h reload
done
for h in a b c; do
    case $h in a) r="register" ;; *) r="gateway business" ;; esac
    old=""
    for x in $r; do old="$old $(pid_of $h $x)"; done
    check "deploy/gw -c server-$h.ini restart -d" q gw $h restart -d
    new=""
    for x in $r; do new="$new $(pid_of $h $x)"; done
    fresh_ok=1
    [ "$(echo $new | wc -w)" -eq "$(echo $r | wc -w)" ] || fresh_ok=0
    for x in $new; do alive "$x" && case " $old " in *" $x "*) fresh_ok=0 ;; esac || fresh_ok=0; done
    check "deploy/gw restart on $h: new $r processes ($old ->$new)" [ $fresh_ok = 1 ]
done
check_wait "after the script's restarts: everything registered and linked" 30 eval 'reg_has "$NGW" "$((NBIZ_B + NBIZ_C))" && all_linked "$NGW"'
check_wait "haproxy sees B and C up" 10 eval 'lb_up gateways b && lb_up gateways c'
clcheck "every phone back (hello with its token)" 45 settle 40
clcheck "a draw reaches every phone after all that" 40 draw p2 5 lb
clcheck "still nothing lost, nothing twice" 120 verify
cl 10 quit >/dev/null
for h in b c a; do
    check "deploy/gw -c server-$h.ini stop" q gw $h stop
done
for h in a b c; do
    check "deploy/gw -c server-$h.ini status after stop: non-zero" eval '! gw $h status >/dev/null 2>&1'
done
left=""
for h in a b c; do
    for p in $(ip netns pids "$PFX-$h"); do
        case "$(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null)" in
        "$BUILD"/register* | "$BUILD"/gateway* | "$BUILD"/business*) left="$left $h:$p" ;;
        esac
    done
done
check "no role process left after deploy/gw stop${left:+ (left:$left)}" [ -z "$left" ]
exit 0
