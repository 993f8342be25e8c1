"""Tests of plugins.alicloud: the STS signer, validation, client, nonce ledger and emulator."""

import sys
from pathlib import Path

# The package is installed editable, so `plugins` imports without this. It stays only because
# test_plugin_flow.py imports `tests.alicloud.conftest` / `tests.conftest` by absolute name,
# which needs the repo root on sys.path. Drop it once that file uses relative imports.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
