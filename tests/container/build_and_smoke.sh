#!/usr/bin/env bash
# Build the project's Dockerfile and smoke-test the image, without a Docker daemon.
#
# A manual check, not run in CI (it takes minutes and needs root). On a Debian bookworm host:
#
#   sudo tests/container/build_and_smoke.sh
#
# What it does:
#   1. installs buildah, podman and debootstrap if they are missing (apt-get);
#   2. makes two local base images, reused when they already exist:
#        localhost/debian:bookworm        debootstrap --variant=minbase, imported with podman
#        localhost/python:3.11-bookworm   that + Debian's python3, python3-venv, python3-pip
#      (image registries may be unreachable, so the Dockerfile's default base is not pulled);
#   3. builds the Dockerfile, unchanged, with --build-arg BASE_IMAGE=localhost/python:3.11-bookworm;
#   4. checks the image config (non-root numeric USER, HEALTHCHECK, EXPOSE 8000, VOLUME), and
#      that the image holds exactly requirements.lock's packages (and the gateway);
#   5. in a container of the image: `id` is not root, `gateway check` passes, and the image's own
#      CMD serves (GATEWAY_WORKERS=1, then 2): /metrics (the gateway), /health (the legacy app),
#      a GET endpoint the route table sends to the new app, and the image's HEALTHCHECK command
#      succeeds. The server runs in a private network namespace, so port 8000 on the host is
#      neither needed nor exposed;
#   6. your own apps in an image, both ways of deploy/own-image: FROM the image just built
#      (Dockerfile), and the gateway installed in an image of your own from a wheel built here
#      (Dockerfile.installed); each serves its Flask app and FastAPI rewrite, with a dependency
#      of their own, as a non-root user.
#
# Exits non-zero on the first failure. Settings (environment):
#   IMAGE=localhost/gateway:test   tag to build
#   REBUILD_BASES=1                rebuild both base images even if they exist
#   NO_CACHE=1                     build the Dockerfile without layer cache
#   EXTRA_CA_DIR=/usr/local/share/ca-certificates
#                                  *.crt files trusted by the Python base image (for a
#                                  TLS-intercepting proxy between the build and PyPI); the
#                                  project's Dockerfile is not involved
#   DEBIAN_MIRROR=http://deb.debian.org/debian

set -Eeuo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEBIAN_IMAGE=localhost/debian:bookworm
PYTHON_IMAGE=localhost/python:3.11-bookworm
IMAGE=${IMAGE:-localhost/gateway:test}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
EXTRA_CA_DIR=${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
SERVER_WAIT_SECONDS=60

WORKDIR_TMP=$(mktemp -d /tmp/gateway-smoke.XXXXXX)
CONTAINER=""

log() { printf '\n==> %s\n' "$*" >&2; }
fail() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }

cleanup() {
    if [[ -n "$CONTAINER" ]]; then
        buildah rm "$CONTAINER" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORKDIR_TMP"
}
trap cleanup EXIT
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || fail "run as root (buildah --isolation chroot and debootstrap need it)"

missing=()
for tool in buildah podman debootstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi
command -v unshare >/dev/null && command -v ip >/dev/null \
    || fail "needs unshare (util-linux) and ip (iproute2)"

# ---------------------------------------------------------------------------------------------
if [[ -n "${REBUILD_BASES:-}" ]] || ! image_exists "$DEBIAN_IMAGE"; then
    log "making $DEBIAN_IMAGE with debootstrap"
    rootfs="$WORKDIR_TMP/rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR"
    rm -f "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . | podman import - "$DEBIAN_IMAGE"
    rm -rf "$rootfs"
else
    log "reusing $DEBIAN_IMAGE"
fi

