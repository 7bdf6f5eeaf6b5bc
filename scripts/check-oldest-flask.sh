#!/usr/bin/env bash
# The gateway beside the oldest Flask it supports (Werkzeug>=2.0 in pyproject.toml): a second
# virtualenv with Flask 2.0 and Werkzeug 2.0, running the tests of the framework adapters, the
# Flask analysis and the path agreement, some through a real `gateway serve`, and the refusal of
# gateway.compat.flask (Flask 2.2 and later) to import here. The newest Flask is what
# `make test` installs. About a minute; `.ci/run` calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${OLDEST_FLASK_VENV:-.venv-oldest-flask}

"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet -e . "Flask==2.0.3" "Werkzeug==2.0.3" \
  "fastapi>=0.115" "Django>=4.2" "bottle>=0.12" \
  "pytest>=8" "pytest-timeout>=2.3" "hypothesis>=6.100" "httpx>=0.27" \
  "openapi-spec-validator>=0.7"  # the analysis tests validate the merged OpenAPI document
"$VENV/bin/python" -c 'import flask, werkzeug; print("Flask", flask.__version__, "Werkzeug", werkzeug.__version__)'
"$VENV/bin/pytest" -q -p no:cacheprovider \
  tests/frameworks \
  tests/guide/test_flask_analysis.py \
  tests/compat/test_versions.py \
  tests/gateway/routing/test_path_agreement.py::test_unicode_digits_werkzeug_would_take_are_refused \
  tests/gateway/routing/test_path_agreement.py::test_every_adapters_converters_agree_with_the_table \
  tests/gateway/routing/test_path_agreement.py::test_every_adapter_agrees_on_every_awkward_value
