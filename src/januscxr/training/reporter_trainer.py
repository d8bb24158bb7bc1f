"""LoRA fine-tuning of a Janus reporter (the paper's recipe): PEFT adapters, AdamW, resumable.

Defaults (:class:`ReporterTrainConfig`): LoRA rank 64 as Janus-Pro-CXR, alpha 128 (scale 2),
dropout 0.05, on the language model's attention (q, k, v, o) and MLP (gate, up, down)
projections; the vision aligner optionally. AdamW at 2e-4 without weight decay, linear warm-up
over the first 3 % of optimizer steps, then cosine decay to zero at the last planned step.
Gradients are clipped to norm 1. Validation loss (mean per answer token) after every epoch;
training stops after ``patience`` epochs without a better one, and the best epoch's adapter is kept.

A checkpoint (``RUN/checkpoint.pt``: trainable weights, optimizer, scheduler, the torch random
state, position in the data and history) is written after every epoch and every
``save_every_steps`` steps. The data order is a permutation seeded by (seed, epoch) and the hint
draw is seeded by (seed, epoch, row), so ``resume=True`` continues exactly where the checkpoint
left off: on CPU the weights equal those of an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from januscxr.errors import ConfigurationError, ManifestError, ModelOutOfMemoryError
from januscxr.models.janus import JanusBackend
from januscxr.training.reporter_data import (
    EncodedExample,
    ReporterBatch,
    answer_loss_sum,
    collate,
    encode_example,
    expert_hint,
    keeps_hint,
    load_example_image,
)
from januscxr.training.reporter_manifest import ReportExample
from januscxr.types import Image

logger = logging.getLogger(__name__)

LANGUAGE_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CHECKPOINT = "checkpoint.pt"
BEST = "best-adapter.pt"
# Fields that may differ between a run and its resumption.
_SESSION_FIELDS = {"stop_after_steps", "save_every_steps", "device", "progress"}


@dataclass
class ReporterTrainConfig:
    """Everything a run depends on; saved in every checkpoint."""

    rank: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(LANGUAGE_PROJECTIONS))
    lora_aligner: bool = False
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    warmup_fraction: float = 0.03
    schedule: str = "cosine"  # cosine, linear or constant after warm-up
    max_grad_norm: float = 1.0
    epochs: int = 3
    batch_size: int = 4
    grad_accumulation: int = 1
    patience: int = 2
    share_without_hint: float = 0.2
    gradient_checkpointing: bool = False
    seed: int = 0
    save_every_steps: int = 0  # 0: a checkpoint after each epoch only
    stop_after_steps: int | None = None  # stop (with a checkpoint) once this many steps are done in all
    device: str = "auto"
    progress: bool = True


@dataclass
class ReporterTrainState:
    epoch: int = 0  # epochs finished
    step_in_epoch: int = 0  # optimizer steps done in the current epoch
    epoch_loss_sum: float = 0.0  # of the current epoch's steps (mean per answer token each)
    global_step: int = 0
    best_valid_loss: float = math.inf
    best_epoch: int = 0
    train_tokens: int = 0
    train_seconds: float = 0.0
    unreadable_rows: list[int] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class TrainedReporter:
    """The model with the best epoch's adapter loaded (``finished`` False when stopped by ``stop_after_steps``)."""

    model: Any  # a peft PeftModel
    state: ReporterTrainState
    finished: bool


def target_pattern(config: ReporterTrainConfig) -> str:
    """PEFT's ``target_modules`` regex: the named projections of the language model (and the aligner)."""
    names = "|".join(config.target_modules)
    pattern = rf"model\.language_model\.layers\.\d+\.(?:self_attn|mlp)\.(?:{names})"
    return pattern + (r"|model\.aligner\.(?:fc1|hidden_layers\.\d+)" if config.lora_aligner else "")


