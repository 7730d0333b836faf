#!/bin/bash
# Create the cluster on first start (user, password, database, init scripts), then run postgres.
set -euo pipefail
user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password_file="$(mktemp)"
  printf '%s' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}" >"$password_file"
  initdb --username="$user" --pwfile="$password_file" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  # Private socket, no TCP: nobody connects before the init scripts have run.
  pg_ctl --wait --options="-c listen_addresses= -c unix_socket_directories=/tmp" start >/dev/null
  psql=(psql --host=/tmp --username="$user" --no-psqlrc --quiet --set=ON_ERROR_STOP=1)
  if [ "$database" != postgres ]; then
    "${psql[@]}" --dbname=postgres --set=name="$database" <<<'CREATE DATABASE :"name";'
  fi
  for script in /docker-entrypoint-initdb.d/*.sql; do
    [ -e "$script" ] && "${psql[@]}" --dbname="$database" --file="$script"
  done
  pg_ctl --wait stop >/dev/null
fi
exec postgres -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql
