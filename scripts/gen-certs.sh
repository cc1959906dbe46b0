#!/usr/bin/env bash
# Makes a local certificate authority and a server certificate signed by it,
# both ECDSA P-256 / SHA-256, for chat-server (server.pem + server.key) and
# chat-client (ca.pem). Needs only the openssl command-line tool.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/gen-certs.sh [options] [NAME_OR_IP ...]

Makes, in the output directory:
  ca.pem       local CA certificate (give this to every client)
  ca.key       local CA private key (keep it; it can sign any certificate)
  server.pem   server certificate signed by the CA
  server.key   server private key

The server certificate always names DNS:localhost, IP:127.0.0.1 and IP:::1.
Each NAME_OR_IP adds one more subjectAltName entry (IPv4 and IPv6 literals
become IP entries, anything else a DNS entry). The first one given becomes the
certificate's common name (localhost when none is given).

Options:
  --out DIR      output directory (default: certs/ in the repository root)
  --force        overwrite existing files
  --days N       server certificate validity in days (default 825, N >= 1)
  -h, --help     show this help

Options for tests:
  --expired          make a server certificate whose validity ended in the past
  --no-default-names leave out localhost, 127.0.0.1 and ::1 (needs NAME_OR_IP)

Example, for a server reachable as chat.example.org and 192.0.2.10:
  scripts/gen-certs.sh --force chat.example.org 192.0.2.10
EOF
}

die() {
    echo "gen-certs: $*" >&2
    exit 1
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="$repo_root/certs"
force=0
days=825
expired=0
default_names=1
names=()

while (($# > 0)); do
    case "$1" in
        -h | --help)
            usage
            exit 0
            ;;
        --out)
            (($# >= 2)) || die "--out needs a directory"
            out_dir="$2"
            shift 2
            ;;
        --out=*)
            out_dir="${1#--out=}"
            shift
            ;;
        --force)
            force=1
            shift
            ;;
        --days)
            (($# >= 2)) || die "--days needs a number"
            days="$2"
            shift 2
            ;;
        --days=*)
            days="${1#--days=}"
            shift
            ;;
        --expired)
            expired=1
            shift
            ;;
        --no-default-names)
            default_names=0
            shift
            ;;
        --)
            shift
            names+=("$@")
            break
            ;;
        -*)
            die "unknown option: $1 (see --help)"
            ;;
        *)
            names+=("$1")
            shift
            ;;
    esac
done

