"""``januscxr train``: manifests and the expert classifier."""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Train the expert classifier.", no_args_is_help=True)


@app.command("manifest")
def manifest_command(
    data_root: Annotated[Path, typer.Argument(help="Folder holding kermany/ and nih1000/ (../shared/data).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Manifest CSV to write.")] = Path("manifest.csv"),
) -> None:
    """Write a training manifest for the Kermany and NIH subsets."""
    from januscxr.training.manifest import build_shared_manifest, write_manifest

    rows = build_shared_manifest(data_root)
    write_manifest(rows, out)
    typer.echo(f"{out}: {len(rows)} images")


@app.command("classifier")
def classifier_command(
    manifest: Annotated[Path, typer.Option(help="CSV: path, patient_id, one 1/0/empty column per finding.")],
    out: Annotated[Path, typer.Option(help="Folder for checkpoints, cache and the exported model.")] = Path(
        "runs/classifier"
    ),
    model_id: Annotated[str, typer.Option(help="Id of the exported model.")] = "cxrnet-res128-custom",
    version: Annotated[str, typer.Option(help="Version of the exported model.")] = "0.1.0",
    findings: Annotated[
        list[str] | None, typer.Option("--finding", help="Findings to learn (default: all with enough positives).")
    ] = None,
    min_positives: Annotated[int, typer.Option(help="Learn findings with at least this many positives.")] = 50,
    input_size: Annotated[int, typer.Option(help="Square input size in pixels.")] = 128,
    max_epochs: Annotated[int, typer.Option(help="Upper bound on epochs.")] = 30,
    patience: Annotated[int, typer.Option(help="Stop after this many epochs without a better validation AUC.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed of split, initialisation and augmentation.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/last.pt.")] = False,
    card: Annotated[
        Path | None, typer.Option(help="Write a model card (Markdown) with the measured numbers here.")
    ] = None,
) -> None:
    """Train, calibrate on validation and export a safetensors classifier."""
    import torch

    from januscxr.training.card import write_model_card
    from januscxr.training.export import export_classifier
    from januscxr.training.trainer import TrainConfig, train_classifier

    logging.getLogger("januscxr").setLevel(logging.INFO)
    config = TrainConfig(
        manifest=str(manifest),
        out_dir=str(out),
        findings=list(findings or []),
        min_positives=min_positives,
        input_size=input_size,
        max_epochs=max_epochs,
        patience=patience,
        batch_size=batch_size,
        seed=seed,
    )
    trained = train_classifier(config, resume=resume)
    summary = export_classifier(trained, out / f"{model_id}.safetensors", model_id=model_id, version=version)
    typer.echo(json.dumps({k: summary[k] for k in ("model_id", "weights", "sha256", "size_bytes")}, indent=2))
    if card is not None:
        machine = f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}"
        command = "januscxr " + " ".join(sys.argv[1:])
        write_model_card(summary, card, command=command, machine=machine, date=f"{datetime.now(UTC):%Y-%m-%d}")
        typer.echo(f"model card: {card}")
    for finding, stats in summary["validation"].items():
        low, high = stats["auc_ci95"]
        typer.echo(f"{finding:<20} AUC {stats['auc']:.3f} [{low:.3f}, {high:.3f}]  threshold {stats['threshold']:.3f}")


