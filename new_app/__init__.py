"""The FastAPI rewrite of the help desk, one endpoint at a time. Entry point: `new_app.main:app`."""
