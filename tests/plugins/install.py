"""Make a plugin package of tests/plugins importable and discoverable without pip.

``importlib.metadata`` finds installed packages by their ``<name>-<version>.dist-info`` folders on
``sys.path``; writing one (METADATA and entry_points.txt, read from the package's pyproject.toml)
is what ``pip install`` does for entry points, minus copying files.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parent


def entry_points(pyproject: Path) -> dict[str, dict[str, str]]:
    """``[project.entry-points."group"]`` tables of a pyproject.toml: group -> name -> value."""
    groups: dict[str, dict[str, str]] = {}
    current = None
    for line in pyproject.read_text().splitlines():
        header = re.match(r'\[project\.entry-points\."([^"]+)"\]', line.strip())
        if header:
            current = groups.setdefault(header.group(1), {})
        elif line.startswith("["):
            current = None
        elif current is not None and "=" in line:
            name, value = (part.strip().strip('"') for part in line.split("=", 1))
            current[name] = value
    return groups


def write_dist_info(site: Path, name: str, version: str, groups: dict[str, dict[str, str]]) -> Path:
    """A .dist-info folder in ``site`` declaring ``groups`` of entry points."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, points in groups.items():
        lines += [f"[{group}]"] + [f"{k} = {v}" for k, v in points.items()] + [""]
    (info / "entry_points.txt").write_text("\n".join(lines))
    return info


def install(package: str, site: Path) -> Path:
    """Install ``tests/plugins/<package>`` for this process: its source on sys.path and its
    .dist-info in ``site`` (also put on sys.path)."""
    root = PLUGINS / package
    text = (root / "pyproject.toml").read_text()
    name = re.search(r'^name = "([^"]+)"', text, re.M).group(1)
    version = re.search(r'^version = "([^"]+)"', text, re.M).group(1)
    info = write_dist_info(site, name, version, entry_points(root / "pyproject.toml"))
    for path in (str(root), str(site)):
        if path not in sys.path:
            sys.path.append(path)
    return info
