#!/bin/sh
# Generates a CA and a serving certificate for the ws3 admission webhook, and prints the CA as the
# base64 caBundle a ValidatingWebhookConfiguration wants.
#
# Usage: gen-certs.sh [options]
#   -s, --service NAME     Service name of the webhook            (env SERVICE,   default ws3)
#   -n, --namespace NS     namespace of the Service               (env NAMESPACE, default ws3-system)
#   -o, --out DIR          output directory                        (env OUT_DIR,   default ./ws3-certs)
#   -d, --days N           validity of the serving certificate     (env DAYS,      default 365)
#       --ca-days N        validity of the CA                      (env CA_DAYS,   default 3650)
#       --san NAME|IP      an extra SAN; repeatable, e.g. --san localhost --san 127.0.0.1
#                                                                  (env EXTRA_SANS, comma-separated)
#       --key-type T       ecdsa (P-256) or rsa (2048 bits)        (env KEY_TYPE,  default ecdsa)
#       --reuse-ca         sign with the ca.crt/ca.key already in the output directory
#                          (renews the serving certificate; the caBundle stays the same)
#   -f, --force            overwrite existing files
#   -h, --help             this text
#
# Writes ca.crt, ca.key, tls.crt, tls.key (keys mode 600) to the output directory; the SANs are
# <svc>, <svc>.<ns>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local and the extra ones.
# stdout gets only the caBundle (one line); everything else goes to stderr.
# Needs only a POSIX shell and openssl (1.1.1 or later, or LibreSSL 3).
set -eu

prog=$(basename "$0")

die() {
    printf '%s: %s\n' "$prog" "$*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//' >&2
}

SERVICE=${SERVICE:-ws3}
NAMESPACE=${NAMESPACE:-ws3-system}
OUT_DIR=${OUT_DIR:-./ws3-certs}
DAYS=${DAYS:-365}
CA_DAYS=${CA_DAYS:-3650}
EXTRA_SANS=${EXTRA_SANS:-}
KEY_TYPE=${KEY_TYPE:-ecdsa}
force=false
reuse_ca=false

need_arg() {
    [ "$2" -ge 2 ] || die "$1 needs a value"
}

while [ $# -gt 0 ]; do
    case $1 in
        -s | --service) need_arg "$1" $#; SERVICE=$2; shift 2 ;;
        -n | --namespace) need_arg "$1" $#; NAMESPACE=$2; shift 2 ;;
        -o | --out) need_arg "$1" $#; OUT_DIR=$2; shift 2 ;;
        -d | --days) need_arg "$1" $#; DAYS=$2; shift 2 ;;
        --ca-days) need_arg "$1" $#; CA_DAYS=$2; shift 2 ;;
        --san) need_arg "$1" $#; EXTRA_SANS=${EXTRA_SANS:+$EXTRA_SANS,}$2; shift 2 ;;
        --key-type) need_arg "$1" $#; KEY_TYPE=$2; shift 2 ;;
        --reuse-ca) reuse_ca=true; shift ;;
        -f | --force) force=true; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
done

# --- inputs -----------------------------------------------------------------------------------

is_dns_label() {
    # RFC 1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric, <= 63.
    [ ${#1} -le 63 ] && printf '%s\n' "$1" | grep -Eq '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
}

is_days() {
    printf '%s\n' "$1" | grep -Eq '^[1-9][0-9]{0,5}$'
}

is_ip() {
    printf '%s\n' "$1" | grep -Eq '^([0-9]{1,3}\.){3}[0-9]{1,3}$|^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$'
}

is_dns_name() {
    printf '%s\n' "$1" | grep -Eq '^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$'
}

is_dns_label "$SERVICE" || die "service name '$SERVICE' is not a DNS label (lowercase letters, digits, '-')"
is_dns_label "$NAMESPACE" || die "namespace '$NAMESPACE' is not a DNS label (lowercase letters, digits, '-')"
is_days "$DAYS" || die "days '$DAYS' is not a positive number"
is_days "$CA_DAYS" || die "CA days '$CA_DAYS' is not a positive number"
case $KEY_TYPE in
    ecdsa | rsa) ;;
    *) die "key type '$KEY_TYPE' is neither ecdsa nor rsa" ;;
esac
command -v openssl >/dev/null 2>&1 || die "openssl not found"

