#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for trying chat-server with --store postgres://...
# (or for chat-bench --server-store): initdb in DIR, the server listening on a Unix
# socket in DIR only (no TCP port), trust authentication for the role "chat", and a
# database "chat". Prints the --store value to use. As root, the cluster belongs to the
# postgres system user (PostgreSQL refuses to run as root).
#
#   scripts/start-postgres.sh DIR          create (first time) and start
#   scripts/start-postgres.sh DIR stop     stop it (the data stays in DIR)
#
# Not for production: trust authentication lets any local user in as "chat". A real
# deployment uses the Debian package's cluster (pg_ctlcluster 15 main start), a password
# or peer authentication, and CHAT_STORE=postgres://chat:PASSWORD@HOST/chat.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 DIR [stop]" >&2
    exit 2
fi
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
    echo "$0: PostgreSQL server binaries not found: apt-get install postgresql" >&2
    exit 1
fi
# A Unix socket path must fit in 107 bytes.
if (( ${#dir} > 90 )); then
    echo "$0: $dir is too long a path for PostgreSQL's socket; pick a shorter one" >&2
    exit 1
fi

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [[ "${2:-}" == "stop" ]]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop
    exit 0
fi
if [[ $(id -u) -eq 0 ]]; then
    chown postgres "$dir"
fi
if [[ ! -e "$dir/data/PG_VERSION" ]]; then
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U chat -E UTF8 >"$dir/initdb.log"
fi
if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
        -o "-k $dir -c listen_addresses=''" start >/dev/null
fi
if [[ -z "$(as_owner "$bin/psql" -X -A -t -h "$dir" -U chat -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'chat'")" ]]; then
    as_owner "$bin/psql" -X -q -h "$dir" -U chat -d postgres -c "CREATE DATABASE chat"
fi
echo "postgres://chat@/chat?host=$dir"
