#!/usr/bin/env bash
# Quick start #1: installs what the build needs, builds both binaries in
# release mode, makes certificates on first run, then runs chat-server.
# Arguments go to chat-server unchanged (defaults: --host 127.0.0.1
# --port 5555 --cert certs/server.pem --key certs/server.key --data-dir data).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

DEPS_PREFIX="start-server"
# shellcheck source=scripts/lib/deps.sh
source scripts/lib/deps.sh

ensure_swift
# openssl (the command) is for gen-certs.sh; libssl-dev does not pull it in.
ensure_packages libssl-dev libgdbm-dev libpq-dev libomemo-c-dev openssl

deps_say "building chat-server and chat-client (release)"
# The products only: a plain `swift build` would also compile the test fixtures.
swift build -c release --product chat-server
swift build -c release --product chat-client

if [[ ! -e certs/server.pem ]]; then
    deps_say "no certs/server.pem yet: making a local CA and a server certificate"
    scripts/gen-certs.sh
fi

exec .build/release/chat-server "$@"
