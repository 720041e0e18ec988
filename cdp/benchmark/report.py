"""The benchmark's outputs: a terminal table per stage and a PNG bar chart (pure Python, no matplotlib)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# 3x5 bitmap digits and letters for bar labels; enough to print stage names and seconds.
_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", ":": "000010000010000",
    "s": "000011010001110", "-": "000000111000000", "_": "000000000000111", " ": "000000000000000",
    "a": "000110011101011", "b": "100100110101110", "c": "000011100100011", "d": "001001011101011",
    "e": "000111111100011", "f": "011100110100100", "g": "011101011001110", "h": "100100110101101",
    "i": "010000010010010", "j": "001000001001110", "k": "100101110101101", "l": "110010010010111",
    "m": "000111111101101", "n": "000110101101101", "o": "000010101101010", "p": "000110101110100",
    "q": "000011101011001", "r": "000011100100100", "t": "010111010010011", "u": "000101101101011",
    "v": "000101101101010", "w": "000101101111111", "x": "000101010101101", "y": "000101011001110",
    "z": "000111001100111",
}


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """One line per stage: wall seconds, rows/s, peak RSS, reference figure and ratio."""
    header = f"{'stage':<20}{'wall s':>9}{'rows':>11}{'rows/s':>11}{'peak MiB':>10}  {'reference':<22}{'ref s':>9}{'ratio':>8}"
    lines = [header, "-" * len(header)]
    for row in rows:
        def num(value: Any, fmt: str) -> str:
            return "-" if value is None else format(value, fmt)

        lines.append(
            f"{row['stage']:<20}{num(row['seconds'], '.2f'):>9}{num(row['rows'], ',d'):>11}"
            f"{num(row['rows_per_second'], ',.0f'):>11}{num(row['peak_rss_mib'], ',.0f'):>10}  "
            f"{(row.get('reference') or '-'):<22}{num(row.get('reference_seconds'), '.2f'):>9}"
            f"{num(row.get('ratio'), '.2f'):>8}"
        )
    return "\n".join(lines)


def png_bytes(pixels: Sequence[Sequence[tuple[int, int, int]]]) -> bytes:
    """Encode rows of RGB tuples as an 8-bit truecolour PNG."""
    height = len(pixels)
    width = len(pixels[0]) if height else 0
    if not height or not width or any(len(row) != width for row in pixels):
        raise ValueError("a PNG needs a non-empty rectangle of pixels (every row the same width)")

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    # Filter type 0 (none) at the start of every scanline.
    raw = b"".join(b"\x00" + bytes(channel for pixel in row for channel in pixel) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _draw_text(canvas: list[list[tuple[int, int, int]]], x: int, y: int, text: str, scale: int = 2) -> None:
    for offset, char in enumerate(text.lower()):
        glyph = _GLYPHS.get(char, _GLYPHS[" "])
        for bit, value in enumerate(glyph):
            if value == "1":
                gx, gy = x + offset * 4 * scale + (bit % 3) * scale, y + (bit // 3) * scale
                for dy in range(scale):
                    for dx in range(scale):
                        if 0 <= gy + dy < len(canvas) and 0 <= gx + dx < len(canvas[0]):
                            canvas[gy + dy][gx + dx] = (20, 20, 20)


def bar_chart_png(bars: Sequence[tuple[str, float]], path: Path, width: int = 720) -> Path:
    """Write a horizontal bar chart of (label, seconds) to ``path``; returns the path."""
    if not bars:
        raise ValueError("no bars to draw")
    bar_height, gap, label_width, margin = 14, 6, 200, 10
    height = margin * 2 + len(bars) * (bar_height + gap)
    canvas = [[(255, 255, 255)] * width for _ in range(height)]
    longest = max(max(value, 0.0) for _, value in bars) or 1.0
    room = width - label_width - margin * 2 - 60
    for index, (label, value) in enumerate(bars):
        top = margin + index * (bar_height + gap)
        length = max(1, round(room * max(value, 0.0) / longest))
        for y in range(top, top + bar_height):
            for x in range(label_width, label_width + length):
                canvas[y][x] = (66, 120, 190)
        _draw_text(canvas, margin, top + 2, label[:24])
        _draw_text(canvas, label_width + length + 6, top + 2, f"{value:.1f}s")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(canvas))
    return path
