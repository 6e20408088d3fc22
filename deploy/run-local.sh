#!/bin/sh
# `make run`: start every role that exists so far on localhost, in the
# foreground, with the configs in deploy/local; Ctrl-C stops them all.
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

"$bin/register" -c deploy/local/register.ini start &
pids="$pids $!"
sleep 0.3
if ! kill -0 $! 2>/dev/null; then
    echo "register failed to start (see above)"
    exit 1
fi
echo "register listening on 127.0.0.1:1239 (log lines above; status: $bin/register -c deploy/local/register.ini status)"
echo "gateway and business workers are not built yet (issues 3 and 4); no page to open yet."
echo "Ctrl-C stops everything."
wait
