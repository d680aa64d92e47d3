#!/usr/bin/env bash
# Builds the ws3-webhook image as the Containerfile says, offline with podman, and checks it.
# `podman run` does not work on these machines (crun: "cgroups in hybrid mode not supported"),
# so the image's root filesystem is exported (`podman create` + `podman export`) and the binary
# is run inside it with `chroot --userspec=<the image's user>`, with an environment like the one
# the Helm chart gives the pod:
# - the image: tagged as the chart pulls it, USER 65532:65532, entrypoint /ws3-webhook, cmd serve,
#   and no file but the binary;
# - the binary is static (no ELF interpreter, no shared libraries): it runs in that empty root;
# - `ws3-webhook --version` prints the Cargo version;
# - `ws3-webhook serve` with the in-cluster configuration (service-account files and
#   KUBERNETES_SERVICE_HOST, here pointing at a closed local port: there is no cluster) answers
#   /healthz at once, /readyz 503 waiting for the watch caches, and judges a captured
#   AdmissionReview over HTTPS with the embedded rules (a denial that does not show the password),
#   then exits 0 on SIGTERM.
#
# Needs root (chroot), podman, openssl, curl, readelf; tests/ci.sh installs podman.
# WS3_WEBHOOK_BIN=FILE uses that static binary instead of building it.
set -euo pipefail
cd "$(dirname "$0")/../.."
target_dir=${CARGO_TARGET_DIR:-$PWD/target}

passed=0 failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() {
  echo
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit
}

version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')
# The image the Helm chart pulls by default: image.repository and the chart's appVersion.
repository=$(python3 -c 'import yaml; print(yaml.safe_load(open("charts/ws3/values.yaml"))["image"]["repository"])')
app_version=$(python3 -c 'import yaml; print(yaml.safe_load(open("charts/ws3/Chart.yaml"))["appVersion"])')
image=$repository:$version
if [ "$app_version" = "$version" ]; then
  pass "the chart pulls $image by default (appVersion $app_version = Cargo version)"
else
  fail "charts/ws3/Chart.yaml appVersion $app_version is not the Cargo version $version"
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The static binary.
if [ -n "${WS3_WEBHOOK_BIN:-}" ]; then
  bin=$WS3_WEBHOOK_BIN
else
  # Static (glibc, static-pie); symbols kept for backtraces, the line tables dropped (181 MB -> 41 MB).
  cargo rustc --release --quiet -p ws3-webhook --bin ws3-webhook -- -C target-feature=+crt-static -C strip=debuginfo
  bin=$target_dir/release/ws3-webhook
fi
if readelf -lW "$bin" | grep -q 'program interpreter' || readelf -dW "$bin" | grep -q '(NEEDED)'; then
  readelf -lW "$bin" | grep -i interpreter || true
  readelf -dW "$bin" | grep NEEDED || true
  fail "$bin is dynamically linked"
  finish
fi
pass "$bin is statically linked (no ELF interpreter, no shared library)"

# 2. The image, from a context holding nothing but the binary.
context=$work/context
mkdir -p "$context"
cp "$bin" "$context/ws3-webhook"
start=$(date +%s%N)
podman build --quiet --ignorefile .containerignore -f Containerfile -t "$image" "$context" >"$work/build.log" 2>&1 || {
  cat "$work/build.log"
  fail "podman build"
  finish
}
pass "podman build -t $image ($((($(date +%s%N) - start) / 1000000)) ms)"

