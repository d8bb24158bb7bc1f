"""The named registry of classifiers, reporters and chest-radiograph gates; verified loading of weights."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from januscxr.errors import ChecksumMismatchError, UnknownModelError, WeightsNotFoundError
from januscxr.labels import Finding
from januscxr.models.base import Classifier, ClassifierSpec, Gate, GateSpec, ReporterSpec
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
        labels=(
            Finding.PNEUMONIA,
            Finding.PLEURAL_EFFUSION,
            Finding.CARDIOMEGALY,
            Finding.LUNG_OPACITY,
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
    """A vision-language reporter's card, from what the registry knows (its weights are not shipped)."""
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