@app.command("cv")
def cv_command(
    manifest: Annotated[Path, typer.Option(help="CSV: path, patient_id, one 1/0/empty column per finding.")],
    out: Annotated[Path, typer.Option(help="Folder for the image cache, per-fold results and cv.json.")] = Path(
        "runs/cv"
    ),
    folds: Annotated[int, typer.Option(help="Patient-grouped folds.")] = 5,
    findings: Annotated[
        list[str] | None, typer.Option("--finding", help="Findings to learn (default: all with enough positives).")
    ] = None,
    min_positives: Annotated[int, typer.Option(help="Learn findings with at least this many positives.")] = 50,
    input_size: Annotated[int, typer.Option(help="Square input size in pixels.")] = 128,
    max_epochs: Annotated[int, typer.Option(help="Upper bound on epochs per fold model.")] = 30,
    patience: Annotated[int, typer.Option(help="Stop after this many epochs without a better inner AUC.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 64,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate.")] = 2e-3,
    augmentation: Annotated[str, typer.Option(help="standard, or strong (adds zoom-crops and erasing).")] = "standard",
    pretrain_manifest: Annotated[
        Path | None, typer.Option(help="Pretrain the backbone on this manifest (patients disjoint) first.")
    ] = None,
    pretrain_epochs: Annotated[int, typer.Option(help="Epochs of pretraining.")] = 8,
    members: Annotated[int, typer.Option(help="Models per fold, each on its own inner split, averaged.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of folds, inner splits, initialisation and augmentation.")] = 0,
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore folds already saved in OUT.")] = False,
) -> None:
    """Patient-grouped cross-validation: pooled out-of-fold AUCs with patient-bootstrap 95% CIs."""
    import torch

    from januscxr.training.crossval import CrossValConfig, cross_validate, write_report

    if augmentation not in ("standard", "strong"):
        raise typer.BadParameter(f"--augmentation is {augmentation!r}; expected standard or strong")
    logging.getLogger("januscxr").setLevel(logging.INFO)
    torch.set_num_threads(1)  # small models: one thread leaves the shared machine usable
    config = CrossValConfig(
        manifest=str(manifest),
        out_dir=str(out),
        findings=list(findings or []),
        min_positives=min_positives,
        input_size=input_size,
        max_epochs=max_epochs,
        patience=patience,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        folds=folds,
        augmentation=augmentation,
        pretrain_manifest=str(pretrain_manifest or ""),
        pretrain_epochs=pretrain_epochs,
        members=members,
    )
    report = cross_validate(config, resume=not fresh)
    path = write_report(report | {"command": "januscxr " + " ".join(sys.argv[1:])}, out / "cv.json")
    for finding, v in report["findings"].items():
        low, high = v["auc_ci95"]
        offered = "offered" if v["offered"] else "not offered"
        typer.echo(
            f"{finding:<20} CV AUC {v['auc']:.3f} [{low:.3f}, {high:.3f}]  {v['positives']} positives  {offered}"
        )
    typer.echo(f"{path} ({report['wall_s']:.0f} s)")


@app.command("cv-compare")
def cv_compare_command(
    run_a: Annotated[Path, typer.Argument(help="Folder of a finished `januscxr train cv` run (the baseline).")],
    run_b: Annotated[Path, typer.Argument(help="Folder of the run compared with it.")],
) -> None:
    """Paired OOF AUC differences (B - A) with patient-grouped bootstrap 95% CIs, on the images both scored."""
    from januscxr.training.crossval import compare_runs

    for finding, v in compare_runs(run_a, run_b).items():
        low, high = v["difference_ci95"]
        change = f"difference {v['difference']:+.3f} [{low:+.3f}, {high:+.3f}]"
        typer.echo(f"{finding:<20} {v['auc_a']:.3f} -> {v['auc_b']:.3f}  {change}")


