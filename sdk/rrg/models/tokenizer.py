"""Local byte-level BPE tokenizers for the tiny model twins.

A tiny twin needs a tokenizer that behaves like its family's real one (same special tokens, same
chat template) without downloading anything. It is trained here with the ``tokenizers`` library on
the report text bundled with rrg (:data:`rrg.paths.BUNDLED_REPORTS`), so it splits radiology
vocabulary into sensible pieces, and it is deterministic: the same corpus, vocabulary size and
special tokens give the same ``tokenizer.json`` bytes on every build.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rrg.errors import InputError
from rrg.paths import BUNDLED_REPORTS

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedTokenizerFast

TINY_VOCAB_SIZE = 512
"""Size of a tiny twin's vocabulary, special tokens included."""


@dataclass(frozen=True)
class SpecialTokens:
    """The special tokens of one family, in the order they receive ids (0, 1, 2, ...).

    ``named`` maps tokenizer attributes (``bos_token``, ``eos_token``, ``pad_token``, ``unk_token``)
    to tokens; ``model_specific`` maps extra attribute names that processors read (for example
    Gemma 3's ``boi_token``, ``eoi_token`` and ``image_token``) to tokens. Every token of both maps
    must appear in ``tokens``.
    """

    tokens: tuple[str, ...]
    named: dict[str, str] = field(default_factory=dict)
    model_specific: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [
            t for t in [*self.named.values(), *self.model_specific.values()] if t not in self.tokens
        ]
        if missing:
            raise ValueError(f"special tokens {missing} are named but not listed in tokens")


def report_corpus(path: Path = BUNDLED_REPORTS) -> Iterator[str]:
    """Yield the findings and impression texts of a JSONL report file, in file order."""
    if not path.is_file():
        raise InputError(
            f"report corpus {path} does not exist", hint="reinstall rrg-sdk; the file ships with it"
        )
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(
                    f"{path}:{number}: not valid JSON ({error.msg})",
                    hint="fix or restore the report file",
                ) from error
            for key in ("findings", "impression"):
                text = record.get(key)
                if isinstance(text, str) and text.strip():
                    yield text.strip()


def train_bpe_tokenizer(
    special_tokens: SpecialTokens,
    chat_template: str,
    *,
    vocab_size: int = TINY_VOCAB_SIZE,
    corpus: Sequence[str] | None = None,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer with the family's special tokens and chat template.

    The special tokens take ids ``0 .. len(special_tokens.tokens) - 1``; the 256 byte symbols and
    the learned merges follow, up to ``vocab_size`` entries in all. Training is deterministic.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(corpus) if corpus is not None else list(report_corpus())
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(special_tokens.tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        chat_template=chat_template,
        model_specific_special_tokens=dict(special_tokens.model_specific) or None,
        clean_up_tokenization_spaces=False,
        **special_tokens.named,
    )
