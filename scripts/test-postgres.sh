#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for tests (mk/postgres.mk): `start` or `stop`.
# PG_TEST_PORT (54329) and PG_TEST_DIR (/tmp/panicbridge-pg-PORT) choose where; `start` prints the URL the tests read
# from PANICBRIDGE_TEST_POSTGRES and writes it to PG_TEST_DIR/url. The cluster runs with fsync off (tests need no
# durability) unless PG_TEST_FSYNC=on (the benchmark).
set -euo pipefail
port=${PG_TEST_PORT:-54329}
dir=${PG_TEST_DIR:-/tmp/panicbridge-pg-$port}
fsync=${PG_TEST_FSYNC:-off}

bindir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    [[ -n $found && -x $found/initdb ]] || return 1
    echo "$found"
}

as_owner() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case ${1:-} in
start)
    if ! bin=$(bindir); then
        if [[ $(id -u) != 0 ]]; then
            echo "PostgreSQL is not installed: run as root: apt-get update && apt-get install -y postgresql" >&2
            exit 1
        fi
        echo "== installing postgresql (apt)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        bin=$(bindir) || { echo "postgresql installed but no initdb under /usr/lib/postgresql/*/bin" >&2; exit 1; }
    fi
    if [[ -f $dir/data/postmaster.pid ]] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        echo "postgres://postgres@127.0.0.1:$port/postgres"
        exit 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir/socket"
    [[ $(id -u) == 0 ]] && chown -R postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    # Loopback only, trusted: the cluster lives for one test run and holds nothing.
    cat >"$dir/data/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 trust
HBA
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/socket -c fsync=$fsync -c max_connections=200" start >/dev/null ||
        { cat "$dir/server.log" >&2; exit 1; }
    url="postgres://postgres@127.0.0.1:$port/postgres"
    echo "$url" >"$dir/url"
    echo "$url"
    ;;
stop)
    if bin=$(bindir) && [[ -d $dir/data ]]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
