#!/usr/bin/env bash
# The package as a user installs it, not the checkout: `python -m build` makes the sdist, then
# the wheel from the sdist; the wheel goes into a fresh virtualenv with its runtime dependencies
# alone, and serves the example apps, which stay in the repository (they are not in the
# package): imported with --app-dir from the checkout, run from another folder so that nothing
# of the checkout's gateway/ can be imported instead of the installed one. Then the sdist
# installs too. `.ci/run` calls it; it prints its time (about a minute and a half, most of it
# pip).
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOUT=$PWD
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d /tmp/gateway-package.XXXXXX)
SERVER=""
cleanup() {
    [[ -n "$SERVER" ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
start=$SECONDS
fail() { echo "check-package: FAIL: $*" >&2; [[ -f "$WORK/server.log" ]] && cat "$WORK/server.log" >&2; exit 1; }

echo "==> python -m build (sdist, then the wheel from it)"
"$PYTHON" -m venv "$WORK/build-venv"
"$WORK/build-venv/bin/pip" install --quiet "build>=1.0"
"$WORK/build-venv/bin/python" -m build --outdir "$WORK/dist" "$CHECKOUT" >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log" >&2; fail "python -m build"; }
wheel=$(ls "$WORK"/dist/*.whl)
sdist=$(ls "$WORK"/dist/*.tar.gz)
echo "built $(basename "$sdist") and $(basename "$wheel")"

echo "==> the wheel in a fresh virtualenv, runtime dependencies only"
VENV=$WORK/venv
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "$wheel"
"$VENV/bin/pip" check
cd "$WORK"  # not the checkout: `gateway` must be the installed package
"$VENV/bin/gateway" --version
"$VENV/bin/gateway" -h >/dev/null
"$VENV/bin/python" - "$VENV" <<'EOF'
import importlib.metadata, importlib.util, sys

import gateway

assert gateway.__file__.startswith(sys.argv[1]), f"gateway imported from {gateway.__file__}"
# Nothing of the example apps' nor of the development tools came with it.
for name in ("flask", "fastapi", "pytest", "httpx", "mypy"):
    assert importlib.util.find_spec(name) is None, f"{name} was installed with the wheel"
print(len(list(importlib.metadata.distributions())), "distributions installed")
EOF

echo "==> serving the example from the checkout (its own dependencies: the examples extra)"
"$VENV/bin/pip" install --quiet "$wheel[examples]"
port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
GATEWAY_ROUTES_FILE=$CHECKOUT/config/routes.yaml \
GATEWAY_DATA_DIR=$WORK/data \
GATEWAY_DRAIN_SECONDS=0 \
HELPDESK_DATABASE_URL=sqlite:///$WORK/helpdesk.db \
    "$VENV/bin/gateway" serve --port "$port" --app-dir "$CHECKOUT" >"$WORK/server.log" 2>&1 &
SERVER=$!
"$VENV/bin/python" - "$port" <<'EOF' || fail "the example did not answer as expected"
import sys, time, urllib.error, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"


def get(path, **headers):
    request = urllib.request.Request(base + path, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers.get("X-Gateway-Side")


deadline = time.monotonic() + 60
while True:
    try:
        get("/health")
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("the gateway did not answer within 60 s")
        time.sleep(0.2)
for path, headers, side in [
    ("/health", {}, "legacy"),
    ("/api/me", {"X-Token": "agent-token"}, "new"),
]:
    status, served_by = get(path, **headers)
    print(f"{path}: {status} X-Gateway-Side={served_by}")
    assert status == 200 and served_by == side, (path, status, served_by)
EOF
kill -TERM "$SERVER"
wait "$SERVER" || fail "the server did not stop cleanly on SIGTERM"
SERVER=""

echo "==> the sdist installs too"
"$VENV/bin/pip" install --quiet --force-reinstall --no-deps "$sdist"
"$VENV/bin/gateway" --version

echo "check-package.sh: ok in $((SECONDS - start)) s"
