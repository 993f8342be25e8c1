"""The running wardgate's version, as the package metadata says."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def wardgate_version() -> str:
    try:
        return version("wardgate")
    except PackageNotFoundError:
        return "0.0.0-dev"
