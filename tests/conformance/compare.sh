#!/bin/sh
# Joins the results of `wsconf gateway` and `wsconf reference` (id, what,
# expected, verdict, ok; tab-separated) into one Markdown table, then lists
# the cases where the two servers' verdicts differ.
# Usage: compare.sh OURS.tsv REFERENCE.tsv
set -e
ours=$1 ref=$2
echo "| case | what | expected | gateway | python3-websockets |"
echo "|---|---|---|---|---|"
awk -F'\t' 'NR == FNR { rv[$1] = $4; rok[$1] = $5; next }
    { printf "| %s | %s | %s | %s%s | %s%s |\n", $1, $2, $3, $4, ($5 == "ok" ? "" : " **FAIL**"),
             rv[$1], (rok[$1] == "ok" ? "" : " **FAIL**") }' "$ref" "$ours"
echo
echo "Cases where the verdicts differ:"
awk -F'\t' 'NR == FNR { rv[$1] = $4; next } rv[$1] != $4 { printf "  %s (%s): gateway \"%s\", reference \"%s\"\n", $1, $2, $4, rv[$1]; n++ }
    END { if (!n) print "  none" }' "$ref" "$ours"
