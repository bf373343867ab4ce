"""Room on CPython's frame stack for rrg's long loops (training, generation, scoring).

CPython (3.11 and later) keeps the frames of Python calls on a per-thread stack made of chunks
of 16 KiB. A call that does not fit in the current chunk maps a new one, and the new chunk is
unmapped as soon as that call returns. A loop whose calls go back and forth across a chunk
boundary maps, faults in and unmaps 16 KiB at every crossing. A training step goes through some
60 to 80 nested Python calls (the trainer, each module's ``__call__``, PEFT's layers, the
attention), so where the boundary falls depends on how deep the caller already was: measured on
the demo GRPO recipe, 16 steps through ``rrg run`` crossed it 60,800 times and took 1.3-1.6x the
step time of a plain TRL script that happened to sit elsewhere (7,300 crossings); the page faults
also keep torch's OpenMP worker spinning while it waits for the main thread.

:func:`roomy_stack` runs a function in a frame large enough that CPython gives it a chunk of
1 MiB of its own, about half of which is left for the calls it makes: thousands of frames, more
than any training loop nests, so nothing inside crosses a chunk boundary wherever the caller
was. The chunk is mapped lazily: only the pages the calls use are ever touched.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

CHUNK_OVERHEAD_SLOTS = 1000
"""What CPython adds to a frame's size when it sizes a new chunk (``MINIMUM_OVERHEAD``)."""
ROOM_SLOTS = (512 * 1024 + 8 * 1024) // 8 - CHUNK_OVERHEAD_SLOTS
"""Stack slots (8 bytes each) added to the trampoline's frame: just over half of 1 MiB with the
overhead, so CPython doubles the chunk from 16 KiB up to 1 MiB and leaves the other half free."""

_state = threading.local()


def _call(function, args, kwargs):  # its code object is resized below
    return function(*args, **kwargs)


_call.__code__ = _call.__code__.replace(co_stacksize=_call.__code__.co_stacksize + ROOM_SLOTS)


def roomy_stack(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` (and everything it calls) on a frame-stack chunk of 1 MiB; a call made
    inside another :func:`roomy_stack` function of the same thread runs where it is."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if getattr(_state, "inside", False):
            return function(*args, **kwargs)
        _state.inside = True
        try:
            return _call(function, args, kwargs)
        finally:
            _state.inside = False

    return wrapper
