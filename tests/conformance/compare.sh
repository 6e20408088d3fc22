#!/bin/sh
# Joins the results of `wsconf gateway` and `wsconf reference` (id, what,
# expected, verdict, ok; tab-separated) into one Markdown table, then lists
# the cases where the two servers' verdicts differ. With a third file (the
# results of `wsconf gateway-wss`), the gateway over wss gets a column too,
# and the cases where it answers otherwise than over ws are listed.
# Usage: compare.sh OURS.tsv REFERENCE.tsv [OURS_WSS.tsv]
set -e
ours=$1 ref=$2 wss=${3:-/dev/null}
if [ -n "$3" ]; then
    echo "| case | what | expected | gateway | gateway (wss) | python3-websockets |"
    echo "|---|---|---|---|---|---|"
else
    echo "| case | what | expected | gateway | python3-websockets |"
    echo "|---|---|---|---|---|"
fi
awk -F'\t' -v with_wss="$3" '
    FILENAME == ARGV[1] { rv[$1] = $4; rok[$1] = $5; next }
    FILENAME == ARGV[2] { wv[$1] = $4; wok[$1] = $5; next }
    { w = with_wss == "" ? "" : sprintf(" %s%s |", wv[$1], (wok[$1] == "ok" ? "" : " **FAIL**"))
      printf "| %s | %s | %s | %s%s |%s %s%s |\n", $1, $2, $3, $4, ($5 == "ok" ? "" : " **FAIL**"), w,
             rv[$1], (rok[$1] == "ok" ? "" : " **FAIL**") }' "$ref" "$wss" "$ours"
echo
echo "Cases where the verdicts differ:"
awk -F'\t' 'NR == FNR { rv[$1] = $4; next } rv[$1] != $4 { printf "  %s (%s): gateway \"%s\", reference \"%s\"\n", $1, $2, $4, rv[$1]; n++ }
    END { if (!n) print "  none" }' "$ref" "$ours"
if [ -n "$3" ]; then
    echo
    echo "Cases where the gateway answers otherwise over wss than over ws:"
    awk -F'\t' 'NR == FNR { wv[$1] = $4; next } wv[$1] != $4 { printf "  %s (%s): ws \"%s\", wss \"%s\"\n", $1, $2, $4, wv[$1]; n++ }
        END { if (!n) print "  none" }' "$wss" "$ours"
fi
