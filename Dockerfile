# syntax=docker/dockerfile:1
#
# The gateway, serving the legacy Flask app and its FastAPI rewrite on port 8000.
#
#   docker build -t gateway .
#   docker run -p 8000:8000 -v "$PWD/config:/app/config:ro" -v gateway-data:/app/data gateway
#
# The config folder is mounted read-only here. With GATEWAY_ROLLOUT=true (the rollout
# controller running inside the container) it must be writable instead: drop `:ro`.
# Kubernetes manifests: deploy/kubernetes (README, "Kubernetes").
#
# BASE_IMAGE may be any Debian-like image with Python >= 3.11 and the venv module
# (python3 -m venv); the build calls only `python3`. Where the default registry is not
# reachable, pass a local image: --build-arg BASE_IMAGE=localhost/python:3.11-bookworm
# (tests/container/build_and_smoke.sh builds one and checks this file end to end).
# Both stages must use the same base: the virtual environment links to its Python.
#
# Your own apps in an image, two ways (deploy/own-image has both, with a Flask app, its FastAPI
# rewrite and a routes file; tests/container/build_and_smoke.sh builds and serves both):
#
# - FROM this image (deploy/own-image/Dockerfile): add your apps under /app, your routes file
#   as /app/config/routes.yaml and GATEWAY_LEGACY_APP / GATEWAY_NEW_APP; the CMD, HEALTHCHECK,
#   user and data volume are kept. This image has no pip: to add your apps' own dependencies,
#   bring it for that one step (`python3 -m ensurepip`, install, `pip check`, uninstall):
#
#       FROM gateway
#       USER root
#       COPY requirements.txt /tmp/
#       RUN python3 -m ensurepip --default-pip && python3 -m pip install -r /tmp/requirements.txt \
#        && python3 -m pip check && python3 -m pip uninstall --yes pip setuptools
#       COPY myapp/ /app/myapp/
#       COPY routes.yaml /app/config/routes.yaml
#       ENV GATEWAY_LEGACY_APP=myapp.wsgi:app GATEWAY_NEW_APP=myapp_v2.main:app
#       USER 10001:10001
#
# - The gateway installed in your own image (deploy/own-image/Dockerfile.installed): one more
#   requirement, `flask-fastapi-gateway @ git+https://...` or a wheel from `python -m build`
#   (docs/install.md), and `gateway serve --host 0.0.0.0` as the command.

ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# Build stage: a virtual environment in /opt/venv holding the project and its dependencies.
FROM ${BASE_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

RUN python3 -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src

# Dependencies first, from the lock file alone, so this layer is rebuilt only when they change,
# not on every source edit. Every package is pinned and hashed (`make lock` writes the file
# from pyproject.toml: the runtime with gunicorn for --workers, the `postgres` extra for a
# PostgreSQL ledger, the `examples` and `kubernetes` extras, and the build backend), and pip
# installs nothing else (--no-deps): two builds of one commit install the same files, and a
# package altered on the index fails the build.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock

# Then the gateway itself, as a regular, non-editable install: the runtime image needs no
# source tree. Built with the locked setuptools (--no-build-isolation), not whatever the
# index offers that day.
COPY pyproject.toml README.md ./
COPY gateway/ gateway/
# pip compiles the bytecode here, as the runtime user cannot write to /opt/venv. The runtime
# never installs anything, so the installer and setuptools go.
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
 && pip check \
 && python3 -m pip uninstall --yes pip setuptools

# ---------------------------------------------------------------------------------------------
# Runtime stage.
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="flask-fastapi-gateway" \
      org.opencontainers.image.description="A gateway serving a Flask app and its FastAPI rewrite, route by route" \
      org.opencontainers.image.licenses="MIT"

# A fixed, numeric, unprivileged user (numeric so that runAsNonRoot can check it).
ARG APP_UID=10001
ARG APP_GID=10001
RUN groupadd --gid "${APP_GID}" gateway \
 && useradd --no-log-init --uid "${APP_UID}" --gid gateway --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin gateway

COPY --from=build /opt/venv /opt/venv

WORKDIR /app

# Default configuration, owned by root and read-only for the gateway; mount your own folder
# over /app/config (it is watched: edits to routes.yaml are picked up without a restart).
COPY config/ /app/config/
# The example apps are not part of the installed package: served from the working directory.
COPY legacy_app/ /app/legacy_app/
COPY new_app/ /app/new_app/
# The SQLite databases (the example's, the parity ledger) live in /app/data, the one folder the
# gateway may write to.
RUN mkdir -p /app/data \
 && chown gateway:gateway /app/data \
 && chmod 0750 /app/data

ENV PATH="/opt/venv/bin:${PATH}" \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GATEWAY_ROUTES_FILE=/app/config/routes.yaml \
    GATEWAY_WORKERS=1 \
    GATEWAY_DATA_DIR=/app/data \
    HELPDESK_DATABASE_URL=sqlite:////app/data/helpdesk.db

# /app/config is meant to be bind-mounted (read-only) but is not a VOLUME, so that images built
# FROM this one can still COPY their own routes.yaml into it.
VOLUME ["/app/data"]

USER ${APP_UID}:${APP_GID}

EXPOSE 8000

# /_gateway/health is answered by the gateway itself, whatever the route table says, with no
# token: 200 while the process can serve, 503 while it shuts down or when its WSGI threads are
# stuck at their cap (urlopen raises on a 503, so the check fails and the container restarts).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/_gateway/health', timeout=4).status == 200 else 1)"]

# The gateway is PID 1, so it gets SIGTERM directly and shuts down gracefully. The worker count
# and the other server options come from the environment (GATEWAY_WORKERS above,
# GATEWAY_TIMEOUT_KEEP_ALIVE, GATEWAY_SSL_CERTFILE, ...: `gateway serve -h`). Override the
# command to run other subcommands, e.g. `gateway check`.
CMD ["gateway", "serve", "--host", "0.0.0.0", "--port", "8000"]
