"""Keeping the operator blind: what may be shown while trials run.

The workers print their checkpoint paths and the supervisor repeats a failing node's
last lines; an evaluation therefore never echoes node logs, and every line it does
show passes through :class:`Redactor`, which replaces any checkpoint path or name
with ``<hidden>``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

__all__ = ["Redactor", "secrets_of", "HIDDEN", "MIN_NAME_CHARS"]

HIDDEN = "<hidden>"
#: Shorter checkpoint names are not redacted as bare words (they would eat ordinary text).
MIN_NAME_CHARS = 3


def secrets_of(checkpoints: Iterable[str]) -> list[str]:
    """Strings that identify a checkpoint: its path as given, resolved, and its name."""
    out: set[str] = set()
    for c in checkpoints:
        p = Path(c)
        out.update({c, str(p), str(p.resolve())})
        if len(p.name) >= MIN_NAME_CHARS:
            out.add(p.name)
        if len(p.parent.name) >= MIN_NAME_CHARS and p.name in ("", "checkpoint", "ckpt", "last", "final"):
            out.add(p.parent.name)
    # Longest first, so a path is replaced whole before its name is looked for.
    return sorted((s for s in out if s), key=len, reverse=True)


class Redactor:
    """A text stream that writes to ``stream`` with every secret replaced.

    Args:
        stream: where the redacted text goes (e.g. ``sys.stdout``).
        secrets: strings never to show.
    """

    def __init__(self, stream: TextIO, secrets: Iterable[str]) -> None:
        self.stream = stream
        self.secrets = sorted(set(secrets), key=len, reverse=True)
        self._lock = threading.Lock()
        self.redacted = 0

    def redact(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                self.redacted += text.count(s)
                text = text.replace(s, HIDDEN)
        return text

    def write(self, text: str) -> int:
        with self._lock:
            return self.stream.write(self.redact(text))

    def flush(self) -> None:
        self.stream.flush()

    def say(self, line: str) -> None:
        """Write one line and flush."""
        self.write(line + "\n")
        self.flush()
