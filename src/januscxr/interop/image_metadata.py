"""PNG and JPEG files without their metadata: text chunks, EXIF, XMP and comments are dropped, pixels kept byte for byte.

Re-encoding through an image library would strip the metadata too, but a JPEG would lose
quality; walking the file's chunks (PNG) or marker segments (JPEG) keeps the compressed pixel
data exactly as it was.
"""

from __future__ import annotations

import struct

from januscxr.errors import ImageReadError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# Chunks that describe the pixels; every other chunk (tEXt, zTXt, iTXt, eXIf, tIME, iCCP, private ones) goes.
_PNG_KEPT = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD"})
_APP14 = 0xEE  # Adobe: tells a decoder the colour transform; the only application segment kept
_COM = 0xFE
_SOS = 0xDA
_EOI = 0xD9
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn carry no length


def strip_metadata(data: bytes, *, name: str) -> bytes:
    """``data`` (a PNG or JPEG file) without metadata; raises ImageReadError naming ``name`` otherwise."""
    if data.startswith(PNG_SIGNATURE):
        return _strip_png(data, name)
    if data.startswith(JPEG_SOI):
        return _strip_jpeg(data, name)
    raise ImageReadError(f"{name}: not a PNG or JPEG file; expected one of those or DICOM")


def _strip_png(data: bytes, name: str) -> bytes:
    kept = [PNG_SIGNATURE]
    position = len(PNG_SIGNATURE)
    while position < len(data):
        if position + 12 > len(data):
            raise ImageReadError(f"{name}: PNG chunk truncated at byte {position}; expected a complete file")
        (length,) = struct.unpack(">I", data[position : position + 4])
        end = position + 12 + length
        if end > len(data):
            raise ImageReadError(f"{name}: PNG chunk truncated at byte {position}; expected a complete file")
        if data[position + 4 : position + 8] in _PNG_KEPT:
            kept.append(data[position:end])
        if data[position + 4 : position + 8] == b"IEND":
            return b"".join(kept)
        position = end
    raise ImageReadError(f"{name}: PNG without an IEND chunk; expected a complete file")


def _strip_jpeg(data: bytes, name: str) -> bytes:
    kept = [JPEG_SOI]
    position = 2
    while position < len(data):
        if data[position] != 0xFF:
            raise ImageReadError(f"{name}: no JPEG marker at byte {position}; expected a complete file")
        marker = data[position + 1] if position + 1 < len(data) else _EOI
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == _EOI:
            kept.append(b"\xff\xd9")
            return b"".join(kept)
        if marker in _STANDALONE:
            kept.append(data[position : position + 2])
            position += 2
            continue
        if position + 4 > len(data):
            raise ImageReadError(f"{name}: JPEG segment truncated at byte {position}; expected a complete file")
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        end = position + 2 + length
        if not (0xE0 <= marker <= 0xEF and marker != _APP14) and marker != _COM:
            kept.append(data[position:end])
        position = _entropy_end(data, end) if marker == _SOS else end
        if marker == _SOS:
            kept.append(data[end:position])
    raise ImageReadError(f"{name}: JPEG without an end-of-image marker; expected a complete file")


def _entropy_end(data: bytes, position: int) -> int:
    """Where a scan's entropy-coded data ends: the next marker that is not a stuffed byte or a restart."""
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            return len(data)
        follower = data[position + 1]
        if follower == 0x00 or 0xD0 <= follower <= 0xD7:
            position += 2
            continue
        return position
