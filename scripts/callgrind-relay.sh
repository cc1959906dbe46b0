#!/usr/bin/env bash
# User-space instructions per relayed message, counted by valgrind's callgrind: repeatable
# for the same binary and load whatever else the machine does, unlike times.
#
# Runs chat-server (release) under callgrind twice, with a fixed load of SMALL and then
# LARGE messages (scripts/valgrind/relay-load.py: one pair, 64-byte bodies, every message
# acked), and prints (total(LARGE) - total(SMALL)) / (LARGE - SMALL): the cost of one
# relayed message with its send, receipt, ack and delivered receipt, set-up and shutdown
# cancelled out. With --profile it also prints the functions that cost the most.
#
# Usage: scripts/callgrind-relay.sh [--small N] [--large N] [--size BYTES] [--profile] [--keep DIR]
#                                   [--binary PATH]
# --keep copies both callgrind output files to DIR, for callgrind_annotate or self-cost.py;
# --binary measures another chat-server build (a copy kept from an earlier commit, say).
# How the client's reads happen to batch the server's frames moves the figure by a few
# per cent from run to run: compare medians of a few runs.
# Needs valgrind, python3 and a release build (`swift build -c release --product chat-server`).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

small=1000
large=3000
size=64
profile=0
keep=""
binary=.build/release/chat-server
while [[ $# -gt 0 ]]; do
    case "$1" in
        --small) small="$2"; shift 2 ;;
        --large) large="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --profile) profile=1; shift ;;
        --keep) keep="$2"; shift 2 ;;
        --binary) binary="$2"; shift 2 ;;
        *) echo "usage: $0 [--small N] [--large N] [--size BYTES] [--profile] [--keep DIR] [--binary PATH]" >&2; exit 2 ;;
    esac
done

for tool in valgrind callgrind_control python3 objcopy cc; do
    command -v "$tool" >/dev/null || { echo "callgrind-relay: $tool is needed" >&2; exit 1; }
done
[[ -x "$binary" ]] || { echo "callgrind-relay: build first: swift build -c release --product chat-server" >&2; exit 1; }
[[ -e certs/ca.pem ]] || scripts/gen-certs.sh >/dev/null

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# valgrind 3.19 cannot read the release binary's DWARF 5 debug information, and dies in
# libdispatch's sigsuspend without the shim (see the shim's comment).
objcopy --strip-debug "$binary" "$work/chat-server"
cc -shared -fPIC -O2 -o "$work/sigsuspend-shim.so" scripts/valgrind/sigsuspend-shim.c

# Prints the instruction total of one run of `messages` messages.
run() {
    local messages="$1" out="$work/callgrind.$1"
    rm -rf "$work/data"
    LD_PRELOAD="$work/sigsuspend-shim.so" valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$work/chat-server" --port 0 --cert certs/server.pem --key certs/server.key \
        --data-dir "$work/data" --scrypt-log-n 10 --message-rate 1000000 --message-burst 1000000 \
        >"$work/server.log" 2>&1 &
    local pid=$!
    local port=""
    for _ in $(seq 600); do
        # Only a finished line: one read mid-write would give the port's first digits.
        port="$(grep -a 'listening on' "$work/server.log" | head -1 | sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p')"
        [[ -n "$port" && "$(tail -c 1 "$work/server.log" | od -An -c | tr -d ' ')" == '\n' ]] && break
        port=""
        kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
        sleep 0.1
    done
    [[ -n "$port" ]] || { echo "callgrind-relay: the server did not start" >&2; exit 1; }
    python3 scripts/valgrind/relay-load.py "$port" certs/ca.pem "$messages" --size "$size" >&2
    kill -TERM "$pid"
    wait "$pid" || true
    sed -n 's/^summary: //p' "$out"
}

first="$(run "$small")"
second="$(run "$large")"
per_message=$(( (second - first) / (large - small) ))
if [[ -n "$keep" ]]; then
    mkdir -p "$keep"
    cp "$work/callgrind.$small" "$work/callgrind.$large" "$keep/"
fi
echo "instructions per relayed message: $per_message ($size-byte bodies; totals $first for $small, $second for $large)"
if [[ "$profile" == 1 ]]; then
    python3 scripts/valgrind/self-cost.py "$work/callgrind.$large" --minus "$work/callgrind.$small" \
        --per $(( large - small )) --top 40
fi
