"""Route tables for the benchmark: the real migrated routes, alone or among 5,000 entries, and
`/api/me` alone, on the legacy side or shadowed.

The small table sends every endpoint the new app has migrated to the new side (as a team would
once those endpoints are done), except `/health`, which stays on the legacy side and is what the
legacy measurements ask for. The large table adds dummy entries sent to the legacy side until it
holds 5,000: the gateway checks that entries sent to the new side exist there, but legacy entries
can be any path. They spread over many prefixes and mix literal and typed segments, so the
lookup walks a wide tree rather than a list of near-duplicates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
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


# `/api/me` answered by legacy, compared with new on every request (the shadow's defaults
# otherwise: at most 8 copies in flight, more are skipped and counted).
SHADOWED_YAML = f"""default: legacy
routes:
  - path: {NEW_PATH}
    methods: [GET]
    target: shadow
    primary: legacy
    shadow:
      sample: 100
"""
UNSHADOWED_YAML = f"""default: legacy
routes:
  - path: {NEW_PATH}
    methods: [GET]
    target: legacy
"""


@dataclass(frozen=True)
class Tables:
    small: Path
    large: Path
    shadowed: Path
    unshadowed: Path


def write_tables(folder: Path) -> Tables:
    """Every routes file of the benchmark, written in `folder`."""
    tables = Tables(
        folder / "routes-small.yaml",
        folder / "routes-5000.yaml",
        folder / "routes-shadowed.yaml",
        folder / "routes-unshadowed.yaml",
    )
    tables.small.write_text(routes_yaml(with_dummies=False), encoding="utf-8")
    tables.large.write_text(routes_yaml(with_dummies=True), encoding="utf-8")
    tables.shadowed.write_text(SHADOWED_YAML, encoding="utf-8")
    tables.unshadowed.write_text(UNSHADOWED_YAML, encoding="utf-8")
    return tables
