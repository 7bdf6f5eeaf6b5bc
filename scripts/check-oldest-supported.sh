#!/usr/bin/env bash
# The gateway installed into an old app's environment: a second virtualenv, on the oldest Python
# supported, where scripts/oldest-constraints.txt pins an old app's own versions (Flask 2.2,
# Flask-SQLAlchemy 2.5.1 and so SQLAlchemy 1.4, gunicorn 20.1) and every lower bound
# pyproject.toml states. There `pip install -c scripts/oldest-constraints.txt -e .` must
# succeed, and the tests below prove that the gateway serves (one process and gunicorn's
# workers), and writes a parity ledger that `gateway parity` reads, on SQLite and on
# PostgreSQL (through psycopg2, as SQLAlchemy 1.4 has no psycopg 3 dialect). The newest
# versions are what `make test` installs. About two minutes; `.ci/run` calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
VENV=${OLDEST_SUPPORTED_VENV:-.venv-oldest-supported}
CONSTRAINTS=scripts/oldest-constraints.txt

"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip  # resolves faster than Python 3.11's own pip 23
# The install an app's team runs beside its own pins.
"$VENV/bin/pip" install --quiet -c "$CONSTRAINTS" -e .
# What the app brings itself (its ORM, its PostgreSQL driver) and what the tests need; the
# constraints keep every version above as it is (pip fails rather than move one).
"$VENV/bin/pip" install --quiet -c "$CONSTRAINTS" -e '.[postgres]' \
  Flask-SQLAlchemy psycopg2-binary fastapi \
  "pytest>=8" "pytest-timeout>=2.3" "httpx>=0.27"
"$VENV/bin/pip" check
# Every package the constraints name is installed, at that version: a stale line fails here.
"$VENV/bin/python" - "$CONSTRAINTS" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

wrong = []
for line in open(sys.argv[1], encoding="utf-8"):
    pin = line.split("#")[0].strip()
    if not pin:
        continue
    name, wanted = pin.split("==")
    try:
        found = version(name)
    except PackageNotFoundError:
        found = "not installed"
    print(f"  {name} {found}")
    if found != wanted:
        wrong.append(f"{name}: {found}, constrained to {wanted}")
if wrong:
    sys.exit("oldest-constraints.txt does not match what is installed:\n  " + "\n  ".join(wrong))
EOF
echo "check-oldest-supported: installed in $SECONDS s"
"$VENV/bin/pytest" -q -p no:cacheprovider \
  tests/gateway/parity/test_beside_flask_sqlalchemy.py \
  tests/gateway/parity/test_drivers.py \
  tests/gateway/parity/test_admin.py \
  tests/gateway/parity/test_readiness.py \
  tests/gateway/parity/test_recorder.py \
  tests/deploy/test_draining.py::test_sigint_stops_several_workers_at_once \
  tests/deploy/test_draining.py::test_workers_replaced_on_sighup_stop_without_failing_the_pods_readiness
