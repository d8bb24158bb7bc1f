"""LoRA fine-tuning of the tiny random Janus: it learns, resumes exactly, exports, registers, refuses bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from januscxr.errors import ModelError, ModelOutOfMemoryError
from januscxr.io import read_image
from januscxr.models.janus import StopReason, load_janus
from januscxr.report.prompt import build_prompt
from januscxr.training import reporter_trainer
from januscxr.training.reporter_data import answer_token_ids, expert_hint
from januscxr.training.reporter_manifest import read_training_manifest
from januscxr.training.reporter_run import ReporterRun, resolve_base, train_reporter
from januscxr.training.reporter_trainer import ReporterTrainConfig, ReporterTrainer
from tests.training.reporter_fixtures import REPORTS, write_pairs

# Settings that let the tiny model memorise four pairs in 30 full-batch steps.
OVERFIT = {"rank": 32, "alpha": 64, "dropout": 0.0, "lora_aligner": True, "learning_rate": 2e-2}


@pytest.fixture(scope="module")
def overfit_run(tiny_janus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("reporter")
    config = ReporterTrainConfig(
        **OVERFIT,
        epochs=30,
        batch_size=4,
        warmup_fraction=0.0,
        schedule="constant",
        patience=30,
        share_without_hint=0.0,
        device="cpu",
        progress=False,
    )
    run = ReporterRun(
        base=str(tiny_janus_dir),
        manifest=write_pairs(folder),
        out_dir=folder / "run",
        name="tiny-site",
        models_dir=folder / "models",
    )
    return train_reporter(run, config) | {"folder": folder}


def test_the_loss_falls_and_the_model_is_exported_and_carded(overfit_run: dict) -> None:
    history = overfit_run["history"]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["valid_loss"] < history[0]["valid_loss"]
    assert overfit_run["finished"] and overfit_run["data"]["train_images"] == 4
    merged = Path(overfit_run["merged"])
    assert merged == overfit_run["folder"] / "models" / "tiny-site"
    entry = json.loads((merged / "januscxr-reporter.json").read_text())
    assert entry["model_id"] == "tiny-site" and entry["layout"] == "hf"
    recorded = json.loads((merged / "januscxr-weights.json").read_text())["files"]
    assert "model.safetensors" in recorded and "MODEL_CARD.md" in recorded
    card = (merged / "MODEL_CARD.md").read_text()
    assert f"{history[-1]['valid_loss']:.4f}" in card and "4 images of 4 patients" in card
    assert "januscxr eval generate" in card


def test_after_overfitting_greedy_generation_reproduces_each_training_report(overfit_run: dict) -> None:
    backend = load_janus(Path(overfit_run["merged"]), device="cpu", precision="float32")
    folder = overfit_run["folder"]
    for index, report in enumerate(REPORTS):
        prompt = build_prompt(expert_findings=expert_hint(report))
        (answer,) = backend.generate([prompt], [read_image(folder / f"img{index}.png")], max_new_tokens=60)
        assert answer.stop_reason is StopReason.EOS
        assert list(answer.token_ids) == answer_token_ids(backend, report)[:-1]
        assert answer.text.strip() == report


def test_the_adapter_saves_loads_and_merges_with_identical_logits(overfit_run: dict, tiny_janus_dir: Path) -> None:
    from peft import PeftModel

    adapter = Path(overfit_run["adapter"])
    base = load_janus(tiny_janus_dir, device="cpu", precision="float32")
    merged = load_janus(Path(overfit_run["merged"]), device="cpu", precision="float32")
    image = read_image(overfit_run["folder"] / "img2.png")
    input_ids, mask = base.batch_inputs([build_prompt()])
    pixels = base.pixel_values([image])
    with torch.no_grad():
        before = base.model(input_ids=input_ids, attention_mask=mask, pixel_values=pixels).logits
        adapted = PeftModel.from_pretrained(base.model, adapter).eval()
        with_adapter = adapted(input_ids=input_ids, attention_mask=mask, pixel_values=pixels).logits
        from_merged = merged.model(input_ids=input_ids, attention_mask=mask, pixel_values=pixels).logits
    assert not torch.allclose(before, with_adapter, atol=1e-2)  # the adapter changes the answer
    torch.testing.assert_close(from_merged, with_adapter, rtol=0, atol=1e-4)


def _trainer(tiny_janus_dir: Path, manifest: Path, out: Path, **overrides: object) -> ReporterTrainer:
    settings: dict[str, object] = {
        "rank": 4,
        "alpha": 8,
        "dropout": 0.1,  # draws from torch's random state: resumption must restore it
        "learning_rate": 5e-3,
        "epochs": 2,
        "batch_size": 1,
        "grad_accumulation": 2,
        "share_without_hint": 0.5,
        "device": "cpu",
        "progress": False,
    }
    config = ReporterTrainConfig(**(settings | overrides))  # type: ignore[arg-type]
    examples = read_training_manifest(manifest).examples
    backend = load_janus(tiny_janus_dir, device="cpu", precision="float32")
    return ReporterTrainer(backend, examples[:4], examples[4:], config, out)


def test_resume_equals_an_uninterrupted_run(tiny_janus_dir: Path, tmp_path: Path) -> None:
    manifest = write_pairs(tmp_path)
    straight = _trainer(tiny_janus_dir, manifest, tmp_path / "straight").train()
    stopped = _trainer(tiny_janus_dir, manifest, tmp_path / "resumed", stop_after_steps=3).train()
    assert not stopped.finished and stopped.state.global_step == 3  # in the middle of epoch 2
    resumed = _trainer(tiny_janus_dir, manifest, tmp_path / "resumed").train(resume=True)
    assert resumed.finished and resumed.state.global_step == straight.state.global_step == 4
    expected = {n: p for n, p in straight.model.named_parameters() if p.requires_grad}
    actual = {n: p for n, p in resumed.model.named_parameters() if p.requires_grad}
    assert expected.keys() == actual.keys()
    for name, tensor in expected.items():
        assert torch.equal(tensor, actual[name]), name
    assert resumed.state.history == straight.state.history


def test_resuming_with_other_settings_is_refused(tiny_janus_dir: Path, tmp_path: Path) -> None:
    from januscxr.errors import ConfigurationError

    manifest = write_pairs(tmp_path)
    _trainer(tiny_janus_dir, manifest, tmp_path / "run", stop_after_steps=1).train()
    with pytest.raises(ConfigurationError, match="learning_rate=0.005"):
        _trainer(tiny_janus_dir, manifest, tmp_path / "run", learning_rate=1e-3).train(resume=True)


def test_a_checkpoint_of_another_architecture_is_refused_before_the_data_is_read(
    tiny_janus_dir: Path, tmp_path: Path
) -> None:
    llama = tmp_path / "llama"
    shutil.copytree(tiny_janus_dir, llama)
    config = json.loads((llama / "config.json").read_text())
    (llama / "config.json").write_text(json.dumps(config | {"model_type": "llama"}))
    with pytest.raises(ModelError, match="model_type 'llama'; expected 'janus'"):
        resolve_base(str(llama))
    run = ReporterRun(base=str(llama), manifest=tmp_path / "absent.csv", out_dir=tmp_path / "run", name="x-site")
    with pytest.raises(ModelError, match="expected 'janus'"):
        train_reporter(run, ReporterTrainConfig(device="cpu"))


def test_out_of_memory_names_the_options_that_help(
    tiny_janus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(*args: object) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(reporter_trainer, "answer_loss_sum", exhausted)
    trainer = _trainer(tiny_janus_dir, write_pairs(tmp_path), tmp_path / "run", batch_size=2, grad_accumulation=1)
    with pytest.raises(ModelOutOfMemoryError) as error:
        trainer.train()
    message = str(error.value)
    assert "--batch-size 1 --grad-accumulation 2" in message and "--gradient-checkpointing" in message


def test_the_cli_trains_stops_resumes_and_registers(tiny_janus_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from januscxr.cli.app import app

    manifest, models = write_pairs(tmp_path), tmp_path / "models"
    command = ["train", "reporter", "--base", str(tiny_janus_dir), "--manifest", str(manifest)]
    command += ["--out", str(tmp_path / "run"), "--name", "tiny-cli", "--models-dir", str(models)]
    command += ["--rank", "4", "--alpha", "8", "--epochs", "2", "--batch-size", "2", "--device", "cpu"]
    stopped = CliRunner().invoke(app, [*command, "--stop-after", "1"])
    assert stopped.exit_code == 0, stopped.output
    assert "stopped after 1 steps" in stopped.output and not (models / "tiny-cli").exists()
    finished = CliRunner().invoke(app, [*command, "--resume"])
    assert finished.exit_code == 0, finished.output
    assert "epoch 2: train loss" in finished.output and (models / "tiny-cli" / "model.safetensors").is_file()
    published = CliRunner().invoke(app, [*command, "--name", "janus-pro-cxr-final"])  # the last --name wins
    assert published.exit_code != 0 and "published model's" in str(published.exception)


def test_a_trained_reporter_loads_by_name_like_a_published_one(overfit_run: dict, write_cr, tmp_path: Path) -> None:
    """`read`, `models list|card|verify` and `eval generate` find the export by its name alone."""
    from typer.testing import CliRunner

    from januscxr.cli.app import app

    runner, models = CliRunner(), str(overfit_run["folder"] / "models")
    janus = ["--device", "cpu", "--precision", "float32", "--max-new-tokens", "8", "--classifier", "fake-classifier"]
    read = runner.invoke(app, ["read", "--reporter", "tiny-site", "--models-dir", models, *janus, str(write_cr())])
    assert read.exit_code == 0, read.output
    assert "draft by tiny-site, for a radiologist to review" in read.stdout

    listed = runner.invoke(app, ["models", "list", "--dir", models])
    assert listed.exit_code == 0 and listed.stderr == ""
    entry = listed.stdout.split("tiny-site  (reporter, see card parameters)\n")[1].split("\n\n")[0]
    assert f"{overfit_run['merged']} (trained here)" in entry and "| model id | `tiny-site`" in entry
    card = runner.invoke(app, ["models", "card", "tiny-site", "--dir", models])
    assert card.stdout.strip() == (Path(overfit_run["merged"]) / "MODEL_CARD.md").read_text().strip()
    verified = runner.invoke(app, ["models", "verify", "tiny-site", "--dir", models])
    assert verified.exit_code == 0 and "files match their sha256" in verified.stdout, verified.output

    manifest = tmp_path / "test.csv"
    folder = overfit_run["folder"]
    manifest.write_text(f"image,report\n{folder / 'img0.png'},{REPORTS[0]}\n{folder / 'img1.png'},{REPORTS[1]}\n")
    command = [
        "eval",
        "generate",
        "--reporter",
        "tiny-site",
        "--manifest",
        str(manifest),
        "--out",
        str(tmp_path / "run"),
    ]
    command += ["--models-dir", models, *janus, "--gate", "fake-gate", "--metrics", "BLEU_1,ROUGE_L"]
    scored = runner.invoke(app, command)
    assert scored.exit_code == 0, scored.output
    drafts = [json.loads(line) for line in (tmp_path / "run" / "drafts.jsonl").read_text().splitlines()]
    assert len(drafts) == 2 and {d["reporter"] for d in drafts} == {"tiny-site"}
