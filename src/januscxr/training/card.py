"""Model cards written from the numbers the export measured, never typed by hand."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DATA_SECTION = """\
## Data and licences

Trained only on `../shared/data` (official test splits are not there; the project is measured
on them separately, from outside):

- **Kermany pediatric chest X-rays** (Guangzhou Women and Children's Medical Center), training
  split, 5,216 images downscaled to 224 x 224, normal vs pneumonia. CC BY 4.0. Kermany D. et al.,
  "Identifying Medical Diagnoses and Treatable Diseases by Image-Based Deep Learning", Cell 2018;
  data: Mendeley Data doi:10.17632/rscbjbr9sj.2.
- **NIH ChestX-ray14**, 776 adult images at 64 x 64 pixels, 14 NIH labels mapped onto CheXpert
  findings (Effusion -> Pleural Effusion, Infiltration -> Lung Opacity, Nodule/Mass -> Lung Lesion,
  ...). Provided by the NIH Clinical Center; Wang X. et al., "ChestX-ray8", CVPR 2017.

Kermany images label only pneumonia; NIH images label the NIH findings (including pneumonia).
Labels a source does not code are masked out of the loss, not taken as negative.
"""

USE_SECTION = """\
## Intended use

Decision support, not a diagnosis. The model triages frontal chest radiographs and pre-fills a
draft report that a radiologist reviews, edits and signs. It must not be used to rule a finding
out, nor without a qualified reader.

## Known limits

- Small public data, trained from scratch on a 2-core CPU: far weaker than models trained on
  MIMIC-CXR or CheXpert. Validation numbers below come from the same validation split that chose
  the epoch, the temperatures and the thresholds, so they are optimistic.
- Pneumonia was learned from **pediatric** images of one hospital (Kermany); its official test
  split is known to differ from the training split, and adult pneumonia looks different.
- The NIH findings were learned from **64-pixel** images: fine detail (small effusions, nodules,
  pneumothorax) is invisible at that size, and only 776 images were available. Findings with fewer
  than 50 positives (pneumothorax, consolidation, edema, lung lesion, pleural other) are not
  offered at all.
- **Frontal views only** (PA/AP); lateral views are refused when DICOM says so, but PNG/JPEG
  laterals cannot be detected.
- Heatmaps are Grad-CAM at 1/16 of the input resolution: they show where the evidence lies,
  coarsely; they do not segment the finding. Laterality is called only when 70% of the heat lies
  on one side.
"""

RULES_SECTION = """\
## Calibration and operating points

- Probabilities: Platt scaling per finding, p = sigmoid(logit / T + b), with T and b fitted
  on validation by minimising the binary cross-entropy. The bias undoes the shift that class
  weighting puts into the logits; the temperature undoes overconfidence.
- Threshold (the sensitive point): the calibrated probability maximising Youden's J
  (sensitivity + specificity - 1) on validation. A finding is flagged at or above it and written
  into the draft; a flagged finding under 0.5, or under a reliable urgent threshold, reads as
  "possible". The urgent (specific) point is chosen afterwards on held-out validation patients:
  see "Operating points".
- 95% CIs: 2,000 stratified bootstrap resamples of the validation cases (seeded).
"""


def model_card(summary: dict[str, Any], *, command: str, machine: str, date: str) -> str:
    """Markdown model card from an export summary (``export_classifier``'s return value)."""
    config = summary["config"]
    lines = [
        f"# Model card: {summary['model_id']}",
        "",
        "| | |",
        "|---|---|",
        f"| model id | `{summary['model_id']}` version {summary['version']} |",
        f"| architecture | CxrNet (residual CNN, widths {config['widths']}), {config['input_size']} px grayscale input |",
        "| use | decision support, not a diagnosis |",
        f"| weights | `{summary['weights']}`, {summary['size_bytes'] / 1e6:.1f} MB, sha256 `{summary['sha256']}` |",
        f"| trained | {date} on {machine}: `{command}` |",
        "",
        DATA_SECTION,
        "## Validation (patient-disjoint split of the training data)",
        "",
        "| finding | AUC | 95% CI | threshold | sensitivity | specificity | PPV | NPV | positives / negatives | ECE before -> after calibration |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for finding, v in summary["validation"].items():
        low, high = v["auc_ci95"]
        lines.append(
            f"| {finding} | {v['auc']:.3f} | {low:.3f} to {high:.3f} | {v['threshold']:.3f} | {v['sensitivity']:.3f} "
            f"| {v['specificity']:.3f} | {v['ppv']:.3f} | {v['npv']:.3f} | {v['n_positive']} / {v['n_negative']} "
            f"| {v['ece_uncalibrated']:.3f} -> {v['ece_calibrated']:.3f} |"
        )
    withheld = [f for f, v in summary["validation"].items() if not v.get("offered", True)]
    if withheld:
        lines += [
            "",
            f"**Withheld:** {', '.join(withheld)}. The network has an output for it, but its validation AUC "
            "is not better than chance with 95% confidence (CI lower bound <= 0.5), so januscxr never reports it.",
        ]
    best = max(summary["history"], key=lambda h: h["mean_auc"]) if summary["history"] else None
    lines += [
        "",
        f"Training: {len(summary['history'])} epochs, best mean validation AUC {best['mean_auc']:.3f} at epoch {best['epoch']}, "
        f"seed {config['seed']}, batch {config['batch_size']}, AdamW lr {config['learning_rate']}, "
        f"early stopping patience {config['patience']}."
        if best
        else "",
        "",
        RULES_SECTION,
        USE_SECTION,
    ]
    return "\n".join(lines)


OPERATING_POINTS_RULES = """\
Two operating points per finding:

- **Sensitive** (the threshold above, Youden's J on all validation): a finding at or above it is
  flagged and written into the draft.
- **Specific** (urgent): the validation patients are split again, by patient (seeded), into
  halves A and B. On half A, the lowest calibrated probability at which at least {specificity:.0%}
  of negatives stay under it; never below the sensitive point. Only a finding at or above it
  raises the worklist; a study is *critical* only when a critical finding reaches it. A flagged
  finding under it (or under 0.5) is drafted as "possible".
- A specific threshold chosen on fewer than {min_positives} positives in half A is **unreliable:
  it never raises urgency** (the classifier ignores it); the finding is still drafted when flagged.
- Sensitivity and specificity are measured on half B only, with 95% Wilson intervals on the
  effective sample size (design effect from a patient-grouped bootstrap: images of one patient
  are not independent). Half B took no part in choosing the specific threshold, but the whole
  validation split also chose the epoch, the calibration and the sensitive threshold, so even
  half B is somewhat optimistic; the official test splits measure the model from outside.
"""


def operating_points_markdown(summary: dict[str, Any]) -> str:
    """The operating-points table of ``fit_operating_points``'s summary, two rows per finding."""
    lines = [
        "| finding | point | threshold | half A positives / negatives | half B positives / negatives (patients) "
        "| sensitivity on B (95% CI) | specificity on B (95% CI) |",
        "|---|---|---|---|---|---|---|",
    ]
    for finding, v in summary["findings"].items():
        a, b = v["half_a"], v["half_b"]
        specific = "specific (urgent)"
        if v["urgent_threshold"] > v["specific_threshold_on_a"]:
            specific += f" = sensitive (the 95%-specificity point on A, {v['specific_threshold_on_a']:.4g}, is lower)"
        if not v["reliable"]:
            specific = f"specific: **threshold unreliable ({a['positives']} positives): never raises urgency**"
        for name, label, threshold in (
            ("sensitive", "sensitive (draft)", v["threshold"]),
            ("urgent", specific, v["urgent_threshold"]),
        ):
            m = b[name]
            lines.append(
                f"| {finding} | {label} | {threshold:.4g} | {a['positives']} / {a['negatives']} "
                f"| {b['positives']} / {b['negatives']} ({b['patients']}) "
                f"| {_with_ci(m['sensitivity'], m['sensitivity_ci95'])} | {_with_ci(m['specificity'], m['specificity_ci95'])} |"
            )
    return "\n".join(lines)


def _with_ci(value: float, ci: list[float]) -> str:
    return f"{value:.3f} ({ci[0]:.3f} to {ci[1]:.3f})"


def operating_points_section(summary: dict[str, Any], *, command: str, machine: str, date: str) -> str:
    rule = summary["rule"]
    return "\n".join(
        [
            "## Operating points",
            "",
            OPERATING_POINTS_RULES.format(specificity=rule["min_specificity"], min_positives=rule["min_positives"]),
            f"Chosen {date} on {machine}: `{command}` ({summary['cases']} validation images, "
            f"{summary['unreadable']} unreadable; validation split seed {rule['seed']}, halves seed {rule['half_seed']}).",
            "",
            operating_points_markdown(summary),
            "",
        ]
    )


def update_card_operating_points(path: str | Path, summary: dict[str, Any], **context: str) -> Path:
    """Write the Operating points section into a model card (replacing an older one) and its new sha256."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    section = operating_points_section(summary, **context)
    text = re.sub(r"(\| weights \|[^\n]*sha256 `)[0-9a-f]{64}`", rf"\g<1>{summary['sha256']}`", text)
    old = re.search(r"^## Operating points\n.*?(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    if old is not None:
        text = text[: old.start()] + section + "\n" + text[old.end() :]
    else:
        anchor = (
            text.index("## Calibration and operating points")
            if "## Calibration and operating points" in text
            else len(text)
        )
        text = text[:anchor] + section + "\n" + text[anchor:]
    path.write_text(text, encoding="utf-8")
    return path


def write_model_card(summary: dict[str, Any], path: str | Path, **context: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model_card(summary, **context), encoding="utf-8")
    return path
