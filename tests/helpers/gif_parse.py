"""A GIF89a structure parser for the tests (frame count, per-frame delays, loop count, size)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

PathLike = Union[str, os.PathLike]


def gif_info(path: PathLike) -> dict:
    """Parse a GIF's structure: ``dict(frames, delays_ms, loop, width, height)``.

    ``frames`` counts image descriptors; ``delays_ms[i]`` is the delay of frame ``i`` from its
    Graphic Control Extension (centiseconds x 10; 0 when absent); ``loop`` is the
    NETSCAPE2.0 loop count (0 = forever) or ``None`` when the block is absent (play once).
    Written from the GIF89a specification; raises ``ValueError`` on malformed data.
    """
    data = Path(path).read_bytes()
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise ValueError(f"{path} is not a GIF")
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    flags = data[10]
    pos = 13
    if flags & 0x80:
        pos += 3 * (2 << (flags & 0x07))

    def skip_sub_blocks(p: int) -> int:
        while True:
            if p >= len(data):
                raise ValueError("truncated GIF")
            n = data[p]
            p += 1
            if n == 0:
                return p
            p += n

    delays: list[int] = []
    pending_delay = 0
    loop = None
    while True:
        if pos >= len(data):
            raise ValueError("truncated GIF (no trailer)")
        b = data[pos]
        if b == 0x3B:  # trailer
            break
        if b == 0x21:  # extension
            label = data[pos + 1]
            p = pos + 2
            if label == 0xF9 and data[p] >= 4:  # graphic control extension
                pending_delay = int.from_bytes(data[p + 2 : p + 4], "little") * 10
            elif label == 0xFF and data[p] == 11 and data[p + 1 : p + 12] in (b"NETSCAPE2.0", b"ANIMEXTS1.0"):
                q = p + 12
                if data[q] >= 3 and data[q + 1] == 1:
                    loop = int.from_bytes(data[q + 2 : q + 4], "little")
            pos = skip_sub_blocks(p)
        elif b == 0x2C:  # image descriptor
            lflags = data[pos + 9]
            pos += 10
            if lflags & 0x80:
                pos += 3 * (2 << (lflags & 0x07))
            pos += 1  # LZW minimum code size
            pos = skip_sub_blocks(pos)
            delays.append(pending_delay)
            pending_delay = 0
        else:
            raise ValueError(f"unexpected block 0x{b:02x} at byte {pos}")
    return dict(frames=len(delays), delays_ms=delays, loop=loop, width=width, height=height)
