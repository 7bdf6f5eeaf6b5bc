"""Libraries for the new application's own code, not for the gateway's serving path.

`gateway.compat.flask` lets a FastAPI app share a Flask app's session, user and request-local
state while both are served side by side; `gateway.compat.request_local` holds the one piece
that needs no Flask: a request-local value that works under both frameworks.
"""
