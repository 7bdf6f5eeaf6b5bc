"""calibre-web as a WSGI import string, for gunicorn and `gateway serve`.

calibre-web has no module-level app to serve: its `main()` builds the app, registers its
blueprints, then starts its own server (Tornado) and exits when it stops. Here the same `main()`
runs with that last step made a no-op, so the app it built is calibre-web's own, wired as it
wires it. Its command line is parsed at build time (argparse over sys.argv), so sys.argv is
calibre-web's for that moment: the settings database from CALIBRE_SETTINGS_DB, and `-m`, the
rate limiter's in-memory backend.

Only importable where calibre-web is installed (its own virtualenv).
"""

import os
import sys

import calibreweb  # noqa: F401  (puts calibre-web's folder on sys.path, so `cps` imports)

_argv = sys.argv
sys.argv = ["calibreweb", "-p", os.environ["CALIBRE_SETTINGS_DB"], "-m"]
try:
    import cps
    from cps import main as _main

    cps.web_server.start = lambda: True
    # calibre-web's updater waits in a thread its own server stops on shutdown; here the
    # process belongs to gunicorn or the gateway (or a one-shot `gateway check`), and a thread
    # that is not a daemon would keep it from exiting.
    cps.updater_thread.daemon = True
    try:
        _main.main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
finally:
    sys.argv = _argv

app = cps.app