fqdn="$SERVICE.$NAMESPACE.svc"
sans="DNS:$SERVICE,DNS:$SERVICE.$NAMESPACE,DNS:$fqdn,DNS:$fqdn.cluster.local"
old_ifs=$IFS
IFS=,
for san in $EXTRA_SANS; do
    IFS=$old_ifs
    san=$(printf '%s' "$san" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
    [ -n "$san" ] || continue
    if is_ip "$san"; then
        sans="$sans,IP:$san"
    elif is_dns_name "$san"; then
        sans="$sans,DNS:$san"
    else
        die "extra SAN '$san' is neither a DNS name nor an IP address"
    fi
done
IFS=$old_ifs

# --- outputs ----------------------------------------------------------------------------------

mkdir -p "$OUT_DIR" || die "cannot create $OUT_DIR"
if $reuse_ca; then
    if [ ! -f "$OUT_DIR/ca.crt" ] || [ ! -f "$OUT_DIR/ca.key" ]; then
        die "--reuse-ca: $OUT_DIR/ca.crt and ca.key must exist"
    fi
    outputs="tls.crt tls.key"
else
    outputs="ca.crt ca.key tls.crt tls.key"
fi
if ! $force; then
    for f in $outputs; do
        [ ! -e "$OUT_DIR/$f" ] || die "$OUT_DIR/$f exists; use --force to overwrite$($reuse_ca || printf ' (or --reuse-ca to renew only the serving certificate)')"
    done
fi

umask 077
work=$(mktemp -d "${TMPDIR:-/tmp}/ws3-certs.XXXXXX") || die "cannot create a temporary directory"
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

genkey() {
    if [ "$KEY_TYPE" = ecdsa ]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>"$work/err" ||
            { cat "$work/err" >&2; die "cannot generate an ECDSA key"; }
    else
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>"$work/err" ||
            { cat "$work/err" >&2; die "cannot generate an RSA key"; }
    fi
}

if [ "$KEY_TYPE" = ecdsa ]; then
    key_usage="critical,digitalSignature"
else
    key_usage="critical,digitalSignature,keyEncipherment"
fi

cat >"$work/openssl.cnf" <<EOF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = placeholder
[ v3_ca ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_server ]
basicConstraints = critical,CA:FALSE
keyUsage = $key_usage
extendedKeyUsage = serverAuth
subjectAltName = $sans
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
EOF

serial() {
    printf '0x%s' "$(openssl rand -hex 16)"
}

if $reuse_ca; then
    cp "$OUT_DIR/ca.crt" "$OUT_DIR/ca.key" "$work/"
    openssl x509 -in "$work/ca.crt" -noout 2>/dev/null || die "$OUT_DIR/ca.crt is not a certificate"
else
    echo "generating CA (valid $CA_DAYS days)" >&2
    genkey "$work/ca.key"
    openssl req -new -x509 -config "$work/openssl.cnf" -extensions v3_ca -key "$work/ca.key" \
        -subj "/CN=$SERVICE.$NAMESPACE webhook CA" -days "$CA_DAYS" -set_serial "$(serial)" -sha256 \
        -out "$work/ca.crt" 2>"$work/err" || { cat "$work/err" >&2; die "cannot create the CA certificate"; }
fi

echo "generating serving certificate for $fqdn (valid $DAYS days)" >&2
genkey "$work/tls.key"
openssl req -new -config "$work/openssl.cnf" -key "$work/tls.key" -subj "/CN=$fqdn" \
    -out "$work/tls.csr" 2>"$work/err" || { cat "$work/err" >&2; die "cannot create the certificate request"; }
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -set_serial "$(serial)" \
    -days "$DAYS" -sha256 -extfile "$work/openssl.cnf" -extensions v3_server -out "$work/tls.crt" 2>"$work/err" ||
    { cat "$work/err" >&2; die "cannot sign the serving certificate"; }
openssl verify -CAfile "$work/ca.crt" "$work/tls.crt" >/dev/null 2>"$work/err" ||
    { cat "$work/err" >&2; die "the new certificate does not verify against the CA"; }

# Certificates are public; keys stay 600.
chmod 644 "$work/ca.crt" "$work/tls.crt"
for f in $outputs; do
    cp -p "$work/$f" "$OUT_DIR/$f.tmp.$$" || die "cannot write $OUT_DIR/$f"
    mv -f "$OUT_DIR/$f.tmp.$$" "$OUT_DIR/$f" || die "cannot write $OUT_DIR/$f"
done

ca_bundle=$(openssl base64 -A -in "$OUT_DIR/ca.crt")
cat >&2 <<EOF
wrote $OUT_DIR/{$(echo "$outputs" | tr ' ' ',')}
SANs: $(echo "$sans" | sed 's/,/, /g')

Use them with the chart (tls.source=secret):
  kubectl -n $NAMESPACE create secret tls $SERVICE-tls --cert=$OUT_DIR/tls.crt --key=$OUT_DIR/tls.key
  helm install ws3 charts/ws3 -n $NAMESPACE --set fullnameOverride=$SERVICE --set tls.source=secret \\
    --set tls.secretName=$SERVICE-tls --set tls.caBundle=\$(openssl base64 -A -in $OUT_DIR/ca.crt)
Or run the webhook locally:
  WS3_CERT=$OUT_DIR/tls.crt WS3_KEY=$OUT_DIR/tls.key ws3-webhook serve

caBundle (base64 of ca.crt), on stdout:
EOF
printf '%s\n' "$ca_bundle"
