#!/bin/sh
# `make run`: start every role that exists so far on localhost, in the
# foreground, with the configs in deploy/local (the gateway serves the chat
# page of apps/chat, the business workers run apps/chat); Ctrl-C stops them all.
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

start register "$bin/register" -c deploy/local/register.ini start
start gateway "$bin/gateway" -c deploy/local/gateway.ini start
if [ -x "$bin/business" ] && [ -f deploy/local/business.ini ]; then
    start business "$bin/business" -c deploy/local/business.ini --eventHandler="$bin/apps/chat.so" start
fi
url=http://127.0.0.1:1240/
echo
echo "register: 127.0.0.1:1239   gateway: ws://127.0.0.1:1240/  (health: ${url}health)"
echo
echo "    Open the chat: $url"
echo "    (two tabs, two nicknames, the same room; apps/chat/chat.c runs it)"
echo
# On a desktop, open it too (GW_NO_BROWSER=1 to skip).
if [ -z "${GW_NO_BROWSER:-}" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; } &&
    command -v xdg-open >/dev/null 2>&1; then
    xdg-open "$url" >/dev/null 2>&1 &
fi
echo "status:   $bin/gateway -c deploy/local/gateway.ini status"
echo "Ctrl-C stops everything."
wait
