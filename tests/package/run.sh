#!/bin/bash
# tests/package/run.sh (`make test-package`, after `make deb`): the .deb on
# this machine, the way an operator uses it.
#
#  1. apt-get install ./build/gatewayworker_<version>_<arch>.deb
#  2. what the package put in place: the service user, the log folder, the
#     configs under /etc (conffiles, mode 640 root:gatewayworker), units
#     installed and not enabled, --version of every binary, `check` of every
#     role of the three shipped configs passes as installed.
#  3. an application and a GatewayClient program build against the installed
#     tree with `cc $(pkg-config --cflags --libs gatewayworker)`.
#  4. server A's register and server B's gateway + business workers start
#     from the installed paths with -d, as gatewayworker@ROLE's ExecStart
#     (read from the installed unit, %i replaced) runs them: as the unit's
#     User=, with GW_CONFIG from an environment file as EnvironmentFile= gives
#     it, pid files where the unit's PIDFile= looks. The configs are copies
#     of /etc/gatewayworker/server-{a,b}.ini with what an operator edits
#     changed (addresses and ports on loopback, free ones; secrets; the
#     store), and the business application is the echo application built in
#     step 3. Then: the gateway's /health counts the workers, the lottery's
#     page comes from the installed webRoot, a WebSocket client gets its
#     echo, the GatewayClient program sees that client, every role stops on
#     SIGTERM to its PIDFile's pid (systemctl stop).
#  5. apt-get purge: no file of the package, no /etc/gatewayworker,
#     /var/log/gatewayworker or /run/gatewayworker, no user or group, no
#     process left.
#
#   tests/package/run.sh DEB       (root; systemd need not run)
set -u
deb=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || {
    echo "test-package: needs root (apt-get install)"
    exit 1
}
[ -f "$deb" ] || {
    echo "test-package: $deb not found (make deb)"
    exit 1
}
case $deb in /*) ;; *) deb=$(pwd)/$deb ;; esac
export DEBIAN_FRONTEND=noninteractive
U=gatewayworker
UNIT=/lib/systemd/system/gatewayworker@.service
T=$(mktemp -d /tmp/gw-test-package.XXXXXX)
chmod 755 "$T"
. "$top/tests/support/checks.sh"

# ---- free ports on 127.0.0.1, below the ephemeral range ----
. "$top/tests/support/ports.sh"
free_port RP
free_port GP
free_port SP 2

# The unit's ExecStart / PIDFile for ROLE, as systemd expands %i.
unit_value() { # KEY ROLE
    sed -n "s/^$1=//p" "$UNIT" | head -1 | sed "s/%i/$2/g"
}
# Runs ROLE's ExecStart as the unit would: User=, EnvironmentFile=, and
# /run/gatewayworker as RuntimeDirectory= makes it (systemd runs the command
# line itself, without a shell: it is split on spaces here, it has no quotes).
run_unit() { # ROLE ENVFILE
    local cmd
    cmd=$(unit_value ExecStart "$1")
    install -d -o "$U" -g "$U" -m 0755 /run/gatewayworker
    # shellcheck disable=SC2086 # the command line, split as systemd splits it
    (
        set -a
        . "$2"
        set +a
        ulimit -n 20000
        cd / && exec runuser -u "$U" -- $cmd
    )
}
# systemctl stop with KillMode=mixed: SIGTERM to the PIDFile's pid, wait.
stop_unit() { # ROLE
    local pf pid i
    pf=$(unit_value PIDFile "$1")
    pid=$(cat "$pf" 2>/dev/null) || return 1
    kill -TERM "$pid" 2>/dev/null || return 1
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}
# Every process whose executable is one of the package's role binaries.
our_processes() {
    local p e
    for p in /proc/[0-9]*; do
        e=$(readlink "$p/exe" 2>/dev/null) || continue
        case $e in /usr/lib/gatewayworker/*) echo "${p#/proc/} $e" ;; esac
    done
}

installed=0
cleanup() {
    if [ $installed = 1 ]; then
        for r in business gateway register; do stop_unit $r >/dev/null 2>&1; done
        [ -n "${wspid:-}" ] && kill "$wspid" 2>/dev/null
        if [ $fail -gt 0 ]; then
            for f in /var/log/gatewayworker/*.log; do
                [ -f "$f" ] || continue
                echo "---- $f (last lines)"
                tail -15 "$f"
            done
        fi
        apt-get purge -y -qq gatewayworker >/dev/null 2>&1
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- 1. install ----
if dpkg-query -W -f='${Status}' gatewayworker 2>/dev/null | grep -q 'install ok installed'; then
    echo "test-package: gatewayworker is installed already (a run that was killed?): purging it first"
    apt-get purge -y -qq gatewayworker >/dev/null || exit 1
fi
if apt-get install -y -qq "$deb" >"$T/apt.out" 2>&1; then
    installed=1
    ok "apt-get install $(basename "$deb")"
else
    bad "apt-get install $(basename "$deb")"
    tail -20 "$T/apt.out"
    exit 1
fi
dpkg -L gatewayworker | sort >"$T/files"

# ---- 2. what is in place ----
check "system user and group $U" sh -c "getent passwd $U | grep -q ':/usr/sbin/nologin$' && getent group $U"
check "/var/log/gatewayworker belongs to $U" sh -c "[ \"\$(stat -c %U:%G:%a /var/log/gatewayworker)\" = $U:adm:750 ]"
for f in server-a.ini server-b.ini server-c.ini; do
    check "/etc/gatewayworker/$f: conffile, root:$U 640" sh -c \
        "dpkg-query -W -f='\${Conffiles}' gatewayworker | grep -q ' /etc/gatewayworker/$f ' &&
         [ \"\$(stat -c %U:%G:%a /etc/gatewayworker/$f)\" = root:$U:640 ]"
done
check "the unit is installed and verifies its paths" sh -c \
    "[ -f $UNIT ] && grep -q '^ExecStart=/usr/bin/gatewayworker --role=%i start -d$' $UNIT &&
     grep -q '^User=$U$' $UNIT && grep -q '^EnvironmentFile=/etc/default/gatewayworker$' $UNIT"
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$T/unit"
    cp "$UNIT" "$T/unit/gatewayworker@gateway.service"
    verify_unit() {
        local out
        out=$(cd "$T/unit" && systemd-analyze verify "$T/unit/gatewayworker@gateway.service" 2>&1 | grep -v '^$')
        [ -z "$out" ] || { echo "$out"; return 1; }
    }
    check "systemd-analyze verify the installed unit (user, binary, environment file exist)" verify_unit
fi
check "no unit enabled (no wants/ link)" sh -c \
    "! ls /etc/systemd/system/*.wants/gatewayworker* >/dev/null 2>&1"
for b in /usr/lib/gatewayworker/register /usr/lib/gatewayworker/gateway /usr/lib/gatewayworker/business \
    /usr/bin/gwctl /usr/bin/lotteryctl /usr/bin/gatewayworker; do
    check "$b --version" sh -c "$b --version | grep -Eq '^$(basename "$b") [0-9]+\.[0-9]+\.[0-9]+'"
done
# The shipped configs name the installed .so, pages and folders: every role
# of every file checks out (as the unit's user, in the file's folder).
for f in server-a.ini server-b.ini server-c.ini; do
    roles=$(grep -Eo '^\[(register|gateway|business)\]' "/etc/gatewayworker/$f" | tr -d '[]')
    for r in $roles; do
        check "$r -c /etc/gatewayworker/$f check (as installed)" \
            runuser -u $U -- sh -c "cd /etc/gatewayworker && /usr/lib/gatewayworker/$r -c $f check"
    done
done

# ---- 3. building against the installed tree ----
check "an application (.so) builds with pkg-config gatewayworker" sh -c \
    "cc -shared -fPIC -o $T/myecho.so $top/apps/echo/echo.c \$(pkg-config --cflags --libs gatewayworker)"
cat >"$T/count.c" <<'EOF'
/* A GatewayClient program: is uid "pkgtest" online, how many clients. */
#include <gwclient.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char err[512];
    if (argc != 3 || gwc_init(argv[1], argv[2], err, sizeof err) < 0) {
        fprintf(stderr, "gwc_init: %s\n", argc == 3 ? err : "usage: count REGISTERS KEY");
        return 1;
    }
    printf("online %d count %lld\n", gw_is_uid_online("pkgtest"), (long long)gw_get_all_client_count());
    gwc_free();
    return 0;
}
EOF
check "a GatewayClient program links with pkg-config gatewayworker" sh -c \
    "cc -o $T/count $T/count.c \$(pkg-config --cflags --libs gatewayworker)"
