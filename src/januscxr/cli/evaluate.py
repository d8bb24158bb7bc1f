"""``januscxr eval``: score generated reports, classifier probabilities and reader studies.

Each command writes JSON, Markdown and PNG figures into ``--out``. Input formats and every
metric are described in docs/evaluation.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

app = typer.Typer(help="Evaluate generated reports, findings and reader studies.", no_args_is_help=True)


def _progress(*, desc: str, total: int) -> tqdm:
    return tqdm(desc=desc, total=total, unit="step", leave=False, disable=None)


@app.command("reports")
def reports_command(
    pred: Annotated[
        Path, typer.Option("--pred", help="Generated reports: CSV or JSONL with an id and a report text column.")
    ],
    ref: Annotated[Path, typer.Option("--ref", help="Reference reports, same format and ids.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for reports.json, reports.md and figures.")] = Path(
        "eval-reports"
    ),
    tokenization: Annotated[
        str, typer.Option(help="r2gen (R2Gen-family cleaning), ptb (COCO, needs Java) or none.")
    ] = "r2gen",
    id_column: Annotated[str, typer.Option(help="Name of the id column.")] = "id",
    text_column: Annotated[str, typer.Option(help="Name of the report text column.")] = "report",
    uncertain: Annotated[
        str, typer.Option(help="Clinical efficacy: count uncertain labels as 'negative' or 'positive'.")
    ] = "negative",
    chexbert_dir: Annotated[Path | None, typer.Option(help="Local CheXbert weights (never downloaded).")] = None,
    radgraph_dir: Annotated[Path | None, typer.Option(help="Local RadGraph weights (never downloaded).")] = None,
    bertscore_dir: Annotated[Path | None, typer.Option(help="Local BERTScore model (never downloaded).")] = None,
) -> None:
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr; clinical efficacy when januscxr.labeler is installed."""
    from januscxr.eval.runs import run_reports

    weights = {"chexbert_f1": chexbert_dir, "radgraph_f1": radgraph_dir, "bertscore": bertscore_dir}
    result = run_reports(
        pred,
        ref,
        out,
        tokenization=tokenization,
        id_column=id_column,
        text_column=text_column,
        uncertain=uncertain,
        weights_dirs=weights,
        progress=_progress,
    )
    corpus = result["text_metrics"]["corpus"]
    typer.echo("  ".join(f"{name} {value:.4f}" for name, value in corpus.items() if value is not None))
    for name, reason in result["unavailable"].items():
        typer.echo(f"{name}: unavailable ({reason})")
    typer.echo(f"wrote {out / 'reports.json'}, {out / 'reports.md'}")


@app.command("findings")
def findings_command(
    pred: Annotated[Path, typer.Option("--pred", help="CSV: id + one probability column per finding.")],
    truth: Annotated[Path, typer.Option("--truth", help="CSV: id + one 1/0/empty column per finding.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for findings.json, findings.md and figures.")] = Path(
        "eval-findings"
    ),
    threshold: Annotated[float, typer.Option(help="Operating threshold for findings not in --thresholds.")] = 0.5,
    thresholds: Annotated[Path | None, typer.Option(help="JSON {finding: threshold}, e.g. from a model card.")] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="A second model's probabilities: adds a DeLong test per finding.")
    ] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples of the AUROC CI.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    level: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
    ece_bins: Annotated[int, typer.Option(help="Equal-width bins of the ECE and reliability diagram.")] = 10,
    id_column: Annotated[str, typer.Option(help="Name of the id column.")] = "id",
) -> None:
    """AUROC with bootstrap CI, sensitivity/specificity/PPV/NPV, ECE, ROC and reliability plots."""
    from januscxr.eval.runs import run_findings

    result = run_findings(
        pred,
        truth,
        out,
        threshold=threshold,
        thresholds=thresholds,
        baseline=baseline,
        n_boot=n_boot,
        seed=seed,
        level=level,
        ece_bins=ece_bins,
        id_column=id_column,
        progress=_progress,
    )
    for row in result["findings"]:
        low, high = row["auc_ci"]
        typer.echo(f"{row['finding']:<28} AUROC {_fmt(row['auc'])} [{_fmt(low)}, {_fmt(high)}]  ECE {_fmt(row['ece'])}")
    for note in result["notes"]:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {out / 'findings.json'}, {out / 'findings.md'}")


