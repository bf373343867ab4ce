"""rrg.callstack: a loop run under roomy_stack never maps a new frame-stack chunk, at any depth."""

from __future__ import annotations

import resource
import sys

import pytest

from rrg.callstack import roomy_stack

ITERATIONS = 2000
DEPTHS = range(0, 256)  # wider than one 16 KiB chunk of these frames


def _leaf(n: int) -> int:
    return n + 1


def _step(n: int) -> int:
    return _leaf(n) + _leaf(n)  # two calls one frame deeper per iteration


def _loop() -> None:
    for i in range(ITERATIONS):
        _step(i)


def _faults_at_depth(depth: int) -> int:
    """Minor page faults of the loop run ``depth`` Python frames below the caller."""
    if depth:
        return _faults_at_depth(depth - 1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    _loop()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_without_room_some_depth_maps_a_chunk_at_every_call() -> None:
    """What rrg.callstack exists for: at the depth where a chunk ends, each call into it maps a
    fresh chunk (a page fault per call) and unmaps it on return."""
    faults = [_faults_at_depth(depth) for depth in DEPTHS]
    assert max(faults) >= ITERATIONS


def test_roomy_stack_keeps_the_loop_on_one_chunk_at_every_depth() -> None:
    roomy = roomy_stack(_faults_at_depth)
    faults = {depth: roomy(depth) for depth in DEPTHS}
    worst = max(faults, key=faults.__getitem__)
    assert faults[worst] < 50, f"{faults[worst]} page faults for {ITERATIONS} iterations at depth {worst}"


def test_roomy_stack_returns_raises_and_nests() -> None:
    calls = []

    @roomy_stack
    def inner(x: int) -> int:
        calls.append(x)
        return x * 2

    @roomy_stack
    def outer(x: int) -> int:
        return inner(x) + 1  # already on a roomy chunk: runs where it is

    assert outer(5) == 11
    assert inner.__name__ == "inner"

    @roomy_stack
    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        fails()
    assert outer(1) == 3  # the thread's state was reset by the exception
    assert calls == [5, 1]


def test_roomy_stack_recursion_past_its_chunk() -> None:
    """Calls deeper than the chunk's room (about half a MiB) still work: CPython chains another."""

    def down(n: int) -> int:
        return 0 if n == 0 else 1 + down(n - 1)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(30_000)
    try:
        assert roomy_stack(down)(20_000) == 20_000
    finally:
        sys.setrecursionlimit(limit)