chmod 755 "$T/myecho.so" 2>/dev/null

# ---- 4. the roles from the installed paths, as the units run them ----
KEY=pkgtest-$$-$RANDOM
sed -e "s|^listen = text://0.0.0.0:1239$|listen = text://127.0.0.1:$RP|" \
    -e "s|^secretKey = CHANGE-ME.*|secretKey = $KEY|" /etc/gatewayworker/server-a.ini >"$T/server-a.ini"
sed -e "s|^registerAddress = .*|registerAddress = 127.0.0.1:$RP|" \
    -e "s|^secretKey = CHANGE-ME.*|secretKey = $KEY|" \
    -e "s|^listen = websocket://0.0.0.0:1240$|listen = websocket://127.0.0.1:$GP|" \
    -e "s|^lanIp = .*|lanIp = 127.0.0.1|" -e "s|^startPort = .*|startPort = $SP|" \
    -e "s|^eventHandler = .*|eventHandler = $T/myecho.so|" \
    -e "s|^store = .*|store = sqlite:$T/lottery.db|" -e "s|^adminToken = .*|adminToken = pkgtest-admin|" \
    /etc/gatewayworker/server-b.ini >"$T/server-b.ini"
check "test configs: every CHANGE-ME replaced, every edit made" sh -c \
    "! grep -n '^[^;#]*CHANGE-ME' $T/server-a.ini $T/server-b.ini &&
     grep -q '^listen = text://127.0.0.1:$RP$' $T/server-a.ini &&
     grep -q '^listen = websocket://127.0.0.1:$GP$' $T/server-b.ini &&
     grep -q '^eventHandler = $T/myecho.so$' $T/server-b.ini && grep -q '^startPort = $SP$' $T/server-b.ini"
