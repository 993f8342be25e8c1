"""Child process for test_sqlite_processes: drives one SQLiteStorage from stdin.

Usage: python proc_helper.py DB_PATH. Prints {"ready": true} once the storage is open, then
reads one JSON command per line and answers with JSON lines. A line is printed only after
the storage call it reports on has returned, so a printed answer means "acknowledged".
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from core.storage import Put, UpdateFn
from core.storage.sqlite import SQLiteStorage


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def incr(old: bytes | None) -> bytes:
    return str(int(old or b"0") + 1).encode()


def const(value: bytes) -> UpdateFn:
    return lambda old: value


async def fill(storage: SQLiteStorage, start: int) -> None:
    """Write forever, cycling through put, write, update and a non-durable update (which must
    survive a killed process too); ack each after it returns."""
    i = start
    while True:
        value = f"v{i}".encode()
        if i % 4 == 0:
            await storage.put(f"k{i}", value)
        elif i % 4 == 1:
            await storage.write([Put(f"k{i}", value), Put(f"k{i}/twin", value)])
        elif i % 4 == 2:
            await storage.update(f"k{i}", const(value))
        else:
            await storage.update(f"k{i}", const(value), durable=False)
        emit({"ack": i})
        i += 1


async def main(path: str) -> None:
    storage = await SQLiteStorage.open(path)
    emit({"ready": True})
    # Commands arrive one at a time, so a blocking read here holds up nothing.
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "get":
            value = await storage.get(cmd["key"])
            emit({"value": None if value is None else value.decode()})
        elif op == "put":
            await storage.put(cmd["key"], cmd["value"].encode())
            emit({"ok": True})
        elif op == "list":
            emit({"keys": await storage.list(cmd["prefix"])})
        elif op == "incr":
            news = []
            for _ in range(cmd["n"]):
                _, new = await storage.update(cmd["key"], incr)
                news.append(int(new or b""))
            emit({"news": news})
        elif op == "fill":
            await fill(storage, cmd["start"])
        elif op == "quit":
            break
        else:
            raise ValueError(f"unknown op {op!r}")
    await storage.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
