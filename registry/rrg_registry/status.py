"""A run's lifecycle: ``pending -> running -> succeeded | failed | interrupted``.

A run is created ``pending``; ``start`` moves it to ``running``; it ends ``succeeded``, ``failed``
or ``interrupted``. A run may also end ``failed`` or ``interrupted`` straight from ``pending``
(its process died or refused to start before training began). ``succeeded`` is final; a ``failed``
or ``interrupted`` run goes back to ``running`` only through ``Registry.resume_run`` (continuing from
a checkpoint) or ``Registry.revive_run`` (its process was alive after all).
The database enforces the set of values with the named check constraint ``ck_runs_status``;
:func:`check_transition` enforces the moves, and the store applies it inside the transaction that
writes the new status.
"""

from __future__ import annotations

from enum import Enum

from rrg_registry.errors import InvalidTransition


class RunStatus(str, Enum):
    """The status of a run."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value

    @property
    def is_final(self) -> bool:
        """True for ``succeeded``, ``failed`` and ``interrupted``."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.INTERRUPTED})

ALLOWED_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.INTERRUPTED}),
    RunStatus.RUNNING: frozenset(FINAL_STATUSES),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.INTERRUPTED: frozenset(),
}

RESUMABLE_STATUSES = frozenset({RunStatus.FAILED, RunStatus.INTERRUPTED})
"""End states a run may leave again, back to ``running``: by ``rrg resume`` (from its last valid
checkpoint), or by its own live process when it was marked interrupted for a missed heartbeat."""

REAPED_PREFIX = "no heartbeat for more than "
"""How the error text of a run marked interrupted for silence begins."""

STATUS_VALUES: tuple[str, ...] = tuple(s.value for s in RunStatus)


def parse_status(value: str | RunStatus) -> RunStatus:
    """``value`` as a :class:`RunStatus`; an unknown name raises :class:`InvalidTransition`."""
    if isinstance(value, RunStatus):
        return value
    try:
        return RunStatus(value)
    except ValueError:
        raise InvalidTransition(
            f"unknown run status {value!r}", hint=f"use one of {', '.join(STATUS_VALUES)}"
        ) from None


def check_transition(run_id: str, current: str | RunStatus, new: str | RunStatus) -> RunStatus:
    """Return ``new`` as a :class:`RunStatus` if a run may move there from ``current``.

    Raises :class:`InvalidTransition` naming the run, both statuses and the allowed moves.
    """
    current_status, new_status = parse_status(current), parse_status(new)
    allowed = ALLOWED_TRANSITIONS[current_status]
    if new_status not in allowed:
        if allowed:
            hint = f"from {current_status} a run can move to {', '.join(sorted(s.value for s in allowed))}"
        else:
            hint = f"{current_status} is final; start a new run instead"
        raise InvalidTransition(f"run {run_id} cannot move from {current_status} to {new_status}", hint=hint)
    return new_status
