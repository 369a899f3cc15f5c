# Source me: start a throwaway PostgreSQL on 127.0.0.1 for the DuckLake tests, export
# BUDGETDB_TEST_PG (a libpq string without dbname; each test creates its own database), and stop
# the server and remove its folder when the calling shell exits.
#
#   source .ci/postgres.sh && .venv/bin/python -m pytest tests/test_lake_store.py
#
# Installs Debian's `postgresql` package when its binaries are missing (needs root). As root, the
# server runs as the `postgres` user (initdb refuses root); otherwise as the current user.

_pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$_pg_bin" ] || [ ! -x "$_pg_bin/pg_ctl" ]; then
    echo "installing PostgreSQL (Debian package postgresql)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    _pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

_pg_dir=$(mktemp -d /tmp/budgetdb-pg.XXXXXX)
if [ "$(id -u)" = 0 ]; then
    chown postgres "$_pg_dir"
    _pg_as() { runuser -u postgres -- "$@"; }
else
    _pg_as() { "$@"; }
fi
# a free loopback port, asked of the kernel
_pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

_pg_as "$_pg_bin/initdb" -D "$_pg_dir/data" -U postgres --auth=trust -E UTF8 >"$_pg_dir/initdb.log" 2>&1 \
    || { cat "$_pg_dir/initdb.log" >&2; return 1 2>/dev/null || exit 1; }
# listen on loopback only; the data is thrown away, so no fsync
_pg_as "$_pg_bin/pg_ctl" -D "$_pg_dir/data" -l "$_pg_dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $_pg_port -k $_pg_dir -c max_connections=300 -c fsync=off -c synchronous_commit=off" \
    start >/dev/null \
    || { cat "$_pg_dir/server.log" >&2; return 1 2>/dev/null || exit 1; }

_pg_stop() {
    _pg_as "$_pg_bin/pg_ctl" -D "$_pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$_pg_dir"
}
trap _pg_stop EXIT

export BUDGETDB_TEST_PG="host=127.0.0.1 port=$_pg_port user=postgres"
echo "PostgreSQL $("$_pg_bin/postgres" --version | awk '{print $3}') for the tests: $BUDGETDB_TEST_PG" >&2
