"""Serving one request: its facts (`Exchange`), the one way to call a side (`SideCaller`),
calling and counting in one step (`Serving`), and the outcome bus every answer goes through."""
