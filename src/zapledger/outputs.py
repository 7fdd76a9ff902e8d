"""Files zapledger writes for the user (HTML report, exports, charts): never over one by surprise.

An existing file is refused unless the caller says ``force`` (the CLI's ``--force``); a path that
cannot be written is one clear :class:`~zapledger.exceptions.OutputError`, raised before any
expensive work where the caller checks with :func:`claim` first. Files are opened without
following a symlink at the final component.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .exceptions import OutputError

__all__ = ["claim", "output_file", "prepare_dir"]


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def prepare_dir(folder: Path) -> Path:
    """Create an output folder (and its parents); OutputError when that is impossible."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write into {folder}: it is a file, not a folder") from None
    except OSError as exc:
        raise OutputError(f"cannot create folder {folder}: {_reason(exc)}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into {folder}: permission denied")
    return folder


def claim(paths: Iterable[Path], *, force: bool) -> None:
    """Refuse, before any work, files that exist (unless ``force``) or are folders."""
    for path in paths:
        try:
            is_dir, exists = path.is_dir(), path.exists() or path.is_symlink()
        except OSError as exc:  # a name too long, a loop of links
            raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
        if is_dir:
            raise OutputError(f"cannot write {path}: it is a folder")
        if not force and exists:
            raise OutputError(f"{path} already exists: give --force to overwrite it")


@contextmanager
def output_file(path: Path, *, force: bool) -> Iterator[BinaryIO]:
    """Open ``path`` for writing: created exclusively, or truncated only with ``force``; never
    through a symlink. A failure while writing removes the incomplete file."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_TRUNC if force else os.O_EXCL
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        raise OutputError(f"{path} already exists: give --force to overwrite it") from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
    except BaseException:
        path.unlink(missing_ok=True)
        raise
