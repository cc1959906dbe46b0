#!/usr/bin/env bash
# Quick start #2: installs what the build and the tests need, builds the debug
# binaries the integration tests launch, then runs the whole test suite.
# Arguments go to `swift test` unchanged (for example: --filter TLSTests).
# Exits with swift test's status.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

DEPS_PREFIX="test"
# shellcheck source=scripts/lib/deps.sh
source scripts/lib/deps.sh

ensure_swift
# tmux drives the interactive client in the end-to-end tests; openssl (the
# command) makes test certificates through scripts/gen-certs.sh; gdb's gcore
# dumps the running server's memory to show no message text is in it.
ensure_packages libssl-dev libgdbm-dev libpq-dev libomemo-c-dev postgresql tmux openssl gdb

deps_say "building chat-server and chat-client (debug)"
swift build

# At most six tests at once: with every suite in parallel on two cores, tests that start
# servers and clients time out waiting for each other (logins not done in 15 s, frames not
# written in 10 s) though each passes alone. A width given here replaces this one.
case " $* " in
    *" --experimental-maximum-parallelization-width "*) exec swift test "$@" ;;
    *) exec swift test --experimental-maximum-parallelization-width 6 "$@" ;;
esac
