"""The named registry of classifiers, reporters and chest-radiograph gates; verified loading of weights."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import NamedTuple

from januscxr.errors import (
    ChecksumMismatchError,
    ConfigurationError,
    JanusCxrError,
    ModelError,
    UnknownModelError,
    WeightsNotFoundError,
)
from januscxr.labels import Finding
from januscxr.models.base import Classifier, ClassifierSpec, Gate, GateSpec, ReporterSpec
from januscxr.models.expert_store import models_root
from januscxr.models.fake import FAKE_PROBABILITIES, build_fake_classifier, build_fake_gate
from januscxr.models.published import PUBLISHED_EXPERTS, PublishedExpert
from januscxr.models.weights_file import file_sha256


def _cxrnet_classifier(spec: ClassifierSpec, weights: Path | None) -> Classifier:
    # torch is imported when a model is built, not when the registry is listed (`januscxr --help`).
    from januscxr.models.cxrnet_classifier import CxrNetClassifier

    return CxrNetClassifier(spec, weights)


def _published_classifier(spec: ClassifierSpec, weights: Path | None) -> Classifier:
    from januscxr.models.published_classifier import PublishedClassifier

    return PublishedClassifier(spec, weights)


def _cxr_gate(spec: GateSpec, weights: Path | None) -> Gate:
    from januscxr.models.gate import CxrGate

    return CxrGate(spec, weights)


WEIGHTS_DIR = Path(str(files("januscxr.models") / "weights"))
DEFAULT_CLASSIFIER = "cxrnet-res128-kermany-nih"
DEFAULT_GATE = "cxrgate-res64-kermany-nih"

_CLASSIFIERS: dict[str, ClassifierSpec] = {}
_REPORTERS: dict[str, ReporterSpec] = {}
_GATES: dict[str, GateSpec] = {}


def register_classifier(spec: ClassifierSpec) -> None:
    _CLASSIFIERS[spec.model_id] = spec


def classifier_specs() -> list[ClassifierSpec]:
    return list(_CLASSIFIERS.values())


def get_classifier_spec(name: str) -> ClassifierSpec:
    try:
        return _CLASSIFIERS[name]
    except KeyError:
        known = ", ".join(sorted(_CLASSIFIERS))
        raise UnknownModelError(f"no classifier named {name!r}; registered: {known}") from None


def load_classifier(
    name: str = DEFAULT_CLASSIFIER, *, weights_dir: Path | None = None, models_dir: Path | None = None
) -> Classifier:
    """Build a registered classifier after checking its weights' sha256.

    Weights load from ``weights_dir`` when given, else from the package; a published expert's
    converted weights from ``models_dir`` (:func:`januscxr.models.expert_store.models_root`).
    """
    spec = get_classifier_spec(name)
    weights = None
    if spec.user_weights:
        from januscxr.models.expert_store import require_converted

        weights = require_converted(spec, models_dir)
    elif spec.weights is not None:
        weights = (weights_dir or WEIGHTS_DIR) / spec.weights
        verify_weights(weights, spec.sha256)
    return spec.factory(spec, weights)


def verify_weights(path: Path, sha256: str | None) -> None:
    """Raise unless ``path`` exists and hashes to ``sha256``."""
    if not path.is_file():
        raise WeightsNotFoundError(f"{path}: weights file not found; expected the file shipped with januscxr")
    actual = file_sha256(path)
    if sha256 is None or actual != sha256:
        raise ChecksumMismatchError(
            f"{path}: sha256 is {actual}; expected {sha256} from the registry (file damaged or replaced)"
        )


register_classifier(
    ClassifierSpec(
        model_id=DEFAULT_CLASSIFIER,
        version="2026.11.27",
        # The findings offered: those whose cross-validated AUC 95% CI lower bound is above 0.6 on
        # adult radiographs, the population januscxr reads (`januscxr train cv`, model card). The
        # network also outputs Pneumonia (learned on pediatric images; at chance on adult ones:
        # 0.495, CI 0.324 to 0.686), Atelectasis and Lung Opacity: never scored, drafted or shown.
        labels=(
            Finding.PLEURAL_EFFUSION,
            Finding.CARDIOMEGALY,
        ),
        input_size=128,
        factory=_cxrnet_classifier,
        weights=f"{DEFAULT_CLASSIFIER}.safetensors",
        sha256="da489df108de03d639bbe64d831bf1286fafe5695445429d202d31fd5f65ab8d",
        model_card=f"docs/model_cards/{DEFAULT_CLASSIFIER}.md",
        description="Small residual CNN trained here on Kermany pediatric pneumonia and 776 NIH ChestX-ray14 images (64 px).",
    )
)
register_classifier(
    ClassifierSpec(
        model_id="fake-classifier",
        version="0",
        labels=tuple(FAKE_PROBABILITIES),
        input_size=0,
        factory=build_fake_classifier,
        description="Fixed probabilities, for tests only; never the default.",
        test_double=True,
    )
)


def _published_spec(expert: PublishedExpert) -> ClassifierSpec:
    return ClassifierSpec(
        model_id=expert.model_id,
        version=expert.version,
        labels=expert.findings,
        input_size=expert.input_size,
        factory=_published_classifier,
        weights=f"{expert.model_id}.safetensors",
        model_card=f"docs/model_cards/{expert.model_id}.md",
        description=expert.description,
        user_weights=True,
        obtain=f"download {expert.source_url}, then run `januscxr models convert {expert.model_id} {expert.source_file}`",
    )


for _expert in PUBLISHED_EXPERTS.values():
    register_classifier(_published_spec(_expert))


def model_card_text(spec: ClassifierSpec | GateSpec) -> str | None:
    """The model card's Markdown, from the package or the source checkout's docs/."""
    return None if spec.model_card is None else read_model_card(spec.model_card)


def read_model_card(relative: str) -> str | None:
    """``docs/model_cards/NAME.md`` from the installed package, else from the source checkout."""
    name = Path(relative).name
    for candidate in (Path(str(files("januscxr"))) / "model_cards" / name, Path(__file__).parents[3] / relative):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return None


def register_gate(spec: GateSpec) -> None:
    _GATES[spec.model_id] = spec


def gate_specs() -> list[GateSpec]:
    return list(_GATES.values())


def get_gate_spec(name: str) -> GateSpec:
    try:
        return _GATES[name]
    except KeyError:
        known = ", ".join(sorted(_GATES))
        raise UnknownModelError(f"no chest-radiograph gate named {name!r}; registered: {known}") from None


def load_gate(name: str = DEFAULT_GATE, *, weights_dir: Path | None = None) -> Gate:
    """Build a registered chest-radiograph gate after checking its weights' sha256."""
    spec = get_gate_spec(name)
    weights = None
    if spec.weights is not None:
        weights = (weights_dir or WEIGHTS_DIR) / spec.weights
        verify_weights(weights, spec.sha256)
    return spec.factory(spec, weights)