@app.command("study")
def study_command(
    reads: Annotated[
        Path, typer.Argument(help="Reads CSV: case_id, reader_id, arm, reading_time_s, quality_score, ...")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for study.json, study.md and figures.")] = Path(
        "eval-study"
    ),
    level: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
) -> None:
    """Reading time and quality by arm, mixed model, expert preference, subgroups."""
    from januscxr.eval.runs import run_study

    result = run_study(reads, out, level=level)
    analysis = result["analysis"]
    if analysis["synthetic"]:
        typer.echo("SYNTHETIC DATA: these reads were generated, not read by people.")
    time = analysis["comparisons"]["reading_time_s"]
    typer.echo(
        f"reading time: standard {time['standard']['mean']:.1f} s, AI-assisted {time['assisted']['mean']:.1f} s, "
        f"reduction {analysis['reading_time_reduction']['estimate']:.1%}"
    )
    if analysis["mixed_model"] is not None:
        m = analysis["mixed_model"]
        typer.echo(f"mixed model {m['formula']}: effect {m['effect']:.1f} s [{m['ci'][0]:.1f}, {m['ci'][1]:.1f}]")
        typer.echo(f"  model chosen from the design: {m['reason']}")
    for note in analysis["notes"]:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {out / 'study.json'}, {out / 'study.md'}")


@app.command("synthetic-study")
def synthetic_study_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Reads CSV to write (every row marked synthetic).")] = Path(
        "synthetic-reads.csv"
    ),
    n_readers: Annotated[int, typer.Option(help="Readers.")] = 6,
    n_cases: Annotated[int, typer.Option(help="Cases.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of every random draw.")] = 0,
    design: Annotated[
        str,
        typer.Option(
            help="crossed: every reader reads every case in both arms; per_case: each case read once, "
            "in an arm drawn per case (the Janus-Pro-CXR trial)."
        ),
    ] = "crossed",
) -> None:
    """Write a SYNTHETIC reader study with a planted effect (146.6 s standard, 119.4 s assisted)."""
    from januscxr.eval.runs import write_synthetic_study

    path = write_synthetic_study(out, n_readers=n_readers, n_cases=n_cases, seed=seed, design=design)
    n_reads = n_cases if design == "per_case" else 2 * n_readers * n_cases
    typer.echo(f"wrote {path}: {n_reads} synthetic reads ({design} design)")


