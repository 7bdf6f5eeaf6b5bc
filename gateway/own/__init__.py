"""What the gateway answers itself, never routed to an app: `/_gateway/health`, the metrics,
the merged OpenAPI document, and the admin API and dashboard under `/_gateway/`."""
