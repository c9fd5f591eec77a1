"""Read a text file an administrator gave us, refusing it before it costs memory (rule 4).

`read_text(path, limit)` reads at most `limit` bytes (one byte more tells that the file is
longer), so /dev/zero, a FIFO that never ends or a 50 MB file given by mistake is refused at
once instead of filling memory; and a byte that is not UTF-8 is named by line and column, not
by its offset in the file.
"""

from __future__ import annotations

from pathlib import Path


class TextFileError(ValueError):
    """The file is too big or not UTF-8 text (`line`, `column`: where the bad byte is, or None)."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None):
        where = f"line {line}, column {column}: " if line else ""
        super().__init__(where + reason)
        self.reason, self.line, self.column = reason, line, column


def read_text(path: Path, limit: int) -> str:
    """The file's text (UTF-8, a leading BOM dropped); TextFileError if longer than `limit` bytes
    or not UTF-8; OSError as open() raises it."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TextFileError(f"larger than {_size(limit)}: is this the right file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TextFileError(f"byte 0x{data[exc.start]:02x} is not UTF-8 text (save the file as UTF-8)",
                            line, column) from None


def _size(n: int) -> str:
    return f"{n // 2**20} MB" if n >= 2**20 else f"{n // 2**10} KB"
