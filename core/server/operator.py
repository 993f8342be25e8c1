"""`wardgate operator generate-root --config FILE`: a new root token, for whoever can read the
server's config and its storage (the trust of the database file itself: that person could
replace every token hash anyway). It opens the same storage as the server, while the server
runs or not, and prints the token once; only its hash is stored, like every token.

Earlier root tokens stay valid (as with Vault's generate-root): the command recovers from a
lost or revoked root token; revoke a root token that may have leaked with
`wardgate token revoke -accessor ...` (or `auth/token/revoke-accessor`) using the new one.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from core.audit.record import AuditRecord
from core.config import Config
from core.framework.aio import run_event_loop
from core.logs import setup_logging
from core.registry import default_registry
from core.runtime import ROOT_MARKER_KEY, Runtime
from core.server.startup import StartError


def generate_root(config: Config) -> int:
    """Print a new root token; exit code 0, or 1 with one line saying why not."""
    config.log.requests = False
    setup_logging(config.log)
    try:
        token = run_event_loop(_generate_root(config))
    except Exception as exc:
        print(f"wardgate: cannot generate a root token: {_message(exc)}", file=sys.stderr)
        return 1
    print(f"Root token: {token}", flush=True)
    print("(shown once: store it safely; only its hash is kept)", file=sys.stderr, flush=True)
    return 0


async def _generate_root(config: Config) -> str:
    storage = config.storage
    if storage.backend == "memory":
        raise StartError("storage.backend is memory: there is no stored server to join")
    if storage.backend == "sqlite" and not Path(storage.path).is_file():
        raise StartError(f"no database yet: start the server first ({storage.path})")
    runtime = Runtime(config, default_registry())
    await runtime.start(sweep=False)
    try:
        if await runtime.storage.get(ROOT_MARKER_KEY) is None:
            raise StartError("the storage was never initialised: start the server first")
        # Audited like a request to Vault's generate-root (the token itself never in clear):
        # if no audit device can record it, no token is issued.
        record = AuditRecord(
            request_id=str(uuid.uuid4()), path="sys/generate-root/update", operation="update"
        )
        await runtime.audit.log_request(record)
        token = await runtime.issue_root_token()
        record.response_data = {"complete": True}
        await runtime.audit.log_response(record)
        return token
    finally:
        await runtime.stop()


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__
