"""The installed package's version, read from its metadata (the public face is not imported)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

LOCAL_VERSION = "0.0.0+local"  # a source tree that is not installed


def package_version() -> str:
    """The version of the installed ``sliceflow`` distribution, else ``LOCAL_VERSION``."""
    try:
        return version("sliceflow")
    except PackageNotFoundError:
        return LOCAL_VERSION