register_gate(
    GateSpec(
        model_id=DEFAULT_GATE,
        version="2026.11.29",
        input_size=64,
        factory=_cxr_gate,
        weights=f"{DEFAULT_GATE}.safetensors",
        sha256="5ac6f5c47516a576f2ed87c03cbdad1ea52b3160935a0bcfa6136bd698e3b91a",
        model_card=f"docs/model_cards/{DEFAULT_GATE}.md",
        description="Refuses images that are not frontal chest radiographs: a tiny CNN, mirror symmetry and a Mahalanobis check.",
    )
)
register_gate(
    GateSpec(
        model_id="fake-gate",
        version="0",
        input_size=0,
        factory=build_fake_gate,
        description="Accepts every image, for tests about something else; never the default.",
        test_double=True,
    )
)


def reporter_card_text(spec: ReporterSpec) -> str:
    """A vision-language reporter's card: a trained reporter's own, else from what the registry knows."""
    if spec.model_card is not None and Path(spec.model_card).is_file():
        return Path(spec.model_card).read_text(encoding="utf-8")
    revision = spec.revision or "not pinned (`januscxr models pull` records the commit it downloads)"
    lines = [
        f"# Model card: {spec.model_id}",
        "",
        "| | |",
        "|---|---|",
        f"| model id | `{spec.model_id}` (vision-language reporter, {spec.parameters} parameters) |",
        f"| what | {spec.description} |",
        f"| based on | {spec.based_on or 'none'} |",
        f"| weights | https://huggingface.co/{spec.hub_repo}, revision {revision}; not shipped with januscxr |",
        f"| licence | {spec.licence} |",
        "| use | decision support, not a diagnosis: a draft for a radiologist to review, edit and sign |",
        "",
        f"Get the weights with `januscxr models pull {spec.model_id}` (or copy them in and run "
        "`januscxr models convert`), then `januscxr read --reporter NAME`. Prompt, decoding, speed and "
        "the published evaluation: docs/janus.md.",
    ]
    return "\n".join(lines) + "\n"


def register_reporter(spec: ReporterSpec) -> None:
    _REPORTERS[spec.model_id] = spec


def reporter_specs() -> list[ReporterSpec]:
    return list(_REPORTERS.values())


def get_reporter_spec(name: str) -> ReporterSpec:
    try:
        return _REPORTERS[name]
    except KeyError:
        known = ", ".join(sorted(_REPORTERS))
        raise UnknownModelError(f"no vision-language reporter named {name!r}; registered: {known}") from None


# Reporters fine-tuned here: `januscxr train reporter` writes <models dir>/<name>/januscxr-reporter.json
# beside the merged weights; these functions read it back so that the name loads like a published one.
REPORTER_FILE = "januscxr-reporter.json"
LOCAL_HUB = "local"
COMPOSER_NAME = "findings-composer"  # januscxr.report.compose.REPORTER_NAME (the report layer sits above models)
_LOCAL_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,62}")
_LOCAL_FIELDS = ("model_id", "description", "licence", "parameters")


class LocalReporters(NamedTuple):
    """The reporters trained into a models folder, and one error per description that could not be used."""

    specs: list[ReporterSpec]
    problems: list[JanusCxrError]


