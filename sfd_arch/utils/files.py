"""Files: fingerprints (the metric weight checks, `sfd-iqa bench`'s score cache, `scripts/compare.py`), names that
become paths, outputs that must not replace inputs, and one writer per output file."""
from __future__ import annotations

import hashlib
import os
import os.path as osp
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Optional

_HASHES: dict[tuple[str, int, float], str] = {}


def file_sha256(path: str) -> str:
    """SHA-256 of a file, remembered per (path, size, mtime): hashing VGG-16 (528 MB) takes about a second."""
    stat = os.stat(path)
    key = (osp.abspath(path), stat.st_size, stat.st_mtime)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


# -- names that become paths, outputs that must not replace inputs, one writer per output ---------------------------
class UnsafePathError(ValueError):
    """A name or output path that would write outside its folder or over an input; one sentence."""


def check_name(name: object, what: str) -> str:
    """``name`` as one path component, refused (``UnsafePathError``) when it could leave its folder: empty, ``.``,
    ``..``, a separator (``/`` or ``\\``, on every system, so a file made on one stays safe on another), a NUL, or an
    absolute path. ``what`` says where the name comes from, e.g. ``option.yml: datasets.test_1.name``."""
    text = str(name)
    if (text.strip() in ('', '.', '..') or '/' in text or '\\' in text or '\0' in text or osp.isabs(text)
            or (os.altsep and os.altsep in text)):
        raise UnsafePathError(f'{what}: {text!r} cannot be used as a file or folder name: a name becomes a path, '
                              "so it must not be empty, '.' or '..', or hold '/' or '\\'")
    return text


def is_inside(path: str, folder: str) -> bool:
    """Whether ``path`` (resolved, symbolic links followed) is ``folder`` or lies under it."""
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _inode(path: str) -> Optional[tuple[int, int]]:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino  # a hard link is the same file under another name


def find_clash(outputs: Iterable[str], inputs: Iterable[str], nested: bool = True) -> Optional[tuple[str, str]]:
    """The first ``(output, input)`` where the output is the input (symbolic and hard links followed) or, with
    ``nested``, the output is a folder the input lies in (a folder that will be written into or cleared)."""
    inputs = list(inputs)
    real_inputs = [(osp.realpath(p), p) for p in inputs]
    inodes = {key: p for p in inputs if (key := _inode(p)) is not None}
    for out in outputs:
        real = osp.realpath(out)
        inside = real.rstrip(os.sep) + os.sep
        for real_input, given in real_inputs:
            if real_input == real or (nested and real_input.startswith(inside)):
                return out, given
        key = _inode(out)
        if key is not None and key in inodes:
            return out, inodes[key]
    return None


def refuse_output_over_input(outputs: Iterable[str], inputs: Iterable[str], what: str = 'output',
                             nested: bool = True) -> None:
    """Raise ``UnsafePathError`` when an output is one of the inputs or (``nested``) would hold one (see
    :func:`find_clash`)."""
    clash = find_clash(outputs, inputs, nested)
    if clash is not None:
        out, given = clash
        where = 'is' if osp.realpath(out) == osp.realpath(given) or _inode(out) == _inode(given) else 'holds'
        alias = '' if out == given else f' {given}'
        raise UnsafePathError(f'{what} {out} {where} the input{alias}: writing it would replace what is read; '
                              'choose another output path')


# -- whole files written atomically, appended files repaired -----------------------------------------------------------
@contextmanager
def atomic_path(path: str, keep_extension: bool = False) -> Iterator[str]:
    """A temporary path beside ``path`` to write the whole file to; renamed onto ``path`` (``os.replace``) when the
    block ends without an error, removed when it fails. A process killed mid-write never leaves half a ``path``
    and never touches an earlier one.

    The temporary name is ``<path>.tmp``; with ``keep_extension`` it is ``<stem>.tmp<ext>`` (writers that pick the
    format from the name: ``savefig``, ``cv2.imwrite``). Without it the name ends in ``.tmp``, so BasicSR's
    auto-resume never takes it for a ``.pth`` / ``.state`` file.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, ext = osp.splitext(path)
    tmp = f'{stem}.tmp{ext}' if keep_extension else f'{path}.tmp'
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def write_atomic(path: str, data: str | bytes, encoding: str = 'utf-8') -> str:
    """Write ``data`` (text or bytes) to ``path`` whole (:func:`atomic_path`); returns ``path``."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            with open(tmp, 'wb') as f:
                f.write(data)
        else:
            with open(tmp, 'w', encoding=encoding) as f:
                f.write(data)
    return path


def drop_cut_line(path: str) -> None:
    """Cut off a last line without its newline (an interrupted run's half-written row) from an append-only file, so
    that appended rows start on a line of their own and the half row is not mistaken for a result."""
    with open(path, 'rb+') as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b'\n':
            return
        f.seek(max(0, size - (1 << 20)))  # a row is far shorter than 1 MiB
        tail = f.read()
        end = tail.rfind(b'\n')
        f.truncate(size - len(tail) + end + 1 if end >= 0 else 0)


class OutputBusyError(RuntimeError):
    """Another process is writing the same output file."""


@contextmanager
def single_writer(path: str) -> Iterator[str]:
    """Hold an OS lock (``filelock.FileLock`` on ``<path>.lock``, left beside the file) while writing ``path``.

    A second process asking for the same file gets :class:`OutputBusyError` at once instead of writing rows beside
    the first one. The OS releases the lock when its holder exits, however it ends (killed included).
    """
    from filelock import FileLock, Timeout

    lock_path = f'{path}.lock'
    os.makedirs(osp.dirname(osp.abspath(lock_path)), exist_ok=True)
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise OutputBusyError(f'{path} is being written by another process (it holds {lock_path}); wait until it '
                              'has finished, then run again (--resume continues its file)') from None
    try:
        yield lock_path
    finally:
        lock.release()