@app.command("operating-points")
def operating_points_command(
    manifest: Annotated[Path, typer.Option(help="The training manifest (januscxr train manifest).")],
    weights: Annotated[Path, typer.Option(help="The exported classifier (.safetensors).")],
    out: Annotated[Path, typer.Option(help="Where to write the classifier with its urgent thresholds.")],
    seed: Annotated[int, typer.Option(help="The training run's --seed: reproduces its validation split.")] = 0,
    half_seed: Annotated[int, typer.Option(help="Seed of the split of validation patients into halves A and B.")] = 0,
    specificity: Annotated[float, typer.Option(help="Specificity the urgent threshold keeps on half A.")] = 0.95,
    card: Annotated[Path | None, typer.Option(help="Model card to update (Operating points section, sha256).")] = None,
    report: Annotated[Path | None, typer.Option(help="Write the measured numbers as JSON here.")] = None,
) -> None:
    """Choose each finding's urgent (specific) threshold on held-out validation patients."""
    import torch

    from januscxr.training.card import operating_points_markdown, update_card_operating_points
    from januscxr.training.operating_points import fit_operating_points

    torch.set_num_threads(1)  # a small model: one thread leaves the shared machine usable
    summary = fit_operating_points(manifest, weights, out, seed=seed, half_seed=half_seed, min_specificity=specificity)
    if report is not None:
        report.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if card is not None:
        machine = f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}"
        command = "januscxr " + " ".join(sys.argv[1:])
        update_card_operating_points(
            card, summary, command=command, machine=machine, date=f"{datetime.now(UTC):%Y-%m-%d}"
        )
    typer.echo(operating_points_markdown(summary))
    typer.echo(f"{out}: sha256 {summary['sha256']}")


@app.command("gate")
def gate_command(
    data_root: Annotated[
        Path, typer.Argument(help="Folder holding kermany/, nih1000/ and fixtures/ (../shared/data).")
    ],
    out: Annotated[Path, typer.Option(help="Folder for the decoded cache and the exported gate.")] = Path("runs/gate"),
    model_id: Annotated[str, typer.Option(help="Id of the exported gate.")] = "cxrgate-res64-kermany-nih",
    version: Annotated[str, typer.Option(help="Version of the exported gate.")] = "0.1.0",
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the patient split, the made-up negatives and training.")] = 0,
) -> None:
    """Train the chest-radiograph gate and fit its thresholds on validation chest radiographs."""
    import torch

    from januscxr.training.gate_trainer import GateTrainConfig, export_gate, train_gate

    logging.getLogger("januscxr").setLevel(logging.INFO)
    torch.set_num_threads(1)  # small model: one thread is as fast and leaves the machine usable
    network, summary = train_gate(GateTrainConfig(data_root=str(data_root), out_dir=str(out), seed=seed, epochs=epochs))
    exported = export_gate(network, summary, out / f"{model_id}.safetensors", model_id=model_id, version=version)
    typer.echo(json.dumps(exported, indent=2))


@app.command("reporter-manifest")
def reporter_manifest_command(
    out: Annotated[Path, typer.Option(help="Manifest to write (.csv, or .jsonl).")],
    mimic_cxr: Annotated[
        Path | None, typer.Option(help="MIMIC-CXR-JPG root (files/, metadata and split tables).")
    ] = None,
    mimic_reports: Annotated[
        Path | None,
        typer.Option(help="Root of the unpacked MIMIC-CXR reports (files/pNN/pID/sID.txt); default: --mimic-cxr."),
    ] = None,
    chexpert_plus: Annotated[
        Path | None, typer.Option(help="CheXpert Plus root (df_chexpert_plus_240401.csv, images).")
    ] = None,
) -> None:
    """Write an image-report manifest from the MIMIC-CXR-JPG or CheXpert Plus layout."""
    from januscxr.training.report_sources import chexpert_plus_rows, mimic_cxr_rows
    from januscxr.training.reporter_manifest import write_report_manifest

    if (mimic_cxr is None) == (chexpert_plus is None):
        raise typer.BadParameter("give exactly one of --mimic-cxr or --chexpert-plus")
    rows = mimic_cxr_rows(mimic_cxr, mimic_reports) if mimic_cxr is not None else chexpert_plus_rows(chexpert_plus)  # type: ignore[arg-type]
    typer.echo(f"{out}: {write_report_manifest(rows, out)} images")


