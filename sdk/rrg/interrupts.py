"""SIGTERM handled like Ctrl-C, so a run or a scoring job ends the same way whichever stopped it."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Raise ``KeyboardInterrupt("signal 15")`` on SIGTERM inside the block: the caller's Ctrl-C
    handling (a run marked interrupted, a temporary file removed, one "Interrupted" line and exit
    status 130) covers both. Outside the main thread, where no handler can be set, nothing changes."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