config=$(podman image inspect --format '{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$image")
if [ "$config" = '65532:65532 ["/ws3-webhook"] ["serve"]' ]; then
  pass "image config: user 65532:65532, entrypoint /ws3-webhook, cmd serve"
else
  fail "image config is '$config'"
fi

# 3. Its root filesystem, as a runtime would unpack it.
rootfs=$work/rootfs
mkdir -p "$rootfs"
cid=$(podman create "$image")
podman export "$cid" | tar -x -C "$rootfs"
podman rm --force "$cid" >/dev/null
# podman create adds empty mount points (dev, proc, sys, etc, run); only the binary is a file.
files=$(cd "$rootfs" && find . -type f -o -type l | sort | tr '\n' ' ')
if [ "$files" = "./ws3-webhook " ]; then
  pass "the image holds one file, /ws3-webhook ($(du -h "$rootfs/ws3-webhook" | cut -f1))"
else
  fail "the image holds: $files"
fi
chroot=$(command -v chroot) # env -i clears PATH
out=$(env -i "$chroot" --userspec=65532:65532 "$rootfs" /ws3-webhook --version 2>&1) || true
if [ "$out" = "ws3-webhook $version" ]; then
  pass "chroot --userspec=65532:65532: /ws3-webhook --version prints '$out'"
else
  fail "/ws3-webhook --version printed '$out', want 'ws3-webhook $version'"
fi

# 4. serve, configured as the chart configures the pod. A container runtime gives every
# container /dev/null, zero, random and urandom; the chroot gets the same (the static binary
# reads randomness from /dev/urandom: glibc's getrandom cannot be looked up without a dynamic
# loader, so the getrandom crate falls back to the device).
mkdir -p "$rootfs/dev"
for dev in null:3 zero:5 random:8 urandom:9; do
  mknod -m 0666 "$rootfs/dev/${dev%:*}" c 1 "${dev#*:}"
done
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
https_port=$(free_port)
health_port=$(free_port)
api_port=$(free_port) # nothing listens there: the API server is down
tls=$rootfs/etc/ws3/tls
sa=$rootfs/var/run/secrets/kubernetes.io/serviceaccount
mkdir -p "$tls" "$sa"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=ws3-webhook.ws3.svc \
  -addext subjectAltName=DNS:ws3-webhook.ws3.svc,IP:127.0.0.1 \
  -keyout "$tls/tls.key" -out "$tls/tls.crt" 2>/dev/null
cp "$tls/tls.crt" "$sa/ca.crt"
echo ws3 >"$sa/namespace"
printf not-a-real-token >"$sa/token" # no newline, as the kubelet writes it
chown -R 65532:65532 "$rootfs/etc/ws3"
chmod 0400 "$tls/tls.key"

env -i KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$api_port" \
  WS3_ADDR="127.0.0.1:$https_port" WS3_HEALTH_ADDR="127.0.0.1:$health_port" \
  WS3_CERT=/etc/ws3/tls/tls.crt WS3_KEY=/etc/ws3/tls/tls.key POD_NAMESPACE=ws3 \
  WS3_SHUTDOWN_DELAY=0 WS3_LOG=info \
  "$chroot" --userspec=65532:65532 "$rootfs" /ws3-webhook serve >"$work/serve.log" 2>&1 &
server_pid=$!

# curl_until URL WANT: the body of URL once it contains WANT (50 tries, 0.2 s apart).
curl_until() {
  local body=
  for _ in $(seq 50); do
    body=$(curl --silent --max-time 2 "$1" 2>/dev/null) || body=
    if grep -q "$2" <<<"$body"; then
      echo "$body"
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "$body"
  return 1
}

if body=$(curl_until "http://127.0.0.1:$health_port/healthz" ok); then
  pass "serve in the image answers /healthz: $body"
else
  cat "$work/serve.log"
  fail "no /healthz answer"
  finish
fi
# Rule modules compile in well under a second; the watch caches never sync without a cluster.
if body=$(curl_until "http://127.0.0.1:$health_port/readyz" 'not ready: watch caches not synced'); then
  pass "/readyz: $body"
else
  fail "/readyz said '$body', want 'not ready: watch caches not synced: ...'"
fi

review=webhook/tests/fixtures/admission/configmap-create-postgres-config-009.json
response=$(curl --silent --max-time 10 --cacert "$tls/tls.crt" -H 'Content-Type: application/json' \
  --data-binary "@$review" "https://127.0.0.1:$https_port/validate") || response=
if python3 - "$response" <<'EOF'; then
import json, sys
r = json.loads(sys.argv[1])["response"]
assert r["allowed"] is False, r
assert "postgres-credentials-in-configmap" in r["status"]["message"], r
assert "admin123" not in sys.argv[1], "the password is in the response"
EOF
  pass "POST /validate over TLS: a ConfigMap with a postgres password is denied by postgres-credentials-in-configmap (password not shown)"
else
  fail "POST /validate answered: $response"
fi

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
if [ "$status" = 0 ]; then
  pass "serve exits 0 on SIGTERM"
else
  fail "serve exited $status on SIGTERM"
fi
echo "--- serve log (first lines)"
head -n 8 "$work/serve.log" | cut -c1-300
finish
