"""Benchmark harness: the gateway against gunicorn, the naive a2wsgi mount and bare uvicorn."""