if [[ -n "${REBUILD_BASES:-}" ]] || ! image_exists "$PYTHON_IMAGE"; then
    log "making $PYTHON_IMAGE"
    context="$WORKDIR_TMP/python-base"
    mkdir -p "$context/ca"
    if compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then
        cp "$EXTRA_CA_DIR"/*.crt "$context/ca/"
    fi
    cat >"$context/Containerfile" <<'EOF'
FROM localhost/debian:bookworm
ENV LANG=C.UTF-8
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip ca-certificates \
 && ln -sf /usr/bin/python3 /usr/local/bin/python \
 && rm -rf /var/lib/apt/lists/*
# Certificates of the local network's TLS proxy, if any; pip in a venv reads PIP_CERT.
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
EOF
    buildah bud --isolation chroot --format docker -t "$PYTHON_IMAGE" "$context"
else
    log "reusing $PYTHON_IMAGE"
fi

# ---------------------------------------------------------------------------------------------
for path in legacy_app/wsgi.py new_app/main.py config/routes.yaml; do
    [[ -f "$REPO_ROOT/$path" ]] || fail "$path is missing"
done

log "building $IMAGE from $REPO_ROOT/Dockerfile"
build_args=(--isolation chroot --format docker --layers
            --build-arg "BASE_IMAGE=$PYTHON_IMAGE" -t "$IMAGE")
[[ -n "${NO_CACHE:-}" ]] && build_args+=(--no-cache)
started=$(date +%s)
buildah bud "${build_args[@]}" "$REPO_ROOT"
build_seconds=$(($(date +%s) - started))

# ---------------------------------------------------------------------------------------------
log "checking the image config"
buildah inspect --type image "$IMAGE" >"$WORKDIR_TMP/inspect.json"
# Prints the CMD and the HEALTHCHECK command as shell words, one per line.
python3 - "$WORKDIR_TMP/inspect.json" >"$WORKDIR_TMP/commands" <<'EOF'
import json, shlex, sys

config = json.load(open(sys.argv[1]))["Docker"]["config"]  # --format docker keeps HEALTHCHECK
problems = []
user = config.get("User") or ""
if not user.split(":")[0].isdigit() or user.split(":")[0] == "0":
    problems.append(f"USER should be a numeric non-root uid, is {user!r}")
if "8000/tcp" not in (config.get("ExposedPorts") or {}):
    problems.append("EXPOSE 8000 is missing")
if "/app/data" not in (config.get("Volumes") or {}):
    problems.append("VOLUME /app/data is missing")
test = (config.get("Healthcheck") or {}).get("Test") or []
if not test or test[0] not in ("CMD", "CMD-SHELL"):
    problems.append(f"HEALTHCHECK is missing or unusable: {test!r}")
cmd = config.get("Cmd") or []
if not cmd:
    problems.append("CMD is missing")
env = dict(item.split("=", 1) for item in config.get("Env") or [])
for name, value in {
    "GATEWAY_ROUTES_FILE": "/app/config/routes.yaml",
    "HELPDESK_DATABASE_URL": "sqlite:////app/data/helpdesk.db",
    "GATEWAY_DATA_DIR": "/app/data",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}.items():
    if env.get(name) != value:
        problems.append(f"ENV {name} should be {value!r}, is {env.get(name)!r}")
if problems:
    sys.exit("image config: " + "; ".join(problems))
print(f"user={user} healthcheck={test} cmd={cmd}", file=sys.stderr)
print(shlex.join((config.get("Entrypoint") or []) + cmd))
if test[0] == "CMD":
    print(shlex.join(test[1:]))
else:
    print(shlex.join(["sh", "-c", test[1]]))
EOF
{ read -r server_command; read -r healthcheck_command; } <"$WORKDIR_TMP/commands"

CONTAINER=$(buildah from "$IMAGE")
run() { buildah run --isolation chroot "$@"; }

log "user inside the container"
uid=$(run "$CONTAINER" -- id -u)
run "$CONTAINER" -- id
[[ "$uid" != 0 ]] || fail "the container runs as root"

log "installed packages against requirements.lock"
# The image must hold exactly the lock's pins (pip and setuptools removed) and the gateway:
# what makes two builds of one commit the same.
run "$CONTAINER" -- python3 -c 'import importlib.metadata as m; print("\n".join(d.metadata["Name"] + "==" + d.version for d in m.distributions()))' \
    >"$WORKDIR_TMP/installed"
python3 - "$REPO_ROOT/requirements.lock" "$WORKDIR_TMP/installed" <<'EOF'
import re, sys

def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()

locked = {}
for line in open(sys.argv[1], encoding="utf-8"):
    match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
    if match:
        locked[canonical(match.group(1))] = match.group(2)
for name in ("pip", "setuptools"):
    locked.pop(name, None)
installed = {}
for line in open(sys.argv[2], encoding="utf-8"):
    name, _, version = line.strip().partition("==")
    if name:
        installed[canonical(name)] = version
if installed.pop("flask-fastapi-gateway", None) is None:
    sys.exit("the gateway itself is not installed in the image")
if installed != locked:
    extra = sorted(set(installed.items()) - set(locked.items()))
    missing = sorted(set(locked.items()) - set(installed.items()))
    sys.exit(f"the image differs from requirements.lock: extra {extra}, missing {missing}")
print(f"{len(installed)} packages, exactly requirements.lock's pins", file=sys.stderr)
EOF

log "gateway check"
run "$CONTAINER" -- sh -c 'gateway check'

# The probe, run inside the container once the server is up.
cat >"$WORKDIR_TMP/probe.py" <<'EOF'
import os, subprocess, sys, time, urllib.error, urllib.request

BASE = "http://127.0.0.1:8000"


def get(path):
    try:
        with urllib.request.urlopen(BASE + path, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


deadline = time.monotonic() + float(os.environ["SERVER_WAIT_SECONDS"])
while True:
    try:
        status, _, body = get("/metrics")
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("the server did not answer on port 8000")
        time.sleep(0.5)
assert status == 200, f"/metrics: {status}"
print(f"/metrics: {status}, {len(body)} bytes (answered by the gateway)")

status, headers, body = get("/health")
print(f"/health: {status} X-Gateway-Side={headers.get('X-Gateway-Side')} {body[:80]!r}")
assert status == 200, "/health should answer 200"

# The new side: the first parameterless GET endpoint that the route table sends to the new app
# (streaming endpoints are not in that set: they stay on the legacy side).
listing = subprocess.run(["gateway", "routes"], capture_output=True, text=True, check=True).stdout
rows = [line.split() for line in listing.splitlines()]
paths = [
    row[2] for row in rows
    if len(row) == 4 and row[0] == "new" and row[3] == "new"
    and "GET" in row[1].split(",") and "{" not in row[2]
]
if paths:
    status, headers, body = get(paths[0])
    side = headers.get("X-Gateway-Side")
    print(f"{paths[0]}: {status} X-Gateway-Side={side} {body[:80]!r}")
    assert status < 500, f"{paths[0]} failed"
    assert side in (None, "new"), f"{paths[0]} was served by {side}, not new"
else:
    print("(the route table sends no parameterless GET endpoint to the new app)")
EOF

# Inside the container: start the image's own CMD, probe, run the image's own HEALTHCHECK
# command, then stop the server with SIGTERM as `docker stop` would.
{
    echo 'set -u'
    echo "$server_command &"
    echo 'server=$!'
    echo 'fail() { echo "$1" >&2; kill "$server" 2>/dev/null; exit 1; }'
    echo "SERVER_WAIT_SECONDS=$SERVER_WAIT_SECONDS python3 /tmp/smoke/probe.py || fail 'probe failed'"
    echo "$healthcheck_command || fail 'healthcheck failed'"
    echo 'echo "healthcheck command: ok"'
    echo 'kill -TERM "$server"; wait "$server"; code=$?'
    # uvicorn shuts down gracefully, then re-raises the signal: 143 (128 + SIGTERM) is normal.
    echo 'echo "server exited with $code after SIGTERM"; [ "$code" -eq 0 ] || [ "$code" -eq 143 ]'
} >"$WORKDIR_TMP/serve_and_probe.sh"
echo "--- serve_and_probe.sh" >&2
cat "$WORKDIR_TMP/serve_and_probe.sh" >&2

buildah copy --chown 0:0 "$CONTAINER" "$WORKDIR_TMP/serve_and_probe.sh" /tmp/smoke/serve_and_probe.sh >/dev/null
buildah copy --chown 0:0 "$CONTAINER" "$WORKDIR_TMP/probe.py" /tmp/smoke/probe.py >/dev/null

for workers in 1 2; do
    log "serving with the image's CMD, GATEWAY_WORKERS=$workers (private network namespace)"
    # --network host inside `unshare --net`: the container shares a fresh namespace that has
    # only a loopback interface.
    unshare --net -- sh -c '
        ip link set lo up &&
        exec buildah run --isolation chroot --network host --env GATEWAY_WORKERS="$1" "$2" -- sh /tmp/smoke/serve_and_probe.sh
    ' sh "$workers" "$CONTAINER"
done

size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
log "OK: $IMAGE built in ${build_seconds}s, $((size / 1000000)) MB"
podman images "$IMAGE"

# ---------------------------------------------------------------------------------------------
# Your own apps in an image (deploy/own-image): FROM the image just built, and the gateway
# installed in an image of your own from a wheel built here. Each serves the example there, a
# Flask app and its FastAPI rewrite with a dependency of their own: /hello from the new app,
# /health from the legacy one.
cat >"$WORKDIR_TMP/own_probe.py" <<'EOF'
import os, sys, time, urllib.request

BASE = "http://127.0.0.1:8000"
deadline = time.monotonic() + float(os.environ["SERVER_WAIT_SECONDS"])
while True:
    try:
        urllib.request.urlopen(BASE + "/health", timeout=5).read()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("the server did not answer on port 8000")
        time.sleep(0.5)
for path, side, text in [("/hello", "new", "from FastAPI"), ("/health", "legacy", "ok")]:
    with urllib.request.urlopen(BASE + path, timeout=5) as response:
        body = response.read().decode()
        served_by = response.headers.get("X-Gateway-Side")
    print(f"{path}: {response.status} X-Gateway-Side={served_by} {body}")
    assert served_by == side and text in body, (path, served_by, body)
EOF

own_image_smoke() {
    local image=$1 command container
    command=$(buildah inspect --type image "$image" | python3 -c '
import json, shlex, sys
config = json.load(sys.stdin)["Docker"]["config"]
print(shlex.join((config.get("Entrypoint") or []) + config["Cmd"]))')
    {
        echo 'set -u'
        echo "$command &"
        echo 'server=$!'
        echo "SERVER_WAIT_SECONDS=$SERVER_WAIT_SECONDS python3 /tmp/smoke/own_probe.py || { kill \"\$server\"; exit 1; }"
        echo 'kill -TERM "$server"; wait "$server"; code=$?'
        echo 'echo "server exited with $code after SIGTERM"; [ "$code" -eq 0 ] || [ "$code" -eq 143 ]'
    } >"$WORKDIR_TMP/own_serve.sh"
    container=$(buildah from "$image")
    CONTAINER="$container"  # removed on exit if a step fails
    buildah copy --chown 0:0 "$container" "$WORKDIR_TMP/own_serve.sh" /tmp/smoke/own_serve.sh >/dev/null
    buildah copy --chown 0:0 "$container" "$WORKDIR_TMP/own_probe.py" /tmp/smoke/own_probe.py >/dev/null
    [[ $(run "$container" -- id -u) != 0 ]] || fail "$image runs as root"
    unshare --net -- sh -c '
        ip link set lo up &&
        exec buildah run --isolation chroot --network host "$1" -- sh /tmp/smoke/own_serve.sh
    ' sh "$container"
    buildah rm "$container" >/dev/null
    CONTAINER=""
}

buildah rm "$CONTAINER" >/dev/null
CONTAINER=""
OWN_CONTEXT="$WORKDIR_TMP/own-image"
cp -r "$REPO_ROOT/deploy/own-image" "$OWN_CONTEXT"

log "your apps FROM $IMAGE (deploy/own-image/Dockerfile)"
started=$(date +%s)
buildah bud --isolation chroot --format docker --layers \
    --build-arg "GATEWAY_IMAGE=$IMAGE" -t "$IMAGE-own-apps" "$OWN_CONTEXT"
log "built in $(($(date +%s) - started))s; serving"
own_image_smoke "$IMAGE-own-apps"

log "the gateway installed in your image (deploy/own-image/Dockerfile.installed), from a wheel"
"${PYTHON:-python3}" -m pip wheel --quiet --no-deps -w "$OWN_CONTEXT/wheels" "$REPO_ROOT"
wheel=$(basename "$(ls "$OWN_CONTEXT"/wheels/*.whl)")
started=$(date +%s)
buildah bud --isolation chroot --format docker --layers -f "$OWN_CONTEXT/Dockerfile.installed" \
    --build-arg "BASE_IMAGE=$PYTHON_IMAGE" --build-arg "GATEWAY_REQUIREMENT=/tmp/wheels/$wheel" \
    -t "$IMAGE-installed" "$OWN_CONTEXT"
log "built in $(($(date +%s) - started))s; serving"
own_image_smoke "$IMAGE-installed"
log "OK: $IMAGE-own-apps and $IMAGE-installed serve your apps"
