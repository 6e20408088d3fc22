#!/bin/sh
# pgtmp: a throwaway PostgreSQL server for the tests (Debian's postgresql
# package). CI runs as root and PostgreSQL refuses to run as root, so the
# cluster belongs to an unprivileged user (postgres, which the package
# creates; override with PGTMP_USER).
#
#   tests/support/pgtmp.sh start DIR PORT [ADDR]
#                                           initdb in DIR, listen on 127.0.0.1:PORT (or on
#                                           ADDR:PORT when given) and a socket in DIR; create
#                                           database "lottery"; prints the URL:
#                                           postgresql://lottery@127.0.0.1:PORT/lottery (or @ADDR)
#   tests/support/pgtmp.sh stop DIR         stop at once and remove DIR
#   tests/support/pgtmp.sh deps             install the package if missing
#
# Authentication is "trust" on 127.0.0.1 only: the server exists for one test
# run, holds no secret and is gone afterwards. With ADDR (an IPv4 address of
# this host, e.g. inside a test network namespace: tests/topology) it listens
# there instead and also trusts the hosts of ADDR's own subnet ("samenet"),
# so give only an address on a network that exists for the test.
set -eu
cmd=${1:-}
user=${PGTMP_USER:-postgres}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

as_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

case "$cmd" in
deps)
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
        echo "pgtmp: installing postgresql" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    fi
    ;;
start)
    dir=$2 port=$3 addr=${4:-127.0.0.1}
    [ -n "$bindir" ] || { echo "pgtmp: PostgreSQL is not installed (tests/support/pgtmp.sh deps)" >&2; exit 2; }
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown "$user" "$dir"
    chmod 700 "$dir"
    as_user "$bindir/initdb" -D "$dir/data" -U lottery -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    if [ "$addr" != 127.0.0.1 ]; then
        echo "host all all samenet trust" >>"$dir/data/pg_hba.conf"
    fi
    # fsync stays on: the kill -9 tests prove durability through it.
    as_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=$addr -p $port -k $dir -c max_connections=200" start >/dev/null ||
        { cat "$dir/server.log" >&2; exit 1; }
    as_user "$bindir/createdb" -h "$addr" -p "$port" -U lottery lottery
    echo "postgresql://lottery@$addr:$port/lottery"
    ;;
stop)
    dir=$2
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_user "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start DIR PORT [ADDR] | stop DIR | deps" >&2
    exit 2
    ;;
esac
