"""The one way aigif writes a file: atomically, never through a planted link.

Every file the package writes (``aigif.save``, every output of the ``aigif`` command)
goes through ``write_atomic``:

- the bytes go to a new temporary file in the target's own folder, created with
  ``O_CREAT | O_EXCL | O_NOFOLLOW`` under a random name (never a predictable ``.part``
  name that someone could plant a link at), then ``fsync`` and ``os.replace`` onto the
  target, so a reader sees the old file or the whole new one, and a failed write leaves
  nothing behind;
- the file gets the mode ``open()`` would give it: ``0o666 & ~umask`` for a new file, the
  old file's mode when it replaces one;
- a symbolic link at the target (dangling or not) is refused unless ``replace_symlink``
  is set, and then the link itself is replaced: its target is never written;
- ``overwrite=False`` refuses an existing target atomically (a hard link, which fails
  when the name exists), so nothing that appears between a check and the write is
  clobbered;
- ``within`` confines the write to a folder: the real path of the target's folder must
  lie inside the real path of ``within`` (a symlinked sub-folder cannot lead outside).

Errors are ``FileAccessError`` (an ``AigifError`` and an ``OSError``) whose message names
the path; ``FileExistsError`` cases raise ``OutputExistsError``, a subclass.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import IO, Callable, Union

from .errors import FileAccessError

__all__ = ["write_atomic", "OutputExistsError", "ensure_dir_within", "check_within"]

Data = Union[bytes, bytearray, memoryview, Callable[[IO[bytes]], None]]

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_DIR_FD = os.open in os.supports_dir_fd and os.replace in os.supports_dir_fd and _O_DIRECTORY
#: errors of os.link on file systems without hard links: fall back to check + replace
_NO_LINK = {errno.EPERM, errno.EACCES, errno.EXDEV, errno.EMLINK,
            getattr(errno, "ENOTSUP", -1), getattr(errno, "EOPNOTSUPP", -1)}


class OutputExistsError(FileAccessError):
    """The output path exists and overwriting was not asked for."""
    code = "exists"


def _real(p: str | os.PathLike) -> str:
    return os.path.realpath(os.fspath(p))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_within(path: str | os.PathLike, within: str | os.PathLike) -> None:
    """Raise FileAccessError unless the real path of ``path`` lies inside that of ``within``."""
    real, root = _real(path), _real(within)
    if not _inside(real, root):
        raise FileAccessError(f"refusing to write {os.fspath(path)}: it resolves to {real}, "
                              f"outside the output folder {root} (a symbolic link on the way?)")


def ensure_dir_within(path: str | os.PathLike, within: str | os.PathLike) -> None:
    """Create folder ``path`` (and its parents) below ``within``, never outside it.

    Each existing component is checked (its real path must stay inside ``within``) before
    anything is created under it. Raises FileAccessError.
    """
    root = Path(within)
    rel = Path(os.path.relpath(os.fspath(path), os.fspath(root)))
    if rel.parts and rel.parts[0] == os.pardir:
        raise FileAccessError(f"refusing to write {os.fspath(path)}: outside the output "
                              f"folder {os.fspath(root)}")
    cur = root
    check_within(cur, root)
    for part in rel.parts:
        if part in (os.curdir, ""):
            continue
        cur = cur / part
        try:
            os.mkdir(cur)
        except FileExistsError:
            pass
        except OSError as e:
            raise FileAccessError(f"cannot create {cur}: {e.strerror or e}") from None
        check_within(cur, root)
        if not os.path.isdir(cur):
            raise FileAccessError(f"cannot create {cur}: a file of that name exists")


def _tmp_name(name: str) -> str:
    # random, hidden, bounded in length; O_EXCL makes a clash (or a planted name) fail
    return f".{name[:80]}.{secrets.token_hex(8)}.tmp"


def write_atomic(path: str | os.PathLike, data: Data, *, overwrite: bool = True,
                 replace_symlink: bool = False, within: str | os.PathLike | None = None,
                 ) -> int:
    """Write ``data`` (bytes, or a function that writes to a binary file) to ``path``.

    Returns the number of bytes written. Raises ``OutputExistsError`` when ``path``
    exists and ``overwrite`` is false, ``FileAccessError`` for a symbolic link at
    ``path`` (unless ``replace_symlink``), a folder outside ``within``, or any OS error.
    An exception from a writer function propagates after the temporary file is removed.

    Example::

        write_atomic("out/cat.aigif", data, overwrite=False, within="out")
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    folder = folder or os.curdir
    if not name or name in (os.curdir, os.pardir):
        raise FileAccessError(f"cannot write {path}: not a file name")
    if within is not None:
        check_within(folder, within)
    dfd = None
    tmp = None
    try:
        if _DIR_FD:
            # pin the folder: whatever is swapped in at its path later, we write here
            dfd = os.open(folder, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
            if within is not None:
                st, fst = os.stat(_real(folder)), os.fstat(dfd)
                if (st.st_dev, st.st_ino) != (fst.st_dev, fst.st_ino):
                    raise FileAccessError(f"refusing to write {path}: its folder changed "
                                          f"while it was being checked")
        at = {"dir_fd": dfd} if dfd is not None else {}

        def where(n: str) -> str:
            return n if dfd is not None else os.path.join(folder, n)

        old_mode = None
        try:
            st = os.stat(where(name), follow_symlinks=False, **at)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat.S_ISLNK(st.st_mode) and not replace_symlink:
                raise FileAccessError(f"refusing to write {path}: it is a symbolic link, and "
                                      f"aigif never writes through one (remove the link; on "
                                      f"the command line --force replaces the link itself)")
            if not overwrite:
                raise OutputExistsError(f"{path} exists (use --force to overwrite)")
            if stat.S_ISDIR(st.st_mode):
                raise FileAccessError(f"cannot write {path}: it is a folder")
            if stat.S_ISREG(st.st_mode):
                old_mode = stat.S_IMODE(st.st_mode)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
        for _ in range(16):
            cand = _tmp_name(name)
            try:
                fd = os.open(where(cand), flags, 0o666, **at)   # the umask applies here
            except FileExistsError:
                continue
            tmp = cand
            break
        else:  # pragma: no cover - 16 clashes of 64 random bits
            raise FileAccessError(f"cannot create a temporary file next to {path}")
        with os.fdopen(fd, "wb") as fh:
            if old_mode is not None:
                try:
                    os.fchmod(fh.fileno(), old_mode)
                except (AttributeError, OSError):  # pragma: no cover - no fchmod here
                    pass
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            fh.flush()
            n = fh.tell()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(where(tmp), where(name),
                       **({"src_dir_fd": dfd, "dst_dir_fd": dfd} if dfd is not None else {}))
        else:
            if _link_new(where(tmp), where(name), path, dfd):
                os.unlink(where(tmp), **at)
        tmp = None
        if dfd is not None:
            try:
                os.fsync(dfd)   # the rename itself survives a crash
            except OSError:  # pragma: no cover - some file systems refuse
                pass
        return n
    except FileAccessError:
        raise
    except OSError as e:
        raise FileAccessError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(os.path.join(folder, tmp) if dfd is None else tmp,
                          **({"dir_fd": dfd} if dfd is not None else {}))
            except OSError:
                pass
        if dfd is not None:
            os.close(dfd)


def _link_new(src: str, dst: str, path: str, dfd: int | None) -> bool:
    """Publish ``src`` as ``dst`` only if nothing is at ``dst`` (atomically where possible).

    Returns True when ``src`` is still there (hard-linked) for the caller to remove.
    """
    kw = {"src_dir_fd": dfd, "dst_dir_fd": dfd, "follow_symlinks": False} \
        if dfd is not None else {}
    try:
        os.link(src, dst, **kw)
        return True
    except FileExistsError:
        raise OutputExistsError(f"{path} exists (use --force to overwrite)") from None
    except NotImplementedError:  # pragma: no cover - follow_symlinks unsupported
        pass
    except OSError as e:
        if e.errno not in _NO_LINK:
            raise
    # no hard links here: check, then rename (a small window remains)
    at = {"dir_fd": dfd} if dfd is not None else {}
    try:
        os.stat(dst, follow_symlinks=False, **at)
    except FileNotFoundError:
        os.replace(src, dst, **({"src_dir_fd": dfd, "dst_dir_fd": dfd} if dfd is not None else {}))
        return False
    raise OutputExistsError(f"{path} exists (use --force to overwrite)")