if ! [[ "$days" =~ ^[0-9]+$ ]] || ((10#$days < 1)); then
    die "--days must be a whole number of at least 1 (use --expired for an expired certificate)"
fi
[[ -n "$out_dir" ]] || die "--out needs a directory"
command -v openssl >/dev/null 2>&1 ||
    die "the openssl command is missing (Debian: apt-get install openssl)"

# Classify each name. Anything that is not a plain host name or IP literal is
# refused, because it would end up inside an openssl config file.
is_ipv4() {
    local IFS=. part
    [[ "$1" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || return 1
    for part in $1; do
        ((10#$part <= 255)) || return 1
    done
}
is_ipv6() {
    [[ "$1" == *:* && "$1" =~ ^[0-9A-Fa-f:.]+$ ]]
}
is_dns() {
    [[ ${#1} -le 253 && "$1" =~ ^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$ ]]
}

sans=()
add_san() {
    local entry="$1" existing
    for existing in "${sans[@]+"${sans[@]}"}"; do
        [[ "$existing" == "$entry" ]] && return 0
    done
    sans+=("$entry")
}
if ((default_names)); then
    add_san "DNS:localhost"
    add_san "IP:127.0.0.1"
    add_san "IP:::1"
fi
for name in "${names[@]+"${names[@]}"}"; do
    name="${name#[}"
    name="${name%]}"
    if is_ipv4 "$name" || is_ipv6 "$name"; then
        add_san "IP:$name"
    elif is_dns "$name"; then
        add_san "DNS:$name"
    else
        die "not a host name or IP address: '$name'"
    fi
done
((${#sans[@]} > 0)) || die "--no-default-names needs at least one NAME_OR_IP"

if ((${#names[@]} > 0)); then
    common_name="${names[0]#[}"
    common_name="${common_name%]}"
else
    common_name="localhost"
fi

files=(ca.pem ca.key server.pem server.key)
if ((!force)); then
    existing=()
    for f in "${files[@]}"; do
        [[ -e "$out_dir/$f" ]] && existing+=("$out_dir/$f")
    done
    if ((${#existing[@]} > 0)); then
        echo "gen-certs: refusing to overwrite existing files:" >&2
        printf '  %s\n' "${existing[@]}" >&2
        echo "gen-certs: run again with --force to replace them (clients then need the new ca.pem)" >&2
        exit 1
    fi
fi

mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"

# Build everything in a private scratch directory inside the output directory
# and move the files into place only when all of them exist, so a failure never
# leaves a key without its certificate. umask 077: keys are born 0600.
umask 077
work="$(mktemp -d "$out_dir/.gen-certs.XXXXXX")"
trap 'rm -rf "$work"' EXIT

{
    cat <<'EOF'
[req]
distinguished_name = dn
prompt = no

[dn]
CN = unused

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = @alt_names

[alt_names]
EOF
    dns_i=0
    ip_i=0
    for san in "${sans[@]}"; do
        case "$san" in
            DNS:*) dns_i=$((dns_i + 1)); echo "DNS.$dns_i = ${san#DNS:}" ;;
            IP:*) ip_i=$((ip_i + 1)); echo "IP.$ip_i = ${san#IP:}" ;;
        esac
    done
    # Only used by --expired, which signs with `openssl ca` because OpenSSL 3.0's
    # `x509 -req` cannot set a notBefore in the past.
    cat <<EOF

[ca]
default_ca = local_ca

[local_ca]
database = $work/index.txt
serial = $work/serial
new_certs_dir = $work
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none

[policy_any]
commonName = supplied
EOF
} >"$work/openssl.cnf"

# Runs an openssl step quietly; on failure shows what openssl said, then stops.
quietly() {
    local what="$1"
    shift
    if ! "$@" >"$work/openssl.log" 2>&1; then
        cat "$work/openssl.log" >&2
        die "$what failed"
    fi
}

newkey() {
    quietly "making the key $(basename "$1")" \
        openssl genpkey -algorithm EC \
        -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve \
        -out "$1"
}

newkey "$work/ca.key"
quietly "making the CA certificate" \
    openssl req -new -x509 -config "$work/openssl.cnf" -extensions ca_ext \
    -key "$work/ca.key" -subj "/CN=secure-chat local CA" \
    -sha256 -days 3650 -out "$work/ca.pem"

newkey "$work/server.key"
quietly "making the server certificate request" \
    openssl req -new -config "$work/openssl.cnf" \
    -key "$work/server.key" -subj "/CN=$common_name" -out "$work/server.csr"

if ((expired)); then
    : >"$work/index.txt"
    quietly "signing the expired server certificate" \
        openssl ca -batch -notext -config "$work/openssl.cnf" -extensions server_ext \
        -cert "$work/ca.pem" -keyfile "$work/ca.key" -rand_serial \
        -startdate 20200101000000Z -enddate 20200102000000Z \
        -in "$work/server.csr" -out "$work/server.pem"
else
    # 20 random bytes with the top bit cleared: a positive serial of the
    # largest size RFC 5280 allows.
    serial="$(openssl rand -hex 20)"
    serial="0x$(printf '%x' $((0x${serial:0:1} & 7)))${serial:1}"
    quietly "signing the server certificate" \
        openssl x509 -req -in "$work/server.csr" \
        -CA "$work/ca.pem" -CAkey "$work/ca.key" -set_serial "$serial" \
        -extfile "$work/openssl.cnf" -extensions server_ext \
        -sha256 -days "$days" -out "$work/server.pem"
fi

# -no_check_time: an --expired certificate must still chain to the CA.
quietly "checking the new server certificate against the new CA" \
    openssl verify -CAfile "$work/ca.pem" -no_check_time "$work/server.pem"

chmod 0600 "$work/ca.key" "$work/server.key"
chmod 0644 "$work/ca.pem" "$work/server.pem"
for f in "${files[@]}"; do
    mv -f "$work/$f" "$out_dir/$f"
done

san_list="$(IFS=,; echo "${sans[*]}")"
cat <<EOF
Made in $out_dir:
  ca.pem       local CA certificate (valid 3650 days)
  ca.key       local CA private key (mode 0600; keep it private)
  server.pem   server certificate, CN=$common_name, $(
    if ((expired)); then echo "EXPIRED (for tests)"; else echo "valid $days days"; fi)
               subjectAltName: ${san_list//,/, }
  server.key   server private key (mode 0600)

$(if [[ "$out_dir" == "$repo_root/certs" ]]; then
    echo "Clients on this machine: .build/release/chat-client uses certs/ca.pem by default."
fi)
Clients on other machines:
  1. copy $out_dir/ca.pem to the client machine (it is public; never copy ca.key);
  2. run: chat-client --ca /path/to/ca.pem --host NAME
NAME must be in the subjectAltName above. To add one, regenerate:
  scripts/gen-certs.sh --force NAME
(this makes a new CA too, so copy the new ca.pem to every client again).
EOF
