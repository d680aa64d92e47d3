#!/bin/sh
# Tests gen-certs.sh: generates certificates into a temporary directory and checks them with
# openssl (chain, SANs, key match, key type, usages, expiry, the printed caBundle, overwrite
# protection, --reuse-ca, input validation) and with a real TLS handshake on 127.0.0.1.
# Prints one line per check and "N passed, N failed"; exits non-zero on any failure.
# shellcheck disable=SC2016 # `sh -c '...$1...'` expands in the child shell, as intended
set -u

here=$(CDPATH="" cd -- "$(dirname -- "$0")" && pwd)
gen="$here/gen-certs.sh"
command -v openssl >/dev/null 2>&1 || { echo "certs/test.sh: openssl not found" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ws3-certs-test.XXXXXX") || exit 1
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "ok   $1"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
    [ $# -lt 2 ] || printf '%s\n' "$2" | sed 's/^/     /'
}
# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
    name=$1
    shift
    if out=$("$@" 2>&1); then ok "$name"; else fail "$name" "$out"; fi
}
# check_not NAME COMMAND...: passes when COMMAND fails.
check_not() {
    name=$1
    shift
    if out=$("$@" 2>&1); then fail "$name" "succeeded: $out"; else ok "$name"; fi
}

same_text() {
    [ "$1" = "$2" ] || { printf 'expected: %s\n     got: %s\n' "$2" "$1"; return 1; }
}

# --- a certificate for ws3 in ws3-system, with local-testing SANs, valid 30 days -----------------

d="$tmp/certs"
if bundle=$("$gen" --service ws3 --namespace ws3-system --out "$d" --days 30 --san localhost --san 127.0.0.1 2>"$tmp/gen.err"); then
    ok "gen-certs.sh generates"
else
    fail "gen-certs.sh generates" "$(cat "$tmp/gen.err")"
    echo "$passed passed, $failed failed"
    exit 1
fi

for f in ca.crt ca.key tls.crt tls.key; do
    check "writes $f" test -s "$d/$f"
done
check "keys are private (mode 600)" same_text "$(find "$d" -name '*.key' -perm 600 | sort)" "$(printf '%s\n%s' "$d/ca.key" "$d/tls.key")"

check "serving certificate verifies against the CA" openssl verify -CAfile "$d/ca.crt" "$d/tls.crt"
check_not "CA does not verify as signed by the serving certificate" openssl verify -CAfile "$d/tls.crt" "$d/ca.crt"

sans=$(openssl x509 -in "$d/tls.crt" -noout -ext subjectAltName 2>&1 | sed -n '2,$p' | tr -d ' ')
check "SANs: service names, then extra SANs" same_text "$sans" \
    "DNS:ws3,DNS:ws3.ws3-system,DNS:ws3.ws3-system.svc,DNS:ws3.ws3-system.svc.cluster.local,DNS:localhost,IPAddress:127.0.0.1"

check "key matches certificate" same_text "$(openssl pkey -in "$d/tls.key" -pubout)" \
    "$(openssl x509 -in "$d/tls.crt" -noout -pubkey)"
check "CA key matches CA certificate" same_text "$(openssl pkey -in "$d/ca.key" -pubout)" \
    "$(openssl x509 -in "$d/ca.crt" -noout -pubkey)"

key_text=$(openssl pkey -in "$d/tls.key" -noout -text 2>&1)
check "ECDSA P-256 key by default" sh -c 'printf "%s" "$1" | grep -Eq "prime256v1|P-256"' _ "$key_text"

text=$(openssl x509 -in "$d/tls.crt" -noout -text)
check "extended key usage serverAuth" sh -c 'printf "%s" "$1" | grep -q "TLS Web Server Authentication"' _ "$text"
check "serving certificate is not a CA" sh -c 'printf "%s" "$1" | grep -q "CA:FALSE"' _ "$text"
check "CA certificate is a CA" sh -c 'openssl x509 -in "$1" -noout -text | grep -q "CA:TRUE"' _ "$d/ca.crt"
check "openssl accepts it for TLS servers" openssl verify -purpose sslserver -CAfile "$d/ca.crt" "$d/tls.crt"

check "valid for 29 more days" openssl x509 -in "$d/tls.crt" -noout -checkend $((29 * 86400))
check_not "expires within 31 days" openssl x509 -in "$d/tls.crt" -noout -checkend $((31 * 86400))
check "CA outlives the serving certificate" openssl x509 -in "$d/ca.crt" -noout -checkend $((365 * 86400))

check "stdout is the caBundle: base64 of ca.crt on one line" same_text "$bundle" "$(openssl base64 -A -in "$d/ca.crt")"
check "caBundle decodes to the CA" same_text "$(printf '%s' "$bundle" | openssl base64 -d -A)" "$(cat "$d/ca.crt")"

# --- TLS handshake against openssl s_server on 127.0.0.1 -----------------------------------------

