"""Tiny real pictures for adapter tests: a 1×1 PNG and a 1×1 baseline JPEG, built byte by byte."""

from __future__ import annotations

import struct
import zlib

from adapters import MediaFile


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes() -> bytes:
    """A 1×1 white 8-bit greyscale PNG."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff")  # filter byte 0, one white pixel
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def jpeg_bytes() -> bytes:
    """A 1×1 mid-grey baseline JPEG: one 8×8 block whose DC difference and every AC are zero."""

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    one_code = bytes([1] + [0] * 15) + b"\x00"  # one 1-bit code, for symbol 0
    return b"".join(
        (
            b"\xff\xd8",
            segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xDB, b"\x00" + bytes([1] * 64)),
            segment(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00"),
            segment(0xC4, b"\x00" + one_code),  # DC: category 0
            segment(0xC4, b"\x10" + one_code),  # AC: end of block
            segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            b"\x3f",  # DC 0, EOB, padded with ones
            b"\xff\xd9",
        )
    )


def picture(name: str = "a", kind: str = "jpeg", size: int | None = None) -> MediaFile:
    """A picture at a public https URL; `size` pads it (after its end marker) to that many bytes."""
    data = jpeg_bytes() if kind == "jpeg" else png_bytes()
    if size is not None:
        data += b"\x00" * max(0, size - len(data))
    extension = "jpg" if kind == "jpeg" else kind
    return MediaFile(url=f"https://irna.ir/media/{name}.{extension}", content_type=f"image/{kind}", data=data)


def video(name: str = "clip") -> MediaFile:
    """Not a playable video: a few bytes typed as MP4, for checks of the kinds a platform takes."""
    return MediaFile(
        url=f"https://irna.ir/media/{name}.mp4", content_type="video/mp4", data=b"\x00\x00\x00\x18ftypmp42"
    )
