"""A dual-stack ASGI/WSGI gateway for moving a Flask API to FastAPI one route at a time."""

__version__ = "0.1.0"