handshake() { # handshake PORT EXTRA_S_CLIENT_ARGS...
    port=$1
    shift
    openssl s_client -connect "127.0.0.1:$port" -CAfile "$d/ca.crt" -verify_return_error "$@" </dev/null 2>&1 |
        grep -q "Verify return code: 0 (ok)"
}
port=
for try in 1 2 3 4 5; do
    p=$(awk -v seed="$$$try" 'BEGIN { srand(seed); print 20000 + int(rand() * 40000) }')
    openssl s_server -accept "127.0.0.1:$p" -cert "$d/tls.crt" -key "$d/tls.key" -quiet </dev/null >"$tmp/server.log" 2>&1 &
    server_pid=$!
    i=0
    while [ $i -lt 50 ] && kill -0 "$server_pid" 2>/dev/null; do
        if handshake "$p" -servername ws3.ws3-system.svc; then port=$p; break; fi
        sleep 0.1
        i=$((i + 1))
    done
    [ -n "$port" ] && break
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
done
if [ -n "$port" ]; then
    ok "TLS handshake with the serving certificate"
    check "hostname ws3.ws3-system.svc verifies" handshake "$port" -verify_hostname ws3.ws3-system.svc
    check "hostname localhost verifies" handshake "$port" -verify_hostname localhost
    check "IP 127.0.0.1 verifies" handshake "$port" -verify_ip 127.0.0.1
    check_not "another hostname does not verify" handshake "$port" -verify_hostname other.ws3-system.svc
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
else
    fail "TLS handshake with the serving certificate" "$(cat "$tmp/server.log")"
fi

# --- overwrite protection, --force, --reuse-ca ---------------------------------------------------

before=$(cat "$d/ca.crt" "$d/tls.crt")
check_not "refuses to overwrite without --force" "$gen" --out "$d"
check "files unchanged after a refusal" same_text "$(cat "$d/ca.crt" "$d/tls.crt")" "$before"

ca_before=$(cat "$d/ca.crt")
tls_before=$(cat "$d/tls.crt")
check_not "--reuse-ca still refuses to overwrite tls.crt without --force" "$gen" --out "$d" --reuse-ca
check "--reuse-ca --force renews the serving certificate" "$gen" --out "$d" --reuse-ca --force
check "--reuse-ca keeps the CA" same_text "$(cat "$d/ca.crt")" "$ca_before"
check_not "--reuse-ca issues a new serving certificate" same_text "$(cat "$d/tls.crt")" "$tls_before"
check "renewed certificate verifies against the kept CA" openssl verify -CAfile "$d/ca.crt" "$d/tls.crt"
check_not "--reuse-ca needs an existing CA" "$gen" --out "$tmp/empty" --reuse-ca

check "--force overwrites" "$gen" --out "$d" --force
check_not "--force makes a new CA" same_text "$(cat "$d/ca.crt")" "$ca_before"

# --- environment interface, RSA, input validation ------------------------------------------------

e="$tmp/env"
check "configured by environment (SERVICE, NAMESPACE, OUT_DIR, DAYS, EXTRA_SANS)" \
    env SERVICE=policy NAMESPACE=ops OUT_DIR="$e" DAYS=7 EXTRA_SANS="webhook.example.test,::1" "$gen"
sans=$(openssl x509 -in "$e/tls.crt" -noout -ext subjectAltName 2>&1 | sed -n '2,$p' | tr -d ' ')
check "SANs from the environment" same_text "$sans" \
    "DNS:policy,DNS:policy.ops,DNS:policy.ops.svc,DNS:policy.ops.svc.cluster.local,DNS:webhook.example.test,IPAddress:0:0:0:0:0:0:0:1"
check_not "DAYS=7 from the environment" openssl x509 -in "$e/tls.crt" -noout -checkend $((8 * 86400))
check "arguments override the environment" env SERVICE=policy OUT_DIR="$tmp/override" "$gen" --service other
check "--service argument used" sh -c 'openssl x509 -in "$1" -noout -ext subjectAltName | grep -q "DNS:other.ws3-system.svc"' _ "$tmp/override/tls.crt"

r="$tmp/rsa"
check "--key-type rsa" "$gen" --out "$r" --key-type rsa
check "RSA key" sh -c 'openssl pkey -in "$1" -noout -text | grep -q "Private-Key: (2048 bit"' _ "$r/tls.key"
check "RSA certificate verifies" openssl verify -CAfile "$r/ca.crt" "$r/tls.crt"

check_not "rejects a service name that is not a DNS label" "$gen" --out "$tmp/bad1" --service Web_Hook
check_not "rejects a namespace that is not a DNS label" "$gen" --out "$tmp/bad2" --namespace "a.b"
check_not "rejects non-numeric days" "$gen" --out "$tmp/bad3" --days soon
check_not "rejects a malformed extra SAN" "$gen" --out "$tmp/bad4" --san "not a name"
check "extra SANs may be given as a spaced list" env EXTRA_SANS="localhost, 127.0.0.1" "$gen" --out "$tmp/spaced"
check_not "rejects an unknown key type" "$gen" --out "$tmp/bad5" --key-type dsa
check_not "rejects an unknown option" "$gen" --out "$tmp/bad6" --frobnicate
check "writes nothing when it rejects its input" sh -c '! ls "$1"/bad*/* >/dev/null 2>&1' _ "$tmp"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
