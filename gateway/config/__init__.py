"""Reading the routes file (YAML) into a route table: its bounds, its `defaults:` and every
problem reported at once, with its line."""