def add_lora(model: Any, config: ReporterTrainConfig) -> Any:
    """Wrap the model with fresh LoRA adapters (initialised from ``config.seed``); only they train."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)
    lora = LoraConfig(
        r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=target_pattern(config)
    )
    wrapped = get_peft_model(model, lora)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return wrapped


def lr_lambda(config: ReporterTrainConfig, total_steps: int) -> Callable[[int], float]:
    """The learning-rate factor of step ``s``: linear warm-up, then cosine, linear or constant."""
    warmup = max(1, round(config.warmup_fraction * total_steps)) if config.warmup_fraction > 0 else 0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        if config.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress if config.schedule == "linear" else 1.0

    return factor


class ReporterTrainer:
    """One run: ``train`` fits the adapter on ``train_set``, validating on ``valid_set`` each epoch."""

    def __init__(
        self,
        backend: JanusBackend,
        train_set: Sequence[ReportExample],
        valid_set: Sequence[ReportExample],
        config: ReporterTrainConfig,
        out_dir: Path,
    ) -> None:
        if config.schedule not in {"cosine", "linear", "constant"}:
            raise ConfigurationError(f"schedule {config.schedule!r}; expected cosine, linear or constant")
        self.backend, self.config, self.out = backend, config, out_dir
        self.train_set, self.valid_set = list(train_set), list(valid_set)
        self.hints = {e.line: expert_hint(e.answer) for e in [*self.train_set, *self.valid_set]}
        self.model = add_lora(backend.model, config)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.total_steps = config.epochs * self.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(config, self.total_steps))
        self.state = ReporterTrainState()

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(math.ceil(len(self.train_set) / self.config.batch_size) / self.config.grad_accumulation)

    def train(self, *, resume: bool = False) -> TrainedReporter:
        """Train until the last epoch, early stopping or ``stop_after_steps``; checkpoints as it goes."""
        self.out.mkdir(parents=True, exist_ok=True)
        if resume and (self.out / CHECKPOINT).is_file():
            self._load_checkpoint(self.out / CHECKPOINT)
            logger.info("resumed at epoch %d, step %d", self.state.epoch + 1, self.state.global_step)
        progress = tqdm(
            total=self.total_steps, initial=self.state.global_step, unit="step", disable=not self.config.progress
        )
        with progress:
            while not self._done():
                if not self._train_epoch(progress):
                    self._save_checkpoint()
                    return TrainedReporter(self.model, self.state, finished=False)
                self._end_epoch()
        if self.state.best_epoch:
            self._load_trainable(torch.load(self.out / BEST, weights_only=True))
        return TrainedReporter(self.model, self.state, finished=True)

    def _done(self) -> bool:
        state, config = self.state, self.config
        return state.epoch >= config.epochs or (
            state.best_epoch > 0 and state.epoch - state.best_epoch >= config.patience
        )

    def _train_epoch(self, progress: tqdm[Any]) -> bool:
        """Run the epoch's remaining steps; False when ``stop_after_steps`` was reached first."""
        self.model.train()
        groups = self._step_groups(self.state.epoch)
        for group in groups[self.state.step_in_epoch :]:
            if self.config.stop_after_steps is not None and self.state.global_step >= self.config.stop_after_steps:
                return False
            started = time.perf_counter()
            loss, tokens = self._step(group)
            self.state.train_seconds += time.perf_counter() - started
            self.state.train_tokens += tokens
            self.state.epoch_loss_sum += loss
            self.state.step_in_epoch += 1
            self.state.global_step += 1
            rate = self.state.train_tokens / max(self.state.train_seconds, 1e-9)
            progress.set_postfix(epoch=self.state.epoch + 1, loss=f"{loss:.4f}", tok_s=f"{rate:.0f}")
            progress.update(1)
            if self.config.save_every_steps and self.state.global_step % self.config.save_every_steps == 0:
                self._save_checkpoint()
        return True

    def _step_groups(self, epoch: int) -> list[list[list[ReportExample]]]:
        """The epoch's optimizer steps, each a list of micro-batches, in the seeded order."""
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        order = [self.train_set[i] for i in torch.randperm(len(self.train_set), generator=generator).tolist()]
        size = self.config.batch_size
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        step = self.config.grad_accumulation
        return [batches[i : i + step] for i in range(0, len(batches), step)]

    def _step(self, group: list[list[ReportExample]]) -> tuple[float, int]:
        """One optimizer step over a group of micro-batches: mean loss per answer token, tokens seen."""
        batches = [b for b in (self._batch(m, self.state.epoch, train=True) for m in group) if b is not None]
        answer_tokens = sum(b.answer_tokens for b in batches)
        total, tokens = 0.0, 0
        with self._memory_guard():
            for batch in batches:
                loss = answer_loss_sum(self.model.get_base_model(), batch) / answer_tokens
                loss.backward()
                total, tokens = total + loss.item(), tokens + batch.tokens
            if batches:
                params = [p for p in self.model.parameters() if p.requires_grad]
                torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        return total, tokens

    def _batch(self, examples: list[ReportExample], epoch: int, *, train: bool) -> ReporterBatch | None:
        encoded: list[EncodedExample] = []
        images: list[Image] = []
        for example in examples:
            if example.line in self.state.unreadable_rows:
                continue
            image = load_example_image(example)
            if image is None:
                self.state.unreadable_rows.append(example.line)
                continue
            show = not train or keeps_hint(
                seed=self.config.seed, epoch=epoch, row=example.line, share_without_hint=self.config.share_without_hint
            )
            encoded.append(encode_example(self.backend, example, self.hints[example.line] if show else []))
            images.append(image)
        return collate(self.backend, encoded, images) if encoded else None

    def validation_loss(self) -> float:
        """Mean loss per answer token on the validation set, every example with its hint, as at inference."""
        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad(), self._memory_guard():
            for start in range(0, len(self.valid_set), self.config.batch_size):
                batch = self._batch(self.valid_set[start : start + self.config.batch_size], 0, train=False)
                if batch is not None:
                    total += float(answer_loss_sum(self.model.get_base_model(), batch))
                    count += batch.answer_tokens
        self.model.train()
        return total / count if count else math.nan

    def _end_epoch(self) -> None:
        state = self.state
        if len(set(state.unreadable_rows)) >= len(self.train_set):
            raise ManifestError(f"none of the {len(self.train_set)} training images could be read; see the rows logged")
        valid = self.validation_loss()
        train = state.epoch_loss_sum / max(state.step_in_epoch, 1)
        state.epoch, state.step_in_epoch, state.epoch_loss_sum = state.epoch + 1, 0, 0.0
        state.history.append(
            {"epoch": state.epoch, "step": state.global_step, "train_loss": train, "valid_loss": valid}
        )
        logger.info("epoch %d: valid loss %.4f", state.epoch, valid)
        if valid < state.best_valid_loss or state.best_epoch == 0:
            state.best_valid_loss, state.best_epoch = valid, state.epoch
            torch.save(self._trainable(), self.out / BEST)
        self._save_checkpoint()

    @contextmanager
    def _memory_guard(self) -> Iterator[None]:
        try:
            yield
        except (torch.OutOfMemoryError, MemoryError) as error:
            raise self._out_of_memory() from error
        except RuntimeError as error:
            if "out of memory" in str(error) or "can't allocate memory" in str(error):
                raise self._out_of_memory() from error
            raise

    def _out_of_memory(self) -> ModelOutOfMemoryError:
        config = self.config
        hints = []
        if config.batch_size > 1:
            half = config.batch_size // 2
            hints.append(
                f"--batch-size {half} --grad-accumulation {config.grad_accumulation * config.batch_size // half} "
                "(the same effective batch)"
            )
        if not config.gradient_checkpointing:
            hints.append("--gradient-checkpointing")
        where = self.backend.device.type.upper()
        advice = " or ".join(hints) if hints else "a GPU with more memory"
        return ModelOutOfMemoryError(
            f"out of {where} memory training at --batch-size {config.batch_size}; try {advice}"
        )

    def _trainable(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad}

    def _load_trainable(self, tensors: dict[str, torch.Tensor]) -> None:
        params = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        if params.keys() != tensors.keys():
            raise ConfigurationError(
                f"{self.out}: the checkpoint's adapter has {len(tensors)} tensors; expected {len(params)} "
                "(a run with other LoRA settings?)"
            )
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(tensors[name])

    def _save_checkpoint(self) -> None:
        checkpoint = {
            "trainable": self._trainable(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "state": asdict(self.state),
            "config": asdict(self.config),
        }
        path = self.out / CHECKPOINT
        torch.save(checkpoint, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)  # never leave a half-written checkpoint

    def _load_checkpoint(self, path: Path) -> None:
        checkpoint = torch.load(path, weights_only=True)
        saved, current = checkpoint["config"], asdict(self.config)
        changed = sorted(k for k in current if k not in _SESSION_FIELDS and saved.get(k) != current[k])
        if changed:
            raise ConfigurationError(
                f"{path}: saved with other settings ({', '.join(f'{k}={saved.get(k)!r}' for k in changed)}); "
                "expected the same options as the interrupted run"
            )
        self._load_trainable(checkpoint["trainable"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        torch.set_rng_state(checkpoint["torch_rng"])
        if checkpoint["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(checkpoint["cuda_rng"])
        self.state = ReporterTrainState(**checkpoint["state"])