@app.command("generate")
def generate_command(
    reporter: Annotated[str, typer.Option(help="Registered reporter: findings-composer or a Janus model.")],
    manifest: Annotated[Path, typer.Option(help="CSV or JSONL: image, report (or findings, impression), patient_id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: drafts.jsonl (resumable), scores.*")],
    classifier: Annotated[str | None, typer.Option(help="Classifier whose findings the reporter gets.")] = None,
    gate: Annotated[str | None, typer.Option(help="Chest-radiograph gate (default: the bundled one).")] = None,
    models_dir: Annotated[Path | None, typer.Option(help="Folder of Janus weights and converted experts.")] = None,
    device: Annotated[str | None, typer.Option(help="Janus: cuda, cpu or auto.")] = None,
    precision: Annotated[str | None, typer.Option(help="Janus: auto, float32, bfloat16 or int8.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Janus: longest draft, in tokens.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images drafted and written together.")] = 4,
    split: Annotated[str | None, typer.Option(help="Keep only manifest rows of this split.")] = None,
    section: Annotated[str, typer.Option(help="Score report (both sections), findings or impression.")] = "report",
    tokenization: Annotated[str, typer.Option(help="r2gen, ptb (needs Java) or none.")] = "r2gen",
    uncertain: Annotated[str, typer.Option(help="Clinical efficacy: uncertain as negative or positive.")] = "negative",
    metrics: Annotated[
        str, typer.Option(help="Text metrics, comma-separated (METEOR starts Java).")
    ] = "BLEU_1,BLEU_2,BLEU_3,BLEU_4,METEOR,ROUGE_L,CIDEr",
    sample: Annotated[int, typer.Option(help="Reports shown side by side on the pages.")] = 10,
    allow_lateral: Annotated[bool, typer.Option("--allow-lateral", help="Draft lateral views too.")] = False,
) -> None:
    """Draft every manifest image with a reporter (resumable), then score the drafts."""
    from januscxr.eval.generate import run_generate
    from januscxr.eval.report_manifest import read_report_manifest
    from januscxr.io import pixel_limit
    from januscxr.models.registry import DEFAULT_CLASSIFIER
    from januscxr.pipeline import DEFAULT_REPORTER, cached_classifier, load_reporter
    from januscxr.server.settings import load_settings

    settings = load_settings(
        classifier=classifier,
        gate=gate,
        models_dir=models_dir,
        device=device,
        precision=precision,
        max_new_tokens=max_new_tokens,
    )
    rows = read_report_manifest(manifest, split=split)
    options = {} if reporter == DEFAULT_REPORTER else {**settings.reporter_options(), "batch_size": batch_size}
    classifier_name = settings.classifier or DEFAULT_CLASSIFIER
    model = cached_classifier(classifier_name, settings.models_dir)
    run_info = {"reporter": reporter, "classifier": classifier_name, "gate": settings.gate}
    with pixel_limit(settings.max_image_pixels):
        result = run_generate(
            rows,
            out,
            reporter=load_reporter(reporter, **options),
            classifier=model,
            gate=settings.gate,
            batch_size=batch_size,
            require_frontal=not allow_lateral,
            run_info=run_info,
            section=section,
            tokenization=tokenization,
            uncertain=uncertain,
            metrics=_names(metrics),
            sample=sample,
            progress=_progress,
        )
    typer.echo("  ".join(f"{k} {v:.4f}" for k, v in result["headline"].items() if v is not None))
    typer.echo(f"{result['counts']['scored']} scored, {result['counts']['skipped']} skipped")
    typer.echo(f"wrote {out / 'drafts.jsonl'}, {out / 'scores.json'}, {out / 'scores.md'}, {out / 'scores.html'}")


@app.command("compare")
def compare_command(
    run_a: Annotated[Path, typer.Argument(help="Run folder of reporter A (from eval generate).")],
    run_b: Annotated[Path, typer.Argument(help="Run folder of reporter B, same manifest.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for compare.json and compare.md.")] = Path(
        "eval-compare"
    ),
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    level: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
    section: Annotated[str, typer.Option(help="Score report (both sections), findings or impression.")] = "report",
    tokenization: Annotated[str, typer.Option(help="r2gen, ptb (needs Java) or none.")] = "r2gen",
    uncertain: Annotated[str, typer.Option(help="Clinical efficacy: uncertain as negative or positive.")] = "negative",
    metrics: Annotated[
        str, typer.Option(help="Text metrics, comma-separated (METEOR starts Java).")
    ] = "BLEU_1,BLEU_2,BLEU_3,BLEU_4,METEOR,ROUGE_L,CIDEr",
) -> None:
    """Paired bootstrap CIs of A − B for every metric (patients resampled when ids are given)."""
    from januscxr.eval.generate_compare import compare_runs, write_comparison

    comparison = compare_runs(
        run_a,
        run_b,
        section=section,
        tokenization=tokenization,
        uncertain=uncertain,
        n_boot=n_boot,
        seed=seed,
        level=level,
        metrics=_names(metrics),
    )
    write_comparison(comparison, out)
    for d in comparison.differences:
        typer.echo(f"{d.metric:<12} A−B {d.difference:+.4f} [{d.ci[0]:+.4f}, {d.ci[1]:+.4f}]")
    typer.echo(f"wrote {out / 'compare.json'}, {out / 'compare.md'}")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _fmt(value: float | None) -> str:
    return "  nan" if value is None else f"{value:.3f}"
