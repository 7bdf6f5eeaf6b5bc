"""Serving the legacy WSGI app from the gateway's event loop (see `bridge`)."""

from gateway.wsgi.bridge import WSGIBridge
from gateway.wsgi.limits import BridgeLimits, BridgeObserver, Unobserved

__all__ = ["BridgeLimits", "BridgeObserver", "Unobserved", "WSGIBridge"]
