"""Route tables for the benchmark: the real migrated routes, alone or among 5,000 entries.

The small table sends every endpoint the new app has migrated to the new side (as a team would
once those endpoints are done), except `/health`, which stays on the legacy side and is what the
legacy measurements ask for. The large table adds dummy entries sent to the legacy side until it
holds 5,000: the gateway checks that entries sent to the new side exist there, but legacy entries
can be any path. They spread over many prefixes and mix literal and typed segments, so the
lookup walks a wide tree rather than a list of near-duplicates.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from new_app.main import migrated_endpoints

LEGACY_PATH = "/health"
NEW_PATH = "/api/me"
LARGE_SIZE = 5000
_DUMMY_SHAPES = (
    "/v{version}/area-{area}/items",
    "/v{version}/area-{area}/items/{{item_id:int}}",
    "/v{version}/area-{area}/items/{{item_id:int}}/notes/{{note}}",
    "/v{version}/area-{area}/reports/{{name}}/export.csv",
    "/v{version}/area-{area}/files/{{rest:path}}",
)


def new_routes() -> dict[str, list[str]]:
    """The new app's migrated endpoints as {path: methods}, `/health` left to the legacy side."""
    routes: dict[str, list[str]] = defaultdict(list)
    for endpoint in migrated_endpoints():
        if endpoint.path != LEGACY_PATH:
            routes[endpoint.path].append(endpoint.method)
    return dict(routes)


def dummy_paths(count: int) -> list[str]:
    paths: list[str] = []
    version = 0
    while len(paths) < count:
        version += 1
        for area in range(100):
            for shape in _DUMMY_SHAPES:
                paths.append(shape.format(version=version, area=area))
    return paths[:count]


def routes_yaml(with_dummies: bool) -> str:
    lines = ["default: legacy", "routes:"]
    real = new_routes()
    for path, methods in sorted(real.items()):
        lines += [f"  - path: {path}", f"    methods: [{', '.join(sorted(methods))}]"]
        lines.append("    target: new")
    if with_dummies:
        for path in dummy_paths(LARGE_SIZE - len(real)):
            lines += [f"  - path: {path}", "    target: legacy"]
    return "\n".join(lines) + "\n"


def write_tables(folder: Path) -> tuple[Path, Path]:
    """The small and the 5,000-entry routes files, written in `folder`."""
    small, large = folder / "routes-small.yaml", folder / "routes-5000.yaml"
    small.write_text(routes_yaml(with_dummies=False), encoding="utf-8")
    large.write_text(routes_yaml(with_dummies=True), encoding="utf-8")
    return small, large
