#!/bin/bash
# Runs each fuzz target for SECONDS, two at a time (the machine has 2
# cores), from its corpus in BUILD/fuzz/corpus/<target>/ (tests/fuzz/seeds.sh)
# with its dictionary when there is one (tests/fuzz/dict/). A target that
# finds a crash, a leak or undefined behaviour fails the run; its input is
# kept in BUILD/fuzz/artifacts/<target>/ and the report is printed.
# Prints per target: executions, coverage (cov: edges, ft: features), corpus size.
# usage: tests/fuzz/run.sh BUILD_DIR SECONDS TARGET...
set -u
build="$1"
secs="$2"
shift 2
here="$(cd "$(dirname "$0")" && pwd)"

one() {
    local t="$1" bin="$build/fuzz/fuzz_$1" log="$build/fuzz/$1.log"
    local dict=()
    [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
    [ "$t" = business ] && [ -f "$here/dict/phpser.dict" ] && dict=(-dict="$here/dict/phpser.dict")
    mkdir -p "$build/fuzz/artifacts/$t" "$build/fuzz/corpus/$t"
    "$bin" "${dict[@]}" -max_total_time="$secs" -max_len=4096 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz/artifacts/$t/" "$build/fuzz/corpus/$t" >"$log" 2>&1
    local rc=$?
    local last execs
    last=$(grep -aE '^#[0-9]+' "$log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ $rc -ne 0 ]; then
        echo "== $t: FAILED (exit $rc), log $log"
        grep -aE 'ERROR|SUMMARY|runtime error|Test unit written|^    #[0-9]' "$log" | head -30
        return 1
    fi
    echo "== $t: ok, ${execs:-?} executions in ${secs} s; $(echo "$last" | grep -aoE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*')"
}
export -f one
export build secs here

printf '%s\n' "$@" | xargs -P 2 -I{} bash -c 'one {}'
