#!/bin/sh
# `make test-valgrind`: every unit test binary under valgrind memcheck.
# A binary fails when valgrind reports an error or a definite/indirect leak
# (--error-exitcode) or when its own tests fail. Children a test forks are
# not traced into an exec (--trace-children=no: the integration tests cover
# real processes, under ASan in `make test-asan`); a child that only forks
# is checked like its parent. tests/valgrind/gw.supp holds
# suppressions for third-party library internals only, each one explained.
# usage: tests/valgrind/run.sh TEST_BINARY...
here="$(cd "$(dirname "$0")" && pwd)"
counts=$(mktemp)
export GW_TEST_COUNTS="$counts"
logdir="${VALGRIND_LOGS:-${TMPDIR:-/tmp}/gw-valgrind.$$}"
mkdir -p "$logdir"
status=0
bad=""
for t in "$@"; do
    n=$(basename "$t")
    echo "==== $n (valgrind)"
    valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
        --error-exitcode=99 --trace-children=no --track-fds=no --num-callers=30 \
        --suppressions="$here/gw.supp" --log-file="$logdir/$n.vg" "$t" >"$logdir/$n.out" 2>&1
    rc=$?
    tail -1 "$logdir/$n.out"
    if [ $rc -ne 0 ]; then
        status=1
        bad="$bad $n"
        echo "!!!! $n: exit $rc ($( [ $rc -eq 99 ] && echo 'valgrind errors or leaks' || echo 'test failures'))"
        head -60 "$logdir/$n.vg"
        tail -20 "$logdir/$n.out"
    fi
done
passed=$(awk '{p+=$2} END {print p+0}' "$counts")
failed=$(awk '{f+=$3} END {print f+0}' "$counts")
rm -f "$counts"
echo "valgrind: $# binaries, tests $passed passed, $failed failed;${bad:- no errors or leaks}${bad:+ errors/leaks/failures in:$bad}; logs in $logdir"
exit $status
