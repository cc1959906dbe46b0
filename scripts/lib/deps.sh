# shellcheck shell=bash
# Shared by scripts/start-server.sh and scripts/test.sh (sourced, not run):
# finds the Swift toolchain and installs the Debian packages the build and the
# tests need. Does nothing when everything is already there, so a machine that
# installed the packages beforehand (as .ci/run does) never runs apt-get here.

deps_say() {
    echo "${DEPS_PREFIX:-deps}: $*" >&2
}

deps_die() {
    deps_say "$*"
    exit 1
}

# Puts the toolchain from /opt/swift (where the Debian 12 machines keep it) on
# PATH when `swift` is not already there.
ensure_swift() {
    if command -v swift >/dev/null 2>&1; then
        return 0
    fi
    if [[ -x /opt/swift/usr/bin/swift ]]; then
        export PATH="/opt/swift/usr/bin:$PATH"
        return 0
    fi
    deps_die "swift not found: install a Swift 6 toolchain (https://swift.org/install) and put its usr/bin on PATH"
}

# Prints the packages among "$@" that dpkg does not list as installed.
# dpkg-query rather than `dpkg -s`: `dpkg -s` also succeeds for a package that
# was removed but left its configuration files behind.
missing_packages() {
    local pkg status
    for pkg in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        [[ "$status" == *" installed" ]] || echo "$pkg"
    done
}

# Installs the Debian packages among "$@" that are missing: one `apt-get
# update`, then one `apt-get install -y`, through sudo when not root.
ensure_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        deps_say "not a Debian-like system; make sure these are installed: $*"
        return 0
    fi

    local missing=()
    mapfile -t missing < <(missing_packages "$@")
    ((${#missing[@]} > 0)) || return 0

    local as_root=()
    if ((EUID != 0)); then
        if command -v sudo >/dev/null 2>&1; then
            as_root=(sudo)
        else
            deps_die "missing packages: ${missing[*]}; run as root or install sudo, or install them yourself: apt-get update && apt-get install -y ${missing[*]}"
        fi
    fi

    deps_say "installing ${missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}
