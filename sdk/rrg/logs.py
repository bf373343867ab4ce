"""What a run prints besides rrg's own progress: nothing, unless asked.

The libraries under a run draw their own progress bars (weights loading, dataset maps, shard
writing) and raise deprecation warnings a user cannot act on. :func:`quiet_libraries` turns those
off for the duration of a run (``verbose=True`` keeps them), and :data:`ANSWERED_WARNINGS` drops,
by message, the upstream warnings whose question the recipe already answers; every other warning
still reaches the user.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

ANSWERED_WARNINGS: dict[str, tuple[str, ...]] = {
    # DR-GRPO with sequence-level importance sampling is the study's choice, made on purpose
    # (grpo.loss_type, grpo.importance_sampling_level); TRL's advice to switch is answered.
    "trl.trainer.grpo_trainer": ("When using `importance_sampling_level='sequence'`",),
    # The tiny twins' locally trained tokenizer sets BOS/EOS/PAD ids that transformers copies into
    # the model's config, as intended.
    "transformers.trainer_utils": ("The tokenizer has new PAD/BOS/EOS tokens",),
}
"""Logger name -> message prefixes of upstream warnings a recipe answers (dropped by message)."""


class _Answered(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def install_answered_filters() -> None:
    """Drop the :data:`ANSWERED_WARNINGS` (idempotent)."""
    for name, prefixes in ANSWERED_WARNINGS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Answered) for f in logger.filters):
            logger.addFilter(_Answered(prefixes))


@contextmanager
def quiet_libraries(verbose: bool = False) -> Iterator[None]:
    """Within the block: no progress bars from transformers or datasets, and no deprecation
    warnings raised inside transformers, TRL or PEFT (their users cannot act on them); the
    answered warnings are dropped in any case. ``verbose=True`` leaves the libraries as they are."""
    install_answered_filters()
    if verbose:
        yield
        return
    import datasets

    maps = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with no_transformers_progress_bars(), warnings.catch_warnings():
            for module in ("transformers", "trl", "peft"):
                warnings.filterwarnings("ignore", category=FutureWarning, module=module)
            yield
    finally:
        if maps:
            datasets.enable_progress_bars()


@contextmanager
def no_transformers_progress_bars() -> Iterator[None]:
    """Within the block, transformers draws no progress bars (weights loading, shard writing)."""
    from transformers.utils import logging as transformers_logging

    shown = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            transformers_logging.enable_progress_bar()
