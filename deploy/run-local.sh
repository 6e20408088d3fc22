#!/bin/sh
# `make run`: start every role on localhost, in the foreground, with the
# configs in deploy/local: the gateway serves the lottery's pages
# (apps/lottery/www), the business workers run the lottery (apps/lottery)
# with a demo event in run/lottery.db; Ctrl-C stops them all.
set -u
bin=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
mkdir -p run
pids=""
stop_all() {
    trap - INT TERM
    echo
    echo "stopping..."
    [ -n "$pids" ] && kill $pids 2>/dev/null
    wait
    exit 0
}
trap stop_all INT TERM

start() { # name, then the command
    name=$1
    shift
    "$@" &
    pid=$!
    pids="$pids $pid"
    sleep 0.4
    if ! kill -0 $pid 2>/dev/null; then
        echo "$name failed to start (see above)"
        stop_all
    fi
}

# The admin page's secret: made once, kept in run/ (never in git).
if [ ! -s run/admin-token ]; then
    (umask 077 && od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >run/admin-token)
fi
token=$(cat run/admin-token)

start register "$bin/register" -c deploy/local/register.ini start
start gateway "$bin/gateway" -c deploy/local/gateway.ini start
start business "$bin/business" -c deploy/local/business.ini --eventHandler="$bin/apps/lottery.so" \
    --app.adminToken="$token" start
url=http://127.0.0.1:1240/
echo
echo "register: 127.0.0.1:1239   gateway: ws://127.0.0.1:1240/  (health: ${url}health)"
echo "store:    run/lottery.db (demo: E0001..E0300, e.g. E0001 王伟)"
echo
echo "    Phones:      $url"
echo "    Big screen:  ${url}screen.html"
echo "    Admin:       ${url}admin.html?token=$token"
echo "    Admin token: $token"
echo
# On a desktop, open it too (GW_NO_BROWSER=1 to skip).
if [ -z "${GW_NO_BROWSER:-}" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; } &&
    command -v xdg-open >/dev/null 2>&1; then
    xdg-open "${url}screen.html" >/dev/null 2>&1 &
fi
echo "status:   $bin/gateway -c deploy/local/gateway.ini status"
echo "Ctrl-C stops everything."
wait
