"""Model cards written from the numbers the export measured, never typed by hand."""

from __future__ import annotations

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
- Threshold: the calibrated probability maximising Youden's J (sensitivity + specificity - 1)
  on validation. A finding is flagged at or above it; a flagged finding under 0.5 reads as
  "possible" in the draft report.
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


def write_model_card(summary: dict[str, Any], path: str | Path, **context: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model_card(summary, **context), encoding="utf-8")
    return path
