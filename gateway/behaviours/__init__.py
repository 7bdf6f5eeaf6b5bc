"""Routing behaviours: one module each, registered in one place."""
