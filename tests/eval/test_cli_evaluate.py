"""``januscxr eval`` commands through typer's CliRunner: outputs written, bad input raised."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from januscxr.cli.evaluate import app
from januscxr.errors import EvaluationInputError
from januscxr.eval import text
from januscxr.labels import Finding

from .corpus import CORPUS

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_synthetic_study_then_study(tmp_path: Path) -> None:
    reads = tmp_path / "reads.csv"
    result = runner.invoke(
        app, ["synthetic-study", "--out", str(reads), "--n-readers", "4", "--n-cases", "30", "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    with reads.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 240 and {r["synthetic"] for r in rows} == {"true"}
    out = tmp_path / "study"
    result = runner.invoke(app, ["study", str(reads), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC DATA" in result.output
    data = json.loads((out / "study.json").read_text())
    assert data["analysis"]["synthetic"] is True
    mixed = data["analysis"]["mixed_model"]
    assert mixed["effect"] == pytest.approx(119.4 - 146.6, abs=8.0)  # about 3 SE at this size
    assert "SYNTHETIC DATA" in (out / "study.md").read_text()
    for name in data["figures"]:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC


def _finding_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(0)
    n = 120
    ids = [f"s{k:03d}" for k in range(n)]
    truth = {f: (rng.random(n) < 0.3).astype(int) for f in (Finding.EDEMA, Finding.PLEURAL_EFFUSION)}
    model = {f: np.clip(0.4 * y + 0.6 * rng.random(n), 0, 1) for f, y in truth.items()}
    other = {f: rng.random(n) for f in truth}
    paths = []
    for name, table, fmt in (("truth", truth, "{}"), ("pred", model, "{:.4f}"), ("baseline", other, "{:.4f}")):
        path = tmp_path / f"{name}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", *(f.value for f in table)])
            order = range(n) if name != "truth" else reversed(range(n))  # truth in another row order
            for k in order:
                cell = [fmt.format(table[f][k]) for f in table]
                if name == "truth" and k == 0:
                    cell[0] = ""  # one missing label: skipped and counted
                writer.writerow([ids[k], *cell])
        paths.append(path)
    return paths[1], paths[0], paths[2]


def test_findings_writes_table_and_figures(tmp_path: Path) -> None:
    pred, truth, baseline = _finding_files(tmp_path)
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({"Edema": 0.4}))
    out = tmp_path / "out"
    args = ["findings", "--pred", str(pred), "--truth", str(truth), "--out", str(out), "--n-boot", "200"]
    result = runner.invoke(app, [*args, "--baseline", str(baseline), "--thresholds", str(thresholds)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "findings.json").read_text())
    rows = {r["finding"]: r for r in data["findings"]}
    assert rows["Edema"]["operating_point"]["threshold"] == 0.4
    assert rows["Pleural Effusion"]["operating_point"]["threshold"] == 0.5
    assert rows["Edema"]["n_skipped"] == 1 and rows["Edema"]["n_cases"] == 119
    assert rows["Edema"]["auc"] > 0.8 and rows["Edema"]["comparison"]["p_value"] < 0.01
    assert any("without a truth label" in note for note in data["notes"])
    assert "DeLong" in (out / "findings.md").read_text()
    assert (out / "roc_curves.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "reliability.png").read_bytes()[:8] == PNG_MAGIC


def test_findings_with_ids_that_differ_raises(tmp_path: Path) -> None:
    pred, truth, _ = _finding_files(tmp_path)
    lines = truth.read_text().splitlines()
    truth.write_text("\n".join(lines[:-1]) + "\n")  # drop one case
    result = runner.invoke(app, ["findings", "--pred", str(pred), "--truth", str(truth), "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, EvaluationInputError)
    assert "1 in" in str(result.exception) and "only" in str(result.exception)


def _report_files(tmp_path: Path) -> tuple[Path, Path]:
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps({"id": k, "report": p}) + "\n" for k, (p, _) in CORPUS.items()))
    ref = tmp_path / "ref.csv"
    with ref.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "report"])
        writer.writerows([k, r] for k, (_, r) in CORPUS.items())
    return pred, ref


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java")
def test_reports_with_meteor_and_the_labeler(tmp_path: Path) -> None:
    pred, ref = _report_files(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["reports", "--pred", str(pred), "--ref", str(ref), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "reports.json").read_text())
    assert set(data["text_metrics"]["corpus"]) == {"BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr"}
    ce = data["clinical_efficacy"]["CheXpert 5"]
    assert ce["uncertain"] == "negative" and 0.0 <= ce["micro"]["f1"] <= 1.0
    assert "chexbert_f1" in data["unavailable"] and "clinical_efficacy" not in data["unavailable"]
    assert (out / "clinical_efficacy.png").read_bytes()[:8] == PNG_MAGIC
    assert "Clinical efficacy, CheXpert 14" in (out / "reports.md").read_text()


def test_reports_without_java_say_what_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "java_available", lambda: False)
    pred, ref = _report_files(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["reports", "--pred", str(pred), "--ref", str(ref), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "reports.json").read_text())
    assert set(data["clinical_efficacy"]) == {"CheXpert 14", "CheXpert 5"}
    assert "Java" in data["unavailable"]["METEOR"]
    assert data["text_metrics"]["corpus"]["BLEU_4"] > 0
    assert "METEOR: unavailable" in result.output
    assert (out / "report_metrics.png").read_bytes()[:8] == PNG_MAGIC


def test_reports_with_a_missing_column_raise(tmp_path: Path) -> None:
    pred, ref = _report_files(tmp_path)
    ref.write_text("id,text\nr01,x\n")
    result = runner.invoke(app, ["reports", "--pred", str(pred), "--ref", str(ref), "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, EvaluationInputError)
    assert "'report'" in str(result.exception)


def test_study_with_an_empty_cell_raises_naming_it(tmp_path: Path) -> None:
    reads = tmp_path / "reads.csv"
    assert (
        runner.invoke(app, ["synthetic-study", "--out", str(reads), "--n-readers", "2", "--n-cases", "2"]).exit_code
        == 0
    )
    lines = reads.read_text().splitlines()
    cells = lines[3].split(",")  # file line 4
    cells[3] = ""  # reading_time_s
    lines[3] = ",".join(cells)
    reads.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["study", str(reads), "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, EvaluationInputError)
    assert "line 4, column 'reading_time_s' is empty" in str(result.exception)


@pytest.mark.parametrize(
    ("option", "message"), [("--uncertain", "uncertain policy"), ("--tokenization", "unknown tokenization")]
)
def test_reports_with_a_bad_option_raise_before_scoring(tmp_path: Path, option: str, message: str) -> None:
    pred, ref = _report_files(tmp_path)
    result = runner.invoke(
        app, ["reports", "--pred", str(pred), "--ref", str(ref), "--out", str(tmp_path / "o"), option, "maybe"]
    )
    assert isinstance(result.exception, EvaluationInputError)
    assert message in str(result.exception)
    assert not (tmp_path / "o").exists()
