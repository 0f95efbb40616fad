"""Files that rot: checksums written beside what the project saves, verified when it is read, and errors that
name the damaged file and what to do about it.

A model folder (:mod:`ovmlr.trained.artifact`, :mod:`ovmlr.multimodal.trained`) gets a ``checksums.json``
(SHA-256 of each file it wrote); a training checkpoint a ``<file>.sha256`` beside it. Both are verified on
load: a truncated or bit-flipped file raises :class:`DamagedFile` before anything reads it. The embedding and
LLM caches are parquet with page checksums (:mod:`ovmlr.datasets.sharded_parquet`). A file saved before its
checksum existed is read as it is, and a read that fails is reported the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

CHECKSUMS_FILE = "checksums.json"
ALGORITHM = "sha256"
T = TypeVar("T")


class DamagedFile(ValueError):
    """A file that is truncated, changed or unreadable; the message names it and says what to do."""

    def __init__(self, path: str | Path, problem: str, advice: str) -> None:
        super().__init__(f"'{path}' is damaged: {problem}. {advice}")
        self.path = Path(path)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, ALGORITHM).hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_checksums(folder: str | Path, names: Iterable[str]) -> Path:
    """Write ``<folder>/checksums.json``: the SHA-256 of each named file of the folder."""
    folder = Path(folder)
    files = {name: sha256_file(folder / name) for name in sorted(names)}
    path = folder / CHECKSUMS_FILE
    _write_atomic(path, json.dumps({"algorithm": ALGORITHM, "files": files}, indent=1))
    return path


def verify_checksums(folder: str | Path, advice: str) -> None:
    """Check every file listed in ``<folder>/checksums.json`` (nothing to check when there is none).

    Raises:
        DamagedFile: Naming the first file that is missing or whose bytes changed, and ``advice``.
    """
    folder = Path(folder)
    path = folder / CHECKSUMS_FILE
    if not path.is_file():
        return
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DamagedFile(path, f"not a checksum list ({type(exc).__name__})", advice) from exc
    for name, expected in files.items():
        if not (folder / name).is_file():
            raise DamagedFile(folder / name, "the file is missing", advice)
        if sha256_file(folder / name) != expected:
            raise DamagedFile(
                folder / name, "its bytes differ from its checksum (truncated or changed)", advice
            )


def write_sidecar(path: str | Path) -> Path:
    """Write ``<path>.sha256`` (the file's SHA-256) beside a file."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".sha256")
    _write_atomic(sidecar, sha256_file(path) + "\n")
    return sidecar


def verify_sidecar(path: str | Path, advice: str) -> None:
    """Check a file against its ``<path>.sha256`` (nothing to check when there is none).

    Raises:
        DamagedFile: The file's bytes differ from the checksum, naming the file and ``advice``.
    """
    path = Path(path)
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file() and sha256_file(path) != sidecar.read_text(encoding="utf-8").strip():
        raise DamagedFile(path, "its bytes differ from its checksum (truncated or changed)", advice)


def read_or_damaged(path: str | Path, read: Callable[[Path], T], advice: str) -> T:
    """``read(path)``, with any failure but a missing file reported as :class:`DamagedFile`.

    Raises:
        FileNotFoundError: The file does not exist.
        DamagedFile: The reader failed (naming the file, the reader's error and ``advice``).
    """
    path = Path(path)
    try:
        return read(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - every reader's own error type, re-raised with the file named
        raise DamagedFile(path, f"it cannot be read ({type(exc).__name__}: {exc})", advice) from exc
