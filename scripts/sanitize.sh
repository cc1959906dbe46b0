#!/usr/bin/env bash
# Runs the whole test suite under the sanitizers: ThreadSanitizer (data races) and
# AddressSanitizer (use after free, overflows, leaks of C memory). Each gets its own
# build folder (.build-tsan, .build-asan), so the normal debug build is left alone and
# the chat-server and chat-client the integration tests start are sanitized too.
#
#   ./scripts/sanitize.sh              # both, thread first
#   ./scripts/sanitize.sh address      # one of them
#   ./scripts/sanitize.sh thread --filter FuzzTests   # extra arguments go to swift test
#
# Exits non-zero as soon as one run fails.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

DEPS_PREFIX="sanitize"
# shellcheck source=scripts/lib/deps.sh
source scripts/lib/deps.sh
ensure_swift
ensure_packages libssl-dev libgdbm-dev libpq-dev libomemo-c-dev postgresql tmux openssl

sanitizers=(thread address)
if [[ $# -gt 0 && ( "$1" == thread || "$1" == address ) ]]; then
    sanitizers=("$1")
    shift
fi

# A report is a failure, not a warning: halt_on_error makes the sanitized process exit
# non-zero, which fails the test that started it. LeakSanitizer stays off: the Swift
# runtime and Foundation keep caches alive to exit on purpose, which it reports as leaks.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
# Suppressed: only reports from code that is not ours, each explained in the file.
export ASAN_OPTIONS="halt_on_error=1 detect_leaks=0 suppressions=$repo_root/scripts/sanitizers/asan.supp ${ASAN_OPTIONS:-}"

for sanitizer in "${sanitizers[@]}"; do
    scratch=".build-${sanitizer:0:1}san"
    deps_say "building and testing with --sanitize=$sanitizer in $scratch"
    # Sanitized code runs several times slower: the tests' waits (bounds on how long to
    # wait for something, never measurements) stretch by this factor.
    if [[ "$sanitizer" == thread ]]; then scale=5; else scale=3; fi
    export CHAT_TEST_TIMEOUT_SCALE="${CHAT_TEST_TIMEOUT_SCALE_OVERRIDE:-$scale}"
    swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
    # Fewer tests at once: each integration test starts servers and clients, all several
    # times slower here, and two cores shared by dozens of them starve the waits.
    swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" \
        --experimental-maximum-parallelization-width 4 "$@"
    deps_say "--sanitize=$sanitizer: passed"
done
