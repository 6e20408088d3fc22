#!/bin/sh
# Runs every test binary given as argument, then prints one plain summary line
# summed over all of them. Exits non-zero if any binary failed or crashed.
counts=$(mktemp)
export GW_TEST_COUNTS="$counts"
status=0
for t in "$@"; do
    echo "==== $(basename "$t")"
    if ! "$t"; then
        echo "!!!! $(basename "$t") exited with failure"
        status=1
        grep -q "^$(basename "$t") " "$counts" || echo "$(basename "$t") 0 1" >>"$counts"
    fi
done
passed=$(awk '{p+=$2} END {print p+0}' "$counts")
failed=$(awk '{f+=$3} END {print f+0}' "$counts")
rm -f "$counts"
[ "$failed" -gt 0 ] && status=1
echo "tests: $passed passed, $failed failed"
exit $status
