"""Training examples for a Janus reporter: the inference prompt, the answer, the loss mask, the pixels.

Each example is laid out exactly as :class:`~januscxr.report.vlm.VlmReporter` lays out a study at
inference: :func:`~januscxr.report.prompt.build_prompt` with the expert hint, expanded into image
tokens by :meth:`~januscxr.models.janus.JanusBackend.encode_prompt`, and the image read by
:func:`januscxr.io.read_image` and preprocessed by :meth:`~januscxr.models.janus.JanusBackend.pixel_values`.
The answer follows as DeepSeek's ``deepseek`` template writes an assistant turn: a space after
``Assistant:``, the report, the end-of-sentence token. Labels are ``-100`` (ignored) on every
prompt and padding position, so the loss covers only the answer tokens.

The expert hint is the target report's own positive findings as :func:`januscxr.labeler.label_report`
labels them, so the model learns to use the classifier's findings; a seeded share of examples
goes without it, as a study does when the classifier flags nothing.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from januscxr.errors import JanusCxrError
from januscxr.io import read_image
from januscxr.labeler import label_report
from januscxr.labels import Finding
from januscxr.models.janus import JanusBackend
from januscxr.report.prompt import build_prompt
from januscxr.training.reporter_manifest import ReportExample
from januscxr.types import Image

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedExample:
    """Token ids of prompt + answer and their labels (``-100`` on the prompt)."""

    row: int
    input_ids: list[int]
    labels: list[int]

    @property
    def answer_tokens(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


@dataclass(frozen=True)
class ReporterBatch:
    """Right-padded tensors of one micro-batch."""

    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    labels: torch.Tensor  # (B, T), -100 on prompt and padding
    pixel_values: torch.Tensor  # (B, 3, S, S)

    @property
    def answer_tokens(self) -> int:
        return int((self.labels[:, 1:] != IGNORE_INDEX).sum())

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())


def expert_hint(answer: str) -> list[Finding]:
    """The report's positive findings as the labeler reads them (``No Finding`` never is a hint)."""
    return [f for f in label_report(answer).positive if f is not Finding.NO_FINDING]


def keeps_hint(*, seed: int, epoch: int, row: int, share_without_hint: float) -> bool:
    """Whether this example shows the hint this epoch: a draw seeded by (seed, epoch, row), no state."""
    return random.Random(f"{seed}:{epoch}:{row}").random() >= share_without_hint


def encode_example(backend: JanusBackend, example: ReportExample, hint: Sequence[Finding]) -> EncodedExample:
    """Prompt ids as at inference, then `` <answer><eos>``; labels mask the prompt."""
    prompt_ids = backend.encode_prompt(build_prompt(expert_findings=hint))
    answer_ids = answer_token_ids(backend, example.answer)
    return EncodedExample(
        row=example.line,
        input_ids=prompt_ids + answer_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + answer_ids,
    )


def answer_token_ids(backend: JanusBackend, answer: str) -> list[int]:
    """The answer's ids as the model should generate them after ``Assistant:``, ending with EOS."""
    ids = list(backend.tokenizer.backend.encode(f" {answer}", add_special_tokens=False).ids)
    return [*ids, backend.tokenizer.eos_id]


def load_example_image(example: ReportExample) -> Image | None:
    """The image through januscxr.io, as a read at inference; ``None`` (logged by row) when unreadable."""
    try:
        return read_image(example.image)
    except JanusCxrError as error:
        logger.warning("line %d skipped: %s", example.line, error)
        return None


def collate(backend: JanusBackend, encoded: Sequence[EncodedExample], images: Sequence[Image]) -> ReporterBatch:
    """Right-pad ids with the pad token, labels with -100; pixels by the backend's processor."""
    width = max(len(e.input_ids) for e in encoded)
    input_ids = torch.full((len(encoded), width), backend.tokenizer.pad_id, dtype=torch.long)
    labels = torch.full((len(encoded), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, example in enumerate(encoded):
        length = len(example.input_ids)
        input_ids[row, :length] = torch.tensor(example.input_ids)
        labels[row, :length] = torch.tensor(example.labels)
        mask[row, :length] = 1
    device = backend.device
    return ReporterBatch(input_ids.to(device), mask.to(device), labels.to(device), backend.pixel_values(images))


def answer_loss_sum(model: torch.nn.Module, batch: ReporterBatch) -> torch.Tensor:
    """Summed cross-entropy of the answer tokens; the vocabulary projection runs only at those positions.

    ``model`` is a ``JanusForConditionalGeneration`` (LoRA layers injected or not).
    """
    janus: torch.nn.Module = model.model  # type: ignore[assignment]
    hidden = janus(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, pixel_values=batch.pixel_values
    ).last_hidden_state  # (B, T, D)
    targets = batch.labels[:, 1:]  # position t predicts token t + 1
    keep = targets != IGNORE_INDEX
    logits = model.lm_head(hidden[:, :-1][keep])  # type: ignore[operator]  # (N, V)
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep], reduction="sum")