def check_reporter_name(name: str) -> str:
    """A trained reporter's id: lower-case letters, digits, dots and dashes, no registered model's name."""
    if not _LOCAL_NAME.fullmatch(name):
        raise ConfigurationError(f"reporter name {name!r}; expected lower-case letters, digits, '.' and '-'")
    if name in _REPORTERS or name == COMPOSER_NAME:
        raise ConfigurationError(f"reporter name {name!r} is a published model's; expected a new name")
    return name


def read_local_reporter(path: Path) -> ReporterSpec:
    """The spec a ``januscxr-reporter.json`` describes; a :class:`ModelError` naming the file if it is not one."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelError(f"{path}: not readable as JSON ({error}); expected a reporter description") from None
    missing = [key for key in _LOCAL_FIELDS if not isinstance(entry, dict) or not isinstance(entry.get(key), str)]
    if missing:
        raise ModelError(
            f"{path}: no text for {', '.join(missing)}; expected the reporter description `januscxr train reporter` writes"
        )
    if entry["model_id"] != path.parent.name or entry.get("layout", "hf") != "hf":
        raise ModelError(
            f"{path}: model_id {entry['model_id']!r}, layout {entry.get('layout')!r} in folder {path.parent.name!r}; "
            "expected the folder's name and layout 'hf'"
        )
    try:
        check_reporter_name(entry["model_id"])
    except ConfigurationError as error:
        raise ModelError(f"{path}: {error}; refusing a trained reporter that shadows a registered one") from None
    card = entry.get("model_card")
    return ReporterSpec(
        model_id=entry["model_id"],
        hub_repo=LOCAL_HUB,
        revision=None,
        layout="hf",
        description=entry["description"],
        licence=entry["licence"],
        parameters=entry["parameters"],
        based_on=entry.get("based_on") if isinstance(entry.get("based_on"), str) else None,
        model_card=str(path.parent / card) if isinstance(card, str) and card else None,
    )


def local_reporter_specs(models_dir: Path | None = None) -> LocalReporters:
    """The reporters trained into ``models_dir`` (default ~/.cache/januscxr/models), sorted by name."""
    found = LocalReporters([], [])
    for path in sorted(models_root(models_dir).glob(f"*/{REPORTER_FILE}")):
        try:
            found.specs.append(read_local_reporter(path))
        except ModelError as error:
            found.problems.append(error)
    return found


def find_reporter_spec(name: str, models_dir: Path | None = None) -> ReporterSpec:
    """A published reporter, or one trained into ``models_dir``; UnknownModelError listing both."""
    if name in _REPORTERS:
        return _REPORTERS[name]
    path = models_root(models_dir) / name / REPORTER_FILE
    if _LOCAL_NAME.fullmatch(name) and path.is_file():
        return read_local_reporter(path)
    known = ", ".join(
        [COMPOSER_NAME, *sorted(_REPORTERS), *(s.model_id for s in local_reporter_specs(models_dir).specs)]
    )
    raise UnknownModelError(f"no reporter named {name!r}; registered: {known}")


# Hub repositories as the Janus-Pro-CXR README lists them. No revision is pinned yet: nobody on
# this project has reached the hub to read the commits. `januscxr models pull` records the commit
# it downloads in the folder's manifest; pin it here once checked.
_JANUS_LICENCE = "DeepSeek model licence (weights), MIT (code); check the hub card before clinical use"
for _spec in (
    ReporterSpec(
        model_id="janus-pro-cxr-final",
        hub_repo="ZrH42/Janus-Pro-CXR-Final",
        revision=None,
        layout="deepseek",
        description="Janus-Pro-CXR-Final (1B): Janus-Pro-CXR-Zero fine-tuned on CXR-27 (27 Chinese hospitals).",
        licence=_JANUS_LICENCE,
        parameters="1B",
        based_on="janus-pro-cxr-zero",
    ),
    ReporterSpec(
        model_id="janus-pro-cxr-zero",
        hub_repo="ZrH42/Janus-Pro-CXR-Zero",
        revision=None,
        layout="deepseek",
        description="Janus-Pro-CXR-Zero (1B): Janus-Pro-1B fine-tuned on MIMIC-CXR.",
        licence=_JANUS_LICENCE,
        parameters="1B",
        based_on="janus-pro-1b",
    ),
    ReporterSpec(
        model_id="janus-pro-1b",
        hub_repo="deepseek-ai/Janus-Pro-1B",
        revision=None,
        layout="deepseek",
        description="DeepSeek Janus-Pro-1B, the general model Janus-Pro-CXR starts from (no chest X-ray tuning).",
        licence=_JANUS_LICENCE,
        parameters="1B",
    ),
    ReporterSpec(
        model_id="janus-pro-7b",
        hub_repo="deepseek-ai/Janus-Pro-7B",
        revision=None,
        layout="deepseek",
        description="DeepSeek Janus-Pro-7B, the larger general model (no chest X-ray tuning); GPU advised.",
        licence=_JANUS_LICENCE,
        parameters="7B",
    ),
):
    register_reporter(_spec)
