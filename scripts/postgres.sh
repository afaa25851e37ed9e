# shellcheck shell=bash
# ensure_postgres: a PostgreSQL for the tests, exported as TAGTRAIL_TEST_POSTGRES.
# The machine's server at 127.0.0.1:5432 (database test, trust auth) when there is one, started
# if it is only stopped; else a throwaway cluster of our own, stopped when the script exits.

_pg_answers() {
    psql "$1" -Atqc 'select 1' >/dev/null 2>&1
}

ensure_postgres() {
    local url="postgresql://postgres@127.0.0.1:5432/test"
    apt_ensure postgresql-client
    if ! _pg_answers "$url" && [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
        local version
        version="$(ls /etc/postgresql | sort -V | tail -n 1)"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
        for _ in $(seq 1 30); do _pg_answers "$url" && break; sleep 1; done
    fi
    if _pg_answers "$url"; then
        export TAGTRAIL_TEST_POSTGRES="$url"
        return 0
    fi
    echo "no PostgreSQL at 127.0.0.1:5432: starting a throwaway cluster" >&2
    apt_ensure postgresql
    local bin dir port=55432
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    dir="$(mktemp -d /tmp/tagtrail-pg.XXXXXX)"
    chown postgres "$dir"
    as_root runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres >&2
    as_root runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >&2
    trap "as_root runuser -u postgres -- '$bin/pg_ctl' -D '$dir/data' -m fast stop >/dev/null; rm -rf '$dir'" EXIT
    as_root runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test
    export TAGTRAIL_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/test"
}
