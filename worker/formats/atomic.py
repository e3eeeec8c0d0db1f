"""All or nothing on disk: an export replaces its destination only once it is complete.

Every file is first written to a hidden temporary file beside its destination
(``.<name>.<random>.part``, in the same folder so the final rename is atomic), flushed and
fsynced, then renamed over the destination with :func:`os.replace`. A reader therefore finds the
previous file or the new one, never half of one. On any exception (a bad entry, a full disk,
Ctrl-C) the temporary file is removed and the destination is left exactly as it was.

:class:`StagedFile` is the building block (formats that write several files, like Xero's
300-line parts, stage them all and :func:`publish` them at the end); :func:`atomic_text` is the
usual one-file form.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

__all__ = ["BUFFER", "StagedFile", "atomic_text", "publish"]

#: Write buffer of the staged files (large sequential writes are faster than 8 KiB ones).
BUFFER = 1 << 20


class StagedFile:
    """A temporary text file beside ``target`` that :meth:`commit` renames over a destination.

    ``encoding``, ``errors`` and ``newline`` are those of :func:`open`; ``newline=""`` writes
    line ends exactly as given (the CSV module and the formats choose them).
    """

    def __init__(
        self,
        target: Path,
        *,
        encoding: str = "utf-8",
        errors: str = "strict",
        newline: str = "",
    ) -> None:
        folder = target.parent
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder")
        handle, name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")
        self.target = target
        self.temp = Path(name)
        try:
            self.stream: TextIO = os.fdopen(
                handle, "w", buffering=BUFFER, encoding=encoding, errors=errors, newline=newline
            )
        except BaseException:
            os.close(handle)
            self.temp.unlink(missing_ok=True)
            raise

    def finish(self) -> None:
        """Flush the file to disk and close it (it stays temporary until :meth:`commit`)."""
        if not self.stream.closed:
            self.stream.flush()
            os.fsync(self.stream.fileno())
            self.stream.close()

    def commit(self, destination: Path | None = None) -> Path:
        """Finish the file and rename it over ``destination`` (default: the target)."""
        self.finish()
        return publish(self.temp, destination or self.target)

    def discard(self) -> None:
        """Close and delete the temporary file; the destination is not touched."""
        with contextlib.suppress(OSError):
            self.stream.close()
        self.temp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_text(
    out: Path, *, encoding: str = "utf-8", errors: str = "strict", newline: str = ""
) -> Iterator[TextIO]:
    """A text stream whose content replaces ``out`` when the ``with`` block ends normally.

    If the block raises, the temporary file is deleted and ``out`` is untouched.
    """
    staged = StagedFile(out, encoding=encoding, errors=errors, newline=newline)
    try:
        yield staged.stream
        staged.commit()
    except BaseException:
        staged.discard()
        raise


def publish(temp: Path, destination: Path) -> Path:
    """Rename a finished temporary file over ``destination`` and persist the rename."""
    os.replace(temp, destination)
    _sync_folder(destination.parent)
    return destination


def _sync_folder(folder: Path) -> None:
    """Persist a rename (best effort: some file systems refuse to open a folder)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
