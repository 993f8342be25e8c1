"""WAL checkpoints, mostly on their own thread, off the requests' path.

By default SQLite checkpoints inside the commit that pushes the WAL past 1,000 pages: that one
commit copies the whole WAL back into the database file and fsyncs it, and the request waiting
for it takes several times as long as the others (measured in process over 1,000 logins: p99
4.0 ms with it, 2.9 ms with checkpoints on another thread). So:

1. This thread runs a PASSIVE checkpoint every `interval` seconds on a connection of its own.
   It takes no write lock: commits of this and other processes go on while it copies. It does
   the bulk of the work.
2. The writer connection still checkpoints inside a commit, but only once the WAL holds
   `WAL_RESTART_PAGES` (`wal_autocheckpoint`), and by then step 1 has copied all but the last
   `interval`'s frames, so that checkpoint is short. It is needed: a checkpoint from another
   thread always finishes behind the latest commit, so without one inside a commit the WAL
   never starts over under a steady write load and grows without bound (seen: 456 MB in a
   one-minute login benchmark), slowing every read that searches it. `journal_size_limit`
   cuts a restarted WAL file back to that size.

Each process runs one thread; when two overlap, SQLite lets one of them work and the other
returns.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

log = logging.getLogger("wardgate.storage")

DEFAULT_INTERVAL = 0.5  # seconds between background checkpoints
WAL_RESTART_PAGES = 8000  # ~32 MB with 4 KiB pages


class Checkpointer:
    def __init__(self, path: str | os.PathLike[str], interval: float = DEFAULT_INTERVAL) -> None:
        self._path = os.fspath(path)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="wardgate-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self._interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    # Never fatal: the next round (or the writer's own checkpoint) catches up.
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            db.close()

    def stop(self) -> None:
        """Stop and wait for the thread (a checkpoint in progress finishes first)."""
        self._stop.set()
        self._thread.join()
