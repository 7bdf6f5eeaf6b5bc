"""What the gateway tells about itself: the one place answers are counted (accounting), the
metrics, the access log, its own endpoints (health, metrics, the admin API) and the dashboard."""
