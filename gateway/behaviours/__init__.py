"""Routing behaviours, one module each: what a routes-file entry's `target` does.

`legacy` and `new` (direct.py), `canary`, `shadow` (with compare.py), and the options that
modify them, `fallback` and `guard`. They are named in one place, registry.py.
"""
