"""A fixed corpus of short chest X-ray reports written for these tests (no dataset text).

Each entry is report id -> (generated report, reference report). Report ``r07`` is identical on
both sides; ``r08`` shares almost nothing with its reference.
"""

from __future__ import annotations

CORPUS: dict[str, tuple[str, str]] = {
    "r01": (
        "The heart is normal in size. The lungs are clear. No pleural effusion or pneumothorax.",
        "Heart size is normal. Lungs are clear without focal consolidation. No effusion or pneumothorax.",
    ),
    "r02": (
        "Small left pleural effusion with adjacent atelectasis. Heart size is mildly enlarged.",
        "Moderate left pleural effusion and basilar atelectasis. Mild cardiomegaly.",
    ),
    "r03": (
        "Right lower lobe consolidation, concerning for pneumonia. No pneumothorax.",
        "Patchy opacity in the right lower lobe, likely pneumonia. No pneumothorax is seen.",
    ),
    "r04": (
        "1. Endotracheal tube terminates 4 cm above the carina. 2. Mild pulmonary edema.",
        "Endotracheal tube tip is 3.5 cm above the carina. Interstitial edema has slightly improved.",
    ),
    "r05": (
        "No acute cardiopulmonary process.",
        "No acute cardiopulmonary abnormality. The cardiomediastinal silhouette is within normal limits.",
    ),
    "r06": (
        "Large right pneumothorax with mediastinal shift to the left!",
        "Large right-sided tension pneumothorax; leftward shift of the mediastinum.",
    ),
    "r07": (
        "Stable cardiomegaly. No focal consolidation, effusion, or pneumothorax.",
        "Stable cardiomegaly. No focal consolidation, effusion, or pneumothorax.",
    ),
    "r08": (
        "Degenerative changes of the thoracic spine.",
        "Left upper lobe nodule measuring 12 mm (new since prior); CT recommended.",
    ),
}


def predictions() -> dict[str, str]:
    return {key: pair[0] for key, pair in CORPUS.items()}


def references() -> dict[str, str]:
    return {key: pair[1] for key, pair in CORPUS.items()}
