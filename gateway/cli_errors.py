"""How the `gateway` commands end on an error: one `error:` line on stderr, then an exit code.

One home for the three command groups (`gateway`, `gateway rollout`, `gateway parity`), which
cannot import each other's modules: the main CLI imports the other two.
"""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=code)
