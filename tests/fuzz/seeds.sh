#!/bin/sh
# Seeds the fuzzers' corpora at build time: build/fuzz/corpus/<target>/ from
# the golden vectors (FIXTURES), the repository's own configuration files and
# the small hand-written seeds in tests/fuzz/seeds/<target>/. Nothing here is
# committed output: the corpora live under the build directory and grow as
# the fuzzers run.
# usage: tests/fuzz/seeds.sh BUILD_DIR FIXTURES_DIR
set -eu
out="$1/fuzz/corpus"
fx="$2"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# hex text (the golden vectors' format) to bytes
unhex() { perl -ne 's/\s+//g; print pack("H*", $_)' "$1" > "$2"; }

for t in gwp phpser proxyproto regmsg wsconnect trust config business lottery lottery_app wsconnect_lws wstrack; do
    mkdir -p "$out/$t"
    if [ -d "$here/seeds/$t" ]; then
        cp "$here/seeds/$t"/* "$out/$t/" 2>/dev/null || true
    fi
done

if [ -d "$fx" ]; then
    for f in "$fx"/*.hex "$fx"/live/*.hex; do
        [ -f "$f" ] || continue
        b=$(basename "$f" .hex)
        case "$b" in
        serialize-*) unhex "$f" "$out/phpser/$b" ;;
        *) unhex "$f" "$out/gwp/$b" ;;
        esac
        case "$b" in
        on_*|ping) unhex "$f" "$out/business/$b" ;;
        esac
    done
    # one link's worth of events back to back
    cat "$out/business/on_connect" "$out/business/on_websocket_connect" "$out/business/on_message" \
        "$out/business/on_close_with_session" > "$out/business/session_life" 2>/dev/null || true
    for f in "$fx"/register-*.txt; do
        [ -f "$f" ] && cp "$f" "$out/regmsg/"
    done
else
    echo "seeds.sh: no golden vectors in $fx; gwp, phpser, business and regmsg start from their hand seeds" >&2
fi

# PROXY v2: TCP over IPv4, 203.0.113.7:51234 -> 10.0.0.1:8282, with a TLV
printf '\r\n\r\n\000\r\nQUIT\n\041\021\000\017\313\000\161\007\012\000\000\001\310\042\040\132\004\000\000' \
    > "$out/proxyproto/v2-tcp4"

# wsconnect_lws: byte 0 = which of URI, Host, Content-Type, Cookie follow,
# 2 bytes of port, then NUL-separated fields ("a..." query fragments, other
# fields "name:value" headers); see tests/fuzz/fuzz_wsconnect_lws.c
printf '\017\310\042/ws\000127.0.0.1:8282\000text/plain\000PHPSESSID=k3v9q2m1; lottery_uid=u1001; nick=%%E5%%BC%%A0\000atoken=9f2c1e\000aroom=annual-party\000aname=\345\274\240\000user-agent:probe/1.0\000origin:http://127.0.0.1\000sec-websocket-key:dGhlIHNhbXBsZSBub25jZQ==' \
    > "$out/wsconnect_lws/wss-handshake"
printf '\010\000\001 a = 1 ;;b; =v;c=1=2;\011d\011=\000aflag\000a\000a=\000bogus\000:\000x-y_z:' \
    > "$out/wsconnect_lws/cookie-corners"
printf '\000\000\000' > "$out/wsconnect_lws/nothing"

# wstrack: limit byte, cut byte, then client frames (masked with key 0): a
# text message, a ping inside a fragmented one, a close 1000 "bye"
printf '\020\007\201\202\000\000\000\000hi' > "$out/wstrack/text"
printf '\020\003\001\201\000\000\000\000a\211\200\000\000\000\000\200\201\000\000\000\000b' \
    > "$out/wstrack/fragments-ping"
printf '\020\005\210\205\000\000\000\000\003\350bye' > "$out/wstrack/close"

for f in "$repo"/deploy/*/*.ini; do
    [ -f "$f" ] && cp "$f" "$out/config/$(basename "$(dirname "$f")")-$(basename "$f")"
done
# a lottery message is also a business on_message body
cp "$out/lottery"/* "$out/business/" 2>/dev/null || true
exit 0
