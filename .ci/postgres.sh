#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on loopback for the registry tests and print its URL.
# Usage: eval "$(bash .ci/postgres.sh)"   -> exports RRG_TEST_POSTGRES_URL
set -euo pipefail
port="${RRG_PG_PORT:-55432}"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "installing PostgreSQL from Debian's packages" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
fi
bindir=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
datadir=$(mktemp -d /tmp/rrg-pg.XXXXXX)
chown postgres "$datadir"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
as_pg "$bindir/initdb -D $datadir/data -U rrg --auth=trust >/dev/null"
as_pg "$bindir/pg_ctl -D $datadir/data -l $datadir/log -w -o \"-p $port -k $datadir -c listen_addresses=127.0.0.1 -c fsync=off\" start >/dev/null"
as_pg "$bindir/createdb -h 127.0.0.1 -p $port -U rrg rrg_test"
echo "export RRG_TEST_POSTGRES_URL=postgresql+psycopg://rrg@127.0.0.1:$port/rrg_test"
echo "export RRG_PG_DATADIR=$datadir/data"
