"""Serving the legacy WSGI app from the gateway's event loop (see `bridge`)."""

from gateway.wsgi.bridge import WSGIBridge

__all__ = ["WSGIBridge"]
