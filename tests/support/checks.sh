# shellcheck shell=bash
# tests/support/checks.sh: the pass/fail tally of the shell tests (sourced).
#
#   T=$(mktemp -d ...); . tests/support/checks.sh
#   ok TEXT, bad TEXT, skip TEXT   one result: counted (ok, bad) and printed
#   check TEXT COMMAND...          ok when COMMAND exits 0; else bad, and the
#                                  last 20 lines of its output ($T/last.out)
#   $pass, $fail                   the counts so far, for the summary line
pass=0
fail=0
ok() {
    pass=$((pass + 1))
    echo "ok   $*"
}
bad() {
    fail=$((fail + 1))
    echo "FAIL $*"
}
skip() { echo "skip $*"; }
check() {
    local d=$1
    shift
    if "$@" >"$T/last.out" 2>&1; then ok "$d"; else
        bad "$d"
        sed 's/^/     | /' "$T/last.out" | tail -20
    fi
}
