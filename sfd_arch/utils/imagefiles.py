"""Image files checked without decoding them: their size from the header, and whether a JPEG or PNG is whole.

OpenCV decodes a truncated JPEG without an error (libjpeg prints "Premature end of JPEG file" and fills the rest
gray), so a cut file would be scored or trained on as if it were an image. ``incomplete`` finds the cut from the
file's structure, never by decoding:

- JPEG: the marker segments from the start of the file up to the first start-of-scan (an EXIF thumbnail and its
  own end marker sit inside a segment and are skipped), then an end-of-image marker (``FF D9``) after it, searched
  backwards from the end of the file (inside scan data a ``FF`` byte is always followed by ``00`` or a restart
  marker, so ``FF D9`` there is the end). A file cut inside its headers is left to the decoder, which refuses it;
- PNG: the chunks from the signature on, each inside the file, up to the ``IEND`` chunk (a file whose chunks
  are garbage is corrupt rather than cut, and left to the decoder).

Both read each segment or chunk header only (a few dozen for a photo), so the check costs microseconds per image
on top of reading the file, which the decoder does anyway (``scripts/benchmarks/option_check.py`` prints it).
Other formats are left to the decoder, which refuses what it cannot read.
"""
from __future__ import annotations

import struct
from typing import Optional, Union

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG markers that stand alone (no length field): TEM, RST0-7, SOI, EOI
_STANDALONE = {0x01, *range(0xD0, 0xD8), 0xD8, 0xD9}


class ImageFileError(ValueError):
    """An image file whose header cannot be read; the message names the file and the reason."""


def read_bytes(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def incomplete(data: Union[bytes, memoryview], name: str = 'image') -> Optional[str]:
    """Why a JPEG or PNG file's bytes are not a whole image (truncated, cut inside a chunk), or None when they are
    whole or another format."""
    data = bytes(data) if isinstance(data, memoryview) else data
    if data[:2] == b'\xff\xd8':
        return _jpeg_incomplete(data, name)
    if data[:8] == _PNG_SIGNATURE:
        return _png_incomplete(data, name)
    return None


def _jpeg_incomplete(data: bytes, name: str) -> Optional[str]:
    # Only a file whose headers are whole and whose image data is cut is judged here: that is the case OpenCV
    # decodes without an error. A file that ends (or turns to garbage) inside its headers is left to the decoder,
    # which refuses it.
    pos, size = 2, len(data)
    while True:
        while pos < size and data[pos] != 0xFF:  # fill bytes between segments are tolerated, as decoders do
            pos += 1
        while pos < size and data[pos] == 0xFF:
            pos += 1
        if pos + 2 >= size:
            return None
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE:
            if marker == 0xD9:
                return None
            continue
        length = struct.unpack('>H', data[pos:pos + 2])[0]
        if marker == 0xDA:  # start of scan: the entropy-coded data follows; the last thing must be the end marker
            if data.rfind(b'\xff\xd9', pos + length) < 0:
                return f'{name}: truncated JPEG (no end-of-image marker after the image data: {size} bytes)'
            return None
        pos += length
        if pos > size:
            return None


def _png_incomplete(data: bytes, name: str) -> Optional[str]:
    # as for JPEG: judged only once the IHDR header chunk is whole; a file cut before it is left to the decoder
    pos, size, header = 8, len(data), False
    while pos + 8 <= size:
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        if not kind.isalpha() or (pos == 8 and kind != b'IHDR'):
            return None  # not a PNG's chunks (corrupt, not cut): the decoder says it cannot read it
        end = pos + 12 + length  # length, type, data, CRC
        if end > size:
            if not header:
                return None
            return f'{name}: truncated PNG (the file ends inside its {kind.decode("latin-1")} chunk: {size} bytes)'
        if kind == b'IEND':
            return None
        header, pos = True, end
    return f'{name}: truncated PNG (no IEND chunk: the file ends after {size} bytes)' if header else None


def file_incomplete(path: str) -> Optional[str]:
    """``incomplete`` of a file; an unreadable file is an error too."""
    try:
        return incomplete(read_bytes(path), path)
    except OSError as err:
        return f'{path}: cannot read the file ({err.strerror or err})'


def image_size(path: str) -> tuple[int, int]:
    """``(width, height)`` from the file's header (Pillow opens lazily: no pixel is decoded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise ImageFileError(f'{path}: no such file') from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise ImageFileError(f'{path}: not a readable image ({err})') from None
