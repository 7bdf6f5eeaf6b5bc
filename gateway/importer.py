"""Resolve `"package.module:attribute"` import strings, as uvicorn and gunicorn do."""

from __future__ import annotations

import importlib
from typing import Any


class ImportFromStringError(ValueError):
    pass


def import_from_string(import_str: str) -> Any:
    module_name, _, attrs = import_str.partition(":")
    if not module_name or not attrs:
        raise ImportFromStringError(
            f'import string "{import_str}" must be in the format "<module>:<attribute>"'
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
            raise  # the module exists but one of its own imports is missing: show that
        raise ImportFromStringError(
            f'could not import module "{module_name}" (from "{import_str}")'
        ) from exc
    instance: Any = module
    for attr in attrs.split("."):
        try:
            instance = getattr(instance, attr)
        except AttributeError:
            raise ImportFromStringError(
                f'attribute "{attrs}" not found in module "{module_name}" (from "{import_str}")'
            ) from None
    return instance