@app.command("reporter")
def reporter_command(
    base: Annotated[str, typer.Option(help="Janus checkpoint folder (januscxr layout) or registered reporter name.")],
    manifest: Annotated[Path, typer.Option(help="CSV/JSONL: image, patient_id, report or findings/impression, split.")],
    out: Annotated[Path, typer.Option(help="Run folder: checkpoint, adapter, summary, model card.")],
    name: Annotated[str, typer.Option(help="Id of the new reporter, e.g. janus-pro-cxr-mysite.")],
    models_dir: Annotated[
        Path | None,
        typer.Option(envvar="JANUSCXR_MODELS_DIR", help="Where the merged model goes (~/.cache/januscxr/models)."),
    ] = None,
    rank: Annotated[int, typer.Option(help="LoRA rank (the paper: 64).")] = 64,
    alpha: Annotated[int, typer.Option(help="LoRA alpha (scale alpha/rank).")] = 128,
    dropout: Annotated[float, typer.Option(help="LoRA dropout.")] = 0.05,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="Language-model projections to adapt (default: q,k,v,o,gate,up,down _proj)."),
    ] = None,
    lora_aligner: Annotated[bool, typer.Option("--lora-aligner", help="Adapt the vision aligner too.")] = False,
    learning_rate: Annotated[float, typer.Option(help="AdamW peak learning rate.")] = 2e-4,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.0,
    warmup: Annotated[float, typer.Option(help="Share of steps of linear warm-up.")] = 0.03,
    schedule: Annotated[str, typer.Option(help="After warm-up: cosine, linear or constant.")] = "cosine",
    epochs: Annotated[int, typer.Option(help="Upper bound on epochs.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Images per micro-batch.")] = 4,
    grad_accumulation: Annotated[int, typer.Option(help="Micro-batches per optimizer step.")] = 1,
    patience: Annotated[int, typer.Option(help="Stop after this many epochs without a lower validation loss.")] = 2,
    without_hint: Annotated[float, typer.Option(help="Share of training examples without the expert hint.")] = 0.2,
    valid_fraction: Annotated[float, typer.Option(help="Share of unsplit patients held out for validation.")] = 0.1,
    gradient_checkpointing: Annotated[
        bool, typer.Option("--gradient-checkpointing", help="Less memory, slower.")
    ] = False,
    save_every: Annotated[int, typer.Option(help="Also checkpoint every N steps (0: after each epoch only).")] = 0,
    stop_after: Annotated[
        int | None, typer.Option(help="Stop with a checkpoint after N steps in all; --resume later.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when available, bfloat16), cuda or cpu (float32).")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of split, LoRA initialisation, data order and hint draws.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.pt.")] = False,
) -> None:
    """LoRA fine-tuning of a Janus reporter on image-report pairs; exports, registers and writes a card."""
    from januscxr.training.reporter_run import ReporterRun, train_reporter
    from januscxr.training.reporter_trainer import LANGUAGE_PROJECTIONS, ReporterTrainConfig

    logging.getLogger("januscxr").setLevel(logging.INFO)
    config = ReporterTrainConfig(
        rank=rank,
        alpha=alpha,
        dropout=dropout,
        target_modules=list(target or LANGUAGE_PROJECTIONS),
        lora_aligner=lora_aligner,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        warmup_fraction=warmup,
        schedule=schedule,
        epochs=epochs,
        batch_size=batch_size,
        grad_accumulation=grad_accumulation,
        patience=patience,
        share_without_hint=without_hint,
        gradient_checkpointing=gradient_checkpointing,
        save_every_steps=save_every,
        stop_after_steps=stop_after,
        device=device,
        seed=seed,
    )
    run = ReporterRun(
        base=base,
        manifest=manifest,
        out_dir=out,
        name=name,
        models_dir=models_dir,
        valid_fraction=valid_fraction,
        command="januscxr " + " ".join(sys.argv[1:]),
    )
    summary = train_reporter(run, config, resume=resume)
    for epoch in summary["history"]:
        typer.echo(
            f"epoch {epoch['epoch']:.0f}: train loss {epoch['train_loss']:.4f}, valid loss {epoch['valid_loss']:.4f}"
        )
    if not summary["finished"]:
        typer.echo(f"stopped after {summary['global_step']} steps; continue with the same command and --resume")
        return
    typer.echo(f"adapter: {summary['adapter']}\nmerged: {summary['merged']} (reporter {name})")
