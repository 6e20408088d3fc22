#!/bin/bash
# `make test-stress`: the integration tests RUNS times in a row while a CPU
# hog keeps every core busy, to flush out tests that assume timing. Prints
# the pass count per binary and overall; keeps the output of every failed
# run in BUILD/stress/<binary>.<run>.log. Exits non-zero unless every run
# of every binary passed.
# The hog is one busy loop per core, started here and stopped (by pid) when
# the runs end, also on Ctrl-C; `timeout` bounds each loop to HOG_MAX_S
# seconds even if this script is killed.
# usage: tests/stress.sh BUILD_DIR RUNS TEST_BINARY...
set -u
build="$1"
runs="$2"
shift 2
out="$build/stress"
mkdir -p "$out"
rm -f "$out"/*.log
hog_max="${HOG_MAX_S:-21600}"

hogs=()
stop_hogs() {
    for p in "${hogs[@]}"; do kill "$p" 2>/dev/null; done
    wait "${hogs[@]}" 2>/dev/null
    hogs=()
}
trap 'stop_hogs; exit 130' INT TERM
trap stop_hogs EXIT
ncpu=$(nproc)
for _ in $(seq "$ncpu"); do
    timeout "$hog_max" sh -c 'while :; do :; done' &
    hogs+=($!)
done
echo "test-stress: $runs runs of $# binaries, CPU hog on $ncpu cores (pids ${hogs[*]})"

declare -A pass
for t in "$@"; do pass[$(basename "$t")]=0; done
clean_runs=0
start=$(date +%s)
for i in $(seq "$runs"); do
    all=1
    for t in "$@"; do
        n=$(basename "$t")
        log="$out/$n.$i.log"
        if "$t" >"$log" 2>&1; then
            pass[$n]=$((pass[$n] + 1))
            rm -f "$log"
        else
            all=0
            echo "run $i: $n FAILED (log $log):"
            grep -E 'FAILED|Test:.*FAILED|^ +[0-9]+\. |exited|Assertion|CUnit' "$log" | grep -v '^CUnit -' | head -12 | sed 's/^/    /'
        fi
    done
    [ $all -eq 1 ] && clean_runs=$((clean_runs + 1))
    echo "run $i/$runs done ($(($(date +%s) - start)) s): $clean_runs clean so far"
done
stop_hogs
status=0
echo "---- test-stress summary ($runs runs, CPU hog on every core)"
for t in "$@"; do
    n=$(basename "$t")
    echo "  $n: ${pass[$n]}/$runs"
    [ "${pass[$n]}" -eq "$runs" ] || status=1
done
echo "  all binaries passed in $clean_runs/$runs runs"
exit $status
