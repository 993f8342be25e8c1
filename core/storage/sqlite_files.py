"""The SQLite database's place on disk: its directory and file, created private.

The database holds the token HMAC key and every token hash, so it gets the protection of a
key file: a directory this function creates is 0700 and a database file it creates is 0600,
whatever the umask. SQLite creates the `-wal` and `-shm` files with the database file's mode,
so they are 0600 too. Existing directories and files keep their modes (an operator may have
chosen them); problems are reported as `StorageUnavailable` naming the path, before anything
is opened.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.storage.base import StorageUnavailable

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def prepare_database_file(path: str | os.PathLike[str]) -> None:
    """Make sure `path` can be opened as the database: its directory exists (created 0700)
    and is a writable directory, and the file is a regular file (created empty, 0600)."""
    database = Path(path)
    directory = database.parent
    _make_directories(directory)
    if database.exists():
        if not database.is_file():
            raise StorageUnavailable(f"storage.path is not a regular file ({database})")
        _check_writable_file(database)
    else:
        _create_private_file(database)


def _make_directories(directory: Path) -> None:
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    if current.exists() and not current.is_dir():
        raise StorageUnavailable(f"storage.path is under a regular file ({current})")
    for part in reversed(missing):
        try:
            os.mkdir(part, DIRECTORY_MODE)
            os.chmod(part, DIRECTORY_MODE)  # mkdir's mode is masked by the umask
        except FileExistsError:
            continue  # another worker or process made it meanwhile
        except OSError as exc:
            raise StorageUnavailable(
                f"cannot create the data directory: {_reason(exc)} ({part})"
            ) from None


def _create_private_file(database: Path) -> None:
    try:
        fd = os.open(database, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return  # created meanwhile by another process: it went through here too
    except OSError as exc:
        raise StorageUnavailable(
            f"the data directory is not writable: {_reason(exc)} ({database.parent})"
        ) from None
    try:
        os.fchmod(fd, FILE_MODE)  # the mode given to open() is masked by the umask
    finally:
        os.close(fd)


def _check_writable_file(database: Path) -> None:
    try:
        fd = os.open(database, os.O_RDWR)
    except OSError as exc:
        raise StorageUnavailable(
            f"cannot open the database for writing: {_reason(exc)} ({database})"
        ) from None
    os.close(fd)
    # SQLite writes `-wal` and `-shm` beside the database: the directory must take new files.
    probe = database.parent / f".{database.name}.probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        raise StorageUnavailable(
            f"the data directory is not writable: {_reason(exc)} ({database.parent})"
        ) from None
    os.close(fd)
    os.unlink(probe)


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