chown -R "$U:$U" "$T"
echo "GW_CONFIG=$T/server-a.ini" >"$T/env-a"
echo "GW_CONFIG=$T/server-b.ini" >"$T/env-b"
check "gatewayworker@register: ExecStart ($(unit_value ExecStart register))" run_unit register "$T/env-a"
check "gatewayworker@gateway: ExecStart" run_unit gateway "$T/env-b"
check "gatewayworker@business: ExecStart" run_unit business "$T/env-b"
for r in register gateway business; do
    pf=$(unit_value PIDFile $r)
    check "$r: PIDFile $pf names a live process run by $U" sh -c \
        "pid=\$(cat $pf) && [ \"\$(stat -c %U /proc/\$pid)\" = $U ]"
done
check "logs under /var/log/gatewayworker" sh -c "[ -s /var/log/gatewayworker/gateway.log ]"

http_get() { curl -sS --max-time 5 "http://127.0.0.1:$GP$1"; }
# /health counts the business workers (count = 4 in server-b.ini).
nworkers=$(sed -n '/^\[business\]/,/^\[/s/^count = //p' "$T/server-b.ini")
health_ok() {
    local i body
    for ((i = 0; i < 150; i++)); do
        body=$(http_get /health 2>/dev/null)
        case $body in *"\"workers\":$nworkers}"*) return 0 ;; esac
        sleep 0.1
    done
    echo "last /health: $body"
    return 1
}
check "/health: $nworkers business workers connected" health_ok
check "the lottery's page from the installed webRoot" sh -c \
    "curl -sS --max-time 5 http://127.0.0.1:$GP/ | cmp -s - /usr/share/gatewayworker/www/lottery/index.html"

# A WebSocket client (Node's built-in WebSocket): echo, then binds a uid and
# stays connected until $T/ws-done exists, for the GatewayClient program.
cat >"$T/ws.js" <<'EOF'
const [port, done] = process.argv.slice(2);
const fs = require('fs');
const fail = (m) => { console.log('FAIL ' + m); process.exit(1); };
const t = setTimeout(() => fail('timeout'), 10000);
const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
const want = ['echo:hello package', 'bound:pkgtest'];
ws.onopen = () => ws.send('echo:hello package');
ws.onerror = () => fail('websocket error');
ws.onmessage = (e) => {
    if (e.data !== want[0]) fail(`got ${e.data}, want ${want[0]}`);
    console.log(want.shift());
    if (want.length) return ws.send('uid:pkgtest');
    clearTimeout(t);
    const poll = setInterval(() => { if (fs.existsSync(done)) { clearInterval(poll); ws.close(); process.exit(0); } }, 50);
    setTimeout(() => fail('not released'), 20000);
};
EOF
node --experimental-websocket "$T/ws.js" "$GP" "$T/ws-done" >"$T/ws.out" 2>&1 &
wspid=$!
ws_bound() {
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q '^bound:pkgtest$' "$T/ws.out" && return 0
        kill -0 $wspid 2>/dev/null || break
        sleep 0.1
    done
    cat "$T/ws.out"
    return 1
}
check "WebSocket: echo:hello package comes back, uid bound" ws_bound
check "GatewayClient program: the client is online (uid pkgtest, 1 client)" sh -c \
    "$T/count 127.0.0.1:$RP $KEY | tee /dev/stderr | grep -qx 'online 1 count 1'"
touch "$T/ws-done"
check "the WebSocket client ends cleanly" wait $wspid
wspid=
for r in business gateway register; do
    check "gatewayworker@$r: stop (SIGTERM to the PIDFile's pid)" stop_unit $r
done
no_processes() { [ -z "$(our_processes)" ] || { our_processes; return 1; }; }
check "no process of the package left" no_processes

# ---- 5. purge ----
check "apt-get purge gatewayworker" apt-get purge -y -qq gatewayworker
installed=0
left=""
while read -r f; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    # Folders other packages share (/usr/bin, /lib/systemd/system...) stay.
    [ -d "$f" ] && case $f in *gatewayworker*) ;; *) continue ;; esac
    left="$left $f"
done <"$T/files"
check "no file of the package left" sh -c "[ -z '$left' ] || { echo 'left:$left'; exit 1; }"
for d in /etc/gatewayworker /var/log/gatewayworker /run/gatewayworker /usr/lib/gatewayworker \
    /usr/share/gatewayworker /etc/default/gatewayworker; do
    check "$d is gone" sh -c "[ ! -e $d ]"
done
check "user and group $U are gone" sh -c "! getent passwd $U && ! getent group $U"
check "no process of the package left after the purge" no_processes

echo "test-package: $pass passed, $fail failed"
[ $fail -eq 0 ]
