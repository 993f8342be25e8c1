"""Tests of core.storage."""

import sys
from pathlib import Path

# The repo is not installed into the venv and pytest's default import mode puts only the
# first directory above this package on sys.path, so `core` would not import. Drop this once
# the repo is installed (`pip install -e .`) or pytest's `pythonpath = ["."]` is configured.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
