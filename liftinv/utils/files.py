"""Safe file handling: atomic writes, and output paths checked before any work is done.

* :func:`atomic_write`: a run interrupted at any moment leaves the old file or the new one;
* :func:`check_output_path`: an output path a command can write (known extension, a folder to
  put it in, not a folder or a device itself), checked before loading data or training;
* :func:`check_input_file`: an input file that exists and is a file (a folder is reported as a
  folder, not as missing).
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path

__all__ = ["ExtensionError", "atomic_write", "check_input_file", "check_output_path", "plain_reason",
           "write_text_atomic"]


def _refuse_non_regular(path: Path, what: str = "") -> None:
    if path.is_symlink() or (path.exists() and not path.is_file()):
        kind = "a symbolic link" if path.is_symlink() else "a folder" if path.is_dir() else "a device, FIFO or socket"
        raise ValueError(f"{what}{str(path)!r} exists and is not a regular file ({kind}); choose another output path")


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _writer_tag() -> str:
    """This process in a temporary file's name: ``host-pid`` (the host name cut to letters, digits,
    ``_`` and ``-``), so that a later writer can tell a temporary left by a dead process."""
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:32] or "host"
    return f"{host}-{os.getpid()}"


def _remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporaries of :func:`atomic_write` next to ``path`` that a process of this host
    left behind when it died in the middle of a write (``kill -9``, a power cut): those of its
    naming pattern, ``.{name}.{host}-{pid}.XXXXXXXX.tmp{suffix}``, whose process is gone.  A live
    writer's temporary (this process's, or another's, even another user's) and other hosts' are
    kept; so is everything on systems without POSIX process signals.  Returns the removed paths."""
    if os.name != "posix":  # os.kill(pid, 0) is not a harmless probe there
        return []
    host = _writer_tag().rsplit("-", 1)[0]
    pattern = re.compile(re.escape(f".{path.name}.{host}-") + r"(\d+)\.[A-Za-z0-9_]+"
                         + re.escape(f".tmp{path.suffix}"))
    removed = []
    try:
        candidates = [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:
        return []
    for tmp in candidates:
        pid = int(pattern.fullmatch(tmp.name).group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:  # no such process: its write can never finish
            try:
                if tmp.is_file() and not tmp.is_symlink():
                    tmp.unlink()
                    removed.append(tmp)
            except OSError:
                pass
        except (PermissionError, OverflowError, OSError):  # alive (another user's), or not a pid
            pass
    return removed


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a unique temporary file next to ``path``, flush it to disk and
    rename it onto ``path``.

    Two writers of the same path never share a temporary name; a path that exists and is not a
    regular file (a folder, a device, a FIFO, a symbolic link) is refused rather than replaced.
    The temporary file ends with ``path``'s extension (writers that pick a format by extension
    see the right one) and the result gets the permissions of the file it replaces (else the
    usual ones under the umask, not ``mkstemp``'s owner-only mode).  Its name holds the host and
    process id of the writer, and the temporaries that killed writers of ``path`` on this host left
    behind (a ``kill -9`` during a checkpoint save) are removed first
    (:func:`_remove_stale_temporaries`).
    """
    path = Path(path)
    _refuse_non_regular(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.is_file() else _default_mode()
    _remove_stale_temporaries(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{_writer_tag()}.", suffix=f".tmp{path.suffix}",
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


class ExtensionError(ValueError):
    """An output path without an extension, or with one the writer does not know: a mistake in the
    name itself (the command line reports it as a malformed option, exit status 2)."""


def check_output_path(path: str | Path, extensions: Collection[str], name: str = "-o/--output",
                      what: str = "this file") -> Path:
    """``path`` as a ``Path`` when ``what`` (e.g. ``"an image"``) can be written there;
    ``ValueError`` naming ``name`` otherwise: a path that is a folder, link or device, no extension
    or one not in ``extensions`` (compared lower-case; :class:`ExtensionError`), a parent that is a
    file, or a folder where no file can be created (tried: a file is created and removed there, which
    also catches what ``os.access`` does not see, such as a read-only file system or root's ``/proc``).
    Missing folders are fine (they are created when writing)."""
    path = Path(path)
    known = ", ".join(sorted(extensions))
    if path.is_dir() and not path.is_symlink():
        raise ValueError(f"{name} {str(path)!r} is a folder, not a regular file: give the path of a file (it may be "
                         f"in this folder) ending in one of {known}")
    if not path.suffix:
        raise ExtensionError(f"{name} {str(path)!r}: no file extension; give a name ending in one of {known}")
    if path.suffix.lower() not in extensions:
        raise ExtensionError(f"{name} {str(path)!r}: unknown extension {path.suffix!r} for {what}; use one of {known}")
    _refuse_non_regular(path, f"{name} ")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{name} {str(path)!r}: {str(parent)!r} is a file, not a folder; choose another output path")
    if parent.is_dir():
        try:
            fd, probe = tempfile.mkstemp(prefix=".liftinv-write-test.", dir=parent)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ValueError(f"{name} {str(path)!r}: the folder {str(parent)!r} is not writable (creating a file "
                             f"there failed: {reason}); choose another output path") from None
        os.close(fd)
        os.unlink(probe)
    return path


def check_input_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a ``Path`` when it is an existing regular file: ``FileNotFoundError`` when it
    does not exist, ``IsADirectoryError`` when it is a folder, ``ValueError`` when it is a device,
    FIFO or socket, each naming ``what`` (``"image file"``, ``"checkpoint"`` ...)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {str(path)!r} is a directory, not a file")
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} is not a regular file")
    return path


def plain_reason(path: str | Path) -> str | None:
    """Why a file that a reader refused is obviously not what was expected, when it is: ``"it is
    empty (0 bytes)"`` or ``"it is a text file"`` (its first 512 bytes are UTF-8 without NUL
    bytes); ``None`` otherwise (binary content: a damaged file zeroed by a crash included)."""
    import codecs

    head = b""
    if Path(path).is_file():
        with open(path, "rb") as f:  # the head only: the file may be gigabytes
            head = f.read(512)
    if not head:
        return "it is empty (0 bytes)"
    if b"\x00" in head:
        return None
    try:  # incremental: a character cut by the 512-byte window is not an error
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    return "it is a text file"
