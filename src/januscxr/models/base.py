"""The protocols model backends implement, and the frozen spec the registry holds."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from januscxr.labels import Finding
from januscxr.types import DraftReport, FindingResult, Image, Prediction


@runtime_checkable
class Classifier(Protocol):
    """Scores findings on chest radiographs."""

    @property
    def spec(self) -> ClassifierSpec: ...

    def predict(self, images: Sequence[Image], *, heatmaps: bool = True) -> list[Prediction]:
        """One :class:`Prediction` per image, in order; heatmaps for flagged findings."""
        ...


@runtime_checkable
class Reporter(Protocol):
    """Drafts a report for one image, given the classifier's findings."""

    @property
    def name(self) -> str: ...

    def draft(self, image: Image, findings: Mapping[Finding, FindingResult]) -> DraftReport:
        """A FINDINGS / IMPRESSION draft for a radiologist to review."""
        ...


@runtime_checkable
class Gate(Protocol):
    """Decides whether an image is a frontal chest radiograph before any finding is scored."""

    @property
    def spec(self) -> GateSpec: ...

    def check(self, images: Sequence[Image]) -> list[GateDecision]:
        """One :class:`GateDecision` per image, in order."""
        ...


@dataclass(frozen=True)
class GateDecision:
    """The gate's call on one image: accepted, or refused with a reason in plain words."""

    accepted: bool
    reason: str | None = None  # "looks like random noise (chest probability 0.00 < 0.50)"
    scores: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class GateSpec:
    """What the registry knows of a chest-radiograph gate before loading it (see :class:`ClassifierSpec`)."""

    model_id: str
    version: str
    input_size: int
    factory: Callable[[GateSpec, Path | None], Gate]
    weights: str | None = None
    sha256: str | None = None
    model_card: str | None = None
    description: str = ""
    test_double: bool = False


@dataclass(frozen=True)
class ClassifierSpec:
    """What the registry knows of a classifier before loading it.

    ``weights`` is a file name inside the package's weights folder (or an absolute path);
    ``sha256`` is checked before the file is read. ``factory`` builds the backend from
    the spec and the verified weights path (None for backends without weights).
    ``user_weights``: a published expert whose weights the user converts into the models folder
    (``januscxr models convert``), checked against the sha256 recorded then; ``obtain`` says how.
    """

    model_id: str
    version: str
    labels: tuple[Finding, ...]
    input_size: int
    factory: Callable[[ClassifierSpec, Path | None], Classifier]
    weights: str | None = None
    sha256: str | None = None
    model_card: str | None = None
    description: str = ""
    test_double: bool = False
    user_weights: bool = False
    obtain: str = ""


@dataclass(frozen=True)
class ReporterSpec:
    """What the registry knows of a vision-language reporter before its weights are on disk.

    ``hub_repo`` is the Hugging Face repository the weights come from and ``revision`` the
    commit they are pinned to (``None``: not pinned yet; ``pull`` records the commit it got).
    ``layout`` is ``"deepseek"`` for DeepSeek's original ``multi_modality`` checkpoints, which
    ``januscxr models pull`` converts to the Hugging Face layout after downloading. A reporter
    fine-tuned here (``januscxr train reporter``) has ``hub_repo`` ``"local"``: its weights and card
    are in its folder of the models directory.
    """

    model_id: str
    hub_repo: str
    revision: str | None
    layout: str
    description: str
    licence: str
    parameters: str
    based_on: str | None = None
    model_card: str | None = None  # a reporter trained here: the path of the card written beside its weights
