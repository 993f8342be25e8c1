"""SQLite storage across real processes: durability under kill -9, atomic updates, no caching.

Each child runs proc_helper.py on a shared database file; see that module for the protocol.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.storage.sqlite import SQLiteStorage

HELPER = Path(__file__).with_name("proc_helper.py")
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0  # per line read; only a hung child ever gets near it


class Child:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, db: Path) -> Child:
        # The child runs the helper as a script, so it needs the repo root to import `core`.
        paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HELPER),
            str(db),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(proc)

    async def ready(self) -> None:
        assert await self.recv() == {"ready": True}

    async def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
        await self.proc.stdin.drain()

    async def recv(self) -> dict[str, Any] | None:
        """The next answer, or None once the child's stdout is closed."""
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), TIMEOUT)
        if not line:
            return None
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def call(self, **cmd: Any) -> dict[str, Any]:
        await self.send(**cmd)
        answer = await self.recv()
        if answer is None:
            raise AssertionError(f"child died: {await self.stderr()}")
        return answer

    async def stderr(self) -> str:
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode(errors="replace")

    async def quit(self) -> None:
        await self.send(op="quit")
        rc = await asyncio.wait_for(self.proc.wait(), TIMEOUT)
        assert rc == 0, await self.stderr()

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)


@pytest.fixture
async def spawn() -> AsyncIterator[Any]:
    """Start children; whatever is still running at the end of the test is killed."""
    children: list[Child] = []

    async def start(db: Path) -> Child:
        child = await Child.start(db)
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()
        await child.proc.wait()


async def test_acknowledged_writes_survive_kill_9(spawn: Any, tmp_path: Path) -> None:
    db = tmp_path / "kill.sqlite"
    rng = random.Random(1)
    acked: list[int] = []
    start = 0
    for _ in range(3):  # several kills land at several points of the write cycle
        child = await spawn(db)
        await child.ready()
        await child.send(op="fill", start=start)
        stop_after = rng.randint(20, 120)
        got = 0
        while got < stop_after:
            answer = await child.recv()
            assert answer is not None, await child.stderr()
            acked.append(answer["ack"])
            got += 1
        child.kill()
        # Acks already in the pipe were printed before the kill: they count too.
        while (answer := await child.recv()) is not None:
            acked.append(answer["ack"])
        assert await child.proc.wait() == -signal.SIGKILL
        start = acked[-1] + 1
        # The next child picks up after the in-flight key (which may or may not exist).
        start += 1

    assert acked, "the child acknowledged nothing"
    storage = await SQLiteStorage.open(db)
    try:
        acked_set = set(acked)
        for i in range(start):
            value = await storage.get(f"k{i}")
            twin = await storage.get(f"k{i}/twin")
            if i in acked_set:
                assert value == f"v{i}".encode(), i
            if i % 4 == 1:
                # A batch is all or nothing, acknowledged or not.
                assert twin == value, i
        # Nothing appears that was never attempted.
        keys = await storage.list("k")
        assert all(int(k.split("/")[0]) < start for k in keys)
    finally:
        await storage.close()


async def test_concurrent_updates_across_processes_lose_nothing(spawn: Any, tmp_path: Path) -> None:
    # A fresh file: the children also race each other creating the schema.
    db = tmp_path / "counter.sqlite"
    children = [await spawn(db) for _ in range(3)]
    for child in children:
        await child.ready()
    # Send all commands before reading any answer, so the children really run together.
    for child in children:
        await child.send(op="incr", key="counter", n=200)
    news: list[int] = []
    for child in children:
        answer = await child.recv()
        assert answer is not None, await child.stderr()
        news += answer["news"]
    for child in children:
        await child.quit()
    # Every update saw a distinct old value: no two read the same counter.
    assert sorted(news) == list(range(1, 601))
    storage = await SQLiteStorage.open(db)
    try:
        assert await storage.get("counter") == b"600"
    finally:
        await storage.close()


async def test_other_process_sees_writes_at_once(spawn: Any, tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite"
    here = await SQLiteStorage.open(db)
    try:
        child = await spawn(db)
        await child.ready()
        # The child reads first, so a cache (if there were one) would hold the old state.
        assert await child.call(op="get", key="k") == {"value": None}
        await here.put("k", b"one")
        assert await child.call(op="get", key="k") == {"value": "one"}
        await here.update("k", lambda old: b"two")
        assert await child.call(op="get", key="k") == {"value": "two"}
        await here.put("k/sub", b"x")
        assert await child.call(op="list", prefix="k") == {"keys": ["/sub"]}

        assert await here.get("c") is None
        assert await child.call(op="put", key="c", value="three") == {"ok": True}
        assert await here.get("c") == b"three"
        assert await here.list("") == ["c", "k", "k/sub"]

        await here.delete("k")
        assert await child.call(op="get", key="k") == {"value": None}
        await child.quit()
    finally:
        await here.close()
