"""File fingerprints shared by the metric weight checks, `sfd-iqa bench`'s score cache and `scripts/compare.py`."""
from __future__ import annotations

import hashlib
import os
import os.path as osp

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
