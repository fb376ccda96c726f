"""The training loop: `train(config) -> Path` of the final model directory.

Output layout (``config.output``):

    model/                 final model: Splade.save_pretrained layout (HF weights, tokenizer,
                           splade_config.json, query_encoder/ when separate) plus
                           training_config.json and a model card README.md
    checkpoints/step-N/    the newest checkpoint(s), see checkpoint.py
    train_log.jsonl        one JSON record per logged step (see LOG_FIELDS)

A run finding a checkpoint in its output continues from it (the config must match but for
RESUMABLE_CHANGES); killed at any moment and restarted, it ends with the same weights as an
uninterrupted run (bit-identical on CPU with the same thread count).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import random
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .. import __version__
from ..data.examples import read_examples
from ..data.training import TrainingData, TrainingItem
from ..errors import SpladeError
from ..io import atomic_path, write_json
from ..losses import Scores, SpladeLoss
from ..model.encoder import SPLADE_CONFIG
from ..model.precision import autocast
from ..registry import INFERENCE_FREE_KEY
from . import checkpoint as ckpt
from .card import model_card
from .config import RESUMABLE_CHANGES, TrainConfig, resolve_model
from .distributed import Context, gather_with_grad, mean_over_ranks, output_lock, setup, teardown
from .model import TrainingModel, load_splade
from .schedule import linear_schedule, parameter_groups

LOG_FIELDS = (
    "step",
    "epoch",
    "loss",
    "rank_loss",
    "reg_q",
    "reg_d",
    "lambda_q",
    "lambda_d",
    "nnz_q",
    "nnz_d",
    "lr",
    "grad_norm",
    "examples_per_s",
    "steps_per_s",
)
_DDP_ARGUMENTS = inspect.signature(DistributedDataParallel.__init__).parameters
_METRICS = ("loss", "rank_loss", "reg_q", "reg_d", "nnz_q", "nnz_d")


def train(config: TrainConfig, on_step: Callable[[int], None] | None = None) -> Path:
    """Train (or resume) as configured, in this process (one rank of a run when started by
    `splade_core.train.launch` or torchrun); return the final model directory.

    `on_step(step)` is called after each optimizer step and checkpoint (for tests and tools).
    """
    context = setup(config.device, config.processes)
    try:
        with output_lock(config.output, context):
            return _Trainer(config, context, on_step).run()
    finally:
        teardown(context)


class _Trainer:
    def __init__(self, config: TrainConfig, context: Context, on_step: Callable[[int], None] | None):
        self.config = config
        self.context = context
        self.on_step = on_step
        self.output = Path(config.output)
        self.checkpoints = self.output / "checkpoints"
        self.log_path = self.output / "train_log.jsonl"
        self.model_dir = self.output / "model"
        self.micro_batch = config.batch_size // (context.world_size * config.grad_accum)

    # ----------------------------------------------------------------------------------------
    def run(self) -> Path:
        config, context = self.config, self.context
        threads = config.threads or torch.get_num_threads()  # the run's, shared by its processes
        torch.set_num_threads(max(1, threads // context.world_size))
        if context.main:
            self.output.mkdir(parents=True, exist_ok=True)
            ckpt.remove_partial(self.checkpoints)
            for stale in self.output.glob(".tmp-model-*"):  # a final-model write that was killed
                shutil.rmtree(stale, ignore_errors=True)
        context.barrier()
        latest = ckpt.latest_checkpoint(self.checkpoints)
        resumed_state = latest.read_state() if latest else None
        if resumed_state is not None:
            self._check_same_run(latest, resumed_state)

        self.objective = SpladeLoss(
            config.loss, config.reg_q, config.reg_d, config.lambda_q, config.lambda_d, config.lambda_warmup
        )
        examples, examples_header = read_examples(config.train_examples)
        self.data = TrainingData.load(
            config.train_data,
            examples,
            seed=config.seed,
            needs_negatives=config.n_negatives > 0,
            needs_scores=self.objective.needs_teacher_scores,
        )
        self.examples_header = examples_header

        random.seed(config.seed)
        np.random.seed(config.seed)
        torch.manual_seed(config.seed + context.rank)
        splade = load_splade(config)
        self.splade = splade
        self.module = TrainingModel(splade, config.inference_free_query).to(context.device)
        self.module.train()
        self.parameters = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(parameter_groups(self.module, config.weight_decay), lr=config.lr)
        self.scheduler = linear_schedule(self.optimizer, config.warmup_steps, config.steps)
        self.scaler = torch.amp.GradScaler(context.device.type, enabled=config.precision == "fp16")
        self.step = 0
        self.position = 0
        self.train_seconds = 0.0
        self.last_metrics: dict[str, Any] = {}
        if latest is not None:
            self._restore_weights(latest, resumed_state)
        self.ddp = self.module
        if context.distributed:
            device_ids = [context.device] if context.device.type == "cuda" else None
            # Buffers (position ids, special-token ids) are constants: no per-step broadcast.
            sync = "forward_sync_buffers" if "forward_sync_buffers" in _DDP_ARGUMENTS else "broadcast_buffers"
            self.ddp = DistributedDataParallel(self.module, device_ids=device_ids, **{sync: False})
        if latest is not None:
            self._restore_rng(latest, resumed_state)
            if context.main:
                self._truncate_log(latest.step)
        if self.step < config.steps:
            self._loop()
        if context.main and not (self.model_dir / SPLADE_CONFIG).is_file():
            self._save_model()
        context.barrier()
        return self.model_dir

    # ----------------------------------------------------------------------------------------
    def _check_same_run(self, latest: ckpt.Checkpoint, state: dict[str, Any]) -> None:
        saved, current = state.get("config", {}), self.config.to_dict()
        changed = sorted(k for k in current if k not in RESUMABLE_CHANGES and saved.get(k) != current[k])
        if changed:
            details = ", ".join(f"{k}: {saved.get(k)!r} → {current[k]!r}" for k in changed[:4])
            raise SpladeError(
                f"{latest.path} belongs to a run with other settings ({details}); "
                "train into a new output directory or remove its checkpoints"
            )
        if state.get("world_size") != self.context.world_size:
            print(
                f"warning: resuming a {state.get('world_size')}-process run on {self.context.world_size}; "
                "the data order is kept but results will not be bit-identical",
                file=sys.stderr,
            )

    def _modules_to_save(self) -> dict[str, torch.nn.Module]:
        modules = {"doc_encoder": self.splade.doc_encoder.mlm}
        if self.splade.separate:
            modules["query_encoder"] = self.splade.query_encoder.mlm
        return modules

    def _restore_weights(self, latest: ckpt.Checkpoint, state: dict[str, Any]) -> None:
        ckpt.load_weights(latest, self._modules_to_save())
        trainer = latest.read_trainer_state(self.context.device)
        self.optimizer.load_state_dict(trainer["optimizer"])
        self.scheduler.load_state_dict(trainer["scheduler"])
        self.scaler.load_state_dict(trainer["scaler"])
        self.objective.load_schedule_state_dict(trainer)
        self._trainer_state = trainer
        self.step = int(state["step"])
        self.position = int(state["position"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.last_metrics = state.get("last_metrics", {})
        if self.context.main:
            print(f"resuming from {latest.path} (step {self.step})", file=sys.stderr)

    def _restore_rng(self, latest: ckpt.Checkpoint, state: dict[str, Any]) -> None:
        rank = self.context.rank
        torch_states = self._trainer_state["torch_rng"]
        host_states = state["host_rng"]
        if rank < len(torch_states):
            ckpt.set_torch_rng_state(torch_states[rank])
            ckpt.set_host_rng_state(host_states[rank])
        del self._trainer_state

    def _truncate_log(self, step: int) -> None:
        """Drop log records written after the checkpoint a resumed run starts from."""
        if not self.log_path.is_file():
            return
        kept = []
        for line in self.log_path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:  # a line cut short by the kill
                continue
        with atomic_path(self.log_path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))

    # ----------------------------------------------------------------------------------------
    def _loop(self) -> None:
        config, context = self.config, self.context
        from tqdm.auto import tqdm

        progress = tqdm(
            total=config.steps,
            initial=self.step,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            disable=not (context.main and config.progress),
            mininterval=1 if sys.stderr.isatty() else 30,
        )
        window = _Window()
        log = open(self.log_path, "a", encoding="utf-8") if context.main else None
        try:
            while self.step < config.steps:
                started = time.perf_counter()
                lambda_q, lambda_d = self.objective.weights
                lr = self.scheduler.get_last_lr()[0]
                for micro in range(config.grad_accum):
                    last = micro == config.grad_accum - 1
                    sync = contextlib.nullcontext() if last or not context.distributed else self.ddp.no_sync()
                    with sync:
                        metrics = self._micro_step()
                    window.add(metrics)
                grad_norm = self._optimizer_step()
                self.step += 1
                elapsed = time.perf_counter() - started
                self.train_seconds += elapsed
                window.finish_step(elapsed, config.batch_size)
                if self.step % config.log_every == 0 or self.step == config.steps:
                    record = self._log_record(window, lambda_q, lambda_d, lr, grad_norm)
                    window = _Window()
                    if log is not None:
                        log.write(json.dumps(record) + "\n")
                        log.flush()
                    progress.set_postfix(loss=record["loss"], nnz_q=record["nnz_q"], nnz_d=record["nnz_d"])
                progress.update(1)
                if self.step == config.steps or (config.checkpoint_every and self.step % config.checkpoint_every == 0):
                    self._save_checkpoint()
                if self.on_step is not None:
                    self.on_step(self.step)
        finally:
            progress.close()
            if log is not None:
                log.close()

    def _micro_step(self) -> torch.Tensor:
        config, context = self.config, self.context
        start = self.position + context.rank * self.micro_batch
        items = self.data.items(start, self.micro_batch, config.n_negatives)
        self.position += self.micro_batch * context.world_size
        queries, docs = _tokenize(self.splade, items, config, context.device)
        with autocast(context.device, config.precision):
            query_vectors, doc_vectors = self.ddp(
                queries["input_ids"], queries["attention_mask"], docs["input_ids"], docs["attention_mask"]
            )
        loss, metrics = self._objective(query_vectors.float(), doc_vectors.float(), items)
        self.scaler.scale(loss / config.grad_accum).backward()
        return metrics

    def _objective(self, q: torch.Tensor, d: torch.Tensor, items: list[TrainingItem]):
        """The objective of a micro-batch: its scores (against the gathered batch's positives
        too) and the vectors the regularizers see, whatever the loss."""
        config, context = self.config, self.context
        batch, n = q.shape[0], config.n_negatives
        positives = d[:batch]
        negatives = d[batch:].reshape(batch, n, -1)
        docs_all = gather_with_grad(d, context)
        own = torch.arange(batch, device=d.device)
        rows = (torch.arange(context.world_size, device=d.device)[:, None] * batch * (1 + n) + own).reshape(-1)
        # Made in this order (in-batch, positive, negative scores) for the order of autograd's
        # gradient sums: the same bits as when each loss made only its own scores.
        in_batch = q @ docs_all[rows].T
        positive = (q * positives).sum(dim=1)
        negative = torch.einsum("bv,bnv->bn", q, negatives)
        targets = context.rank * batch + own
        scores = Scores(positive, negative, in_batch, targets, **_teacher_scores(items, d.device))
        queries = None if config.inference_free_query else gather_with_grad(q, context)
        loss, parts = self.objective(scores, queries, docs_all)
        with torch.no_grad():
            metrics = torch.stack(
                [
                    loss.detach(),
                    parts["rank_loss"].detach(),
                    parts["reg_q"].detach(),
                    parts["reg_d"].detach(),
                    (q > 0).sum(dim=1).float().mean(),
                    (d > 0).sum(dim=1).float().mean(),
                ]
            )
        return loss, metrics

    def _optimizer_step(self) -> float:
        self.scaler.unscale_(self.optimizer)
        grads = [p.grad for p in self.parameters if p.grad is not None]
        if self.config.max_grad_norm is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.config.max_grad_norm)
        else:
            grad_norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())
        self.scaler.step(self.optimizer)
        self.scaler.update()
        with warnings.catch_warnings():
            # fp16 steps the scaler skips (inf/NaN gradients) still count as steps, as in HF.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.objective.step()
        return float(grad_norm)

    def _log_record(
        self, window: _Window, lambda_q: float, lambda_d: float, lr: float, grad_norm: float
    ) -> dict[str, Any]:
        means = mean_over_ranks(window.mean(), self.context).tolist()
        record: dict[str, Any] = {"step": self.step, "epoch": round(self.position / len(self.data), 4)}
        record.update({name: _round(value) for name, value in zip(_METRICS, means)})
        record.update(
            {
                "lambda_q": lambda_q,
                "lambda_d": lambda_d,
                "lr": lr,
                "grad_norm": _round(grad_norm),
                "examples_per_s": _round(window.examples / window.seconds),
                "steps_per_s": _round(window.steps / window.seconds),
            }
        )
        self.last_metrics = record
        return record

    # ----------------------------------------------------------------------------------------
    def _save_checkpoint(self) -> None:
        context = self.context
        rng = {"torch": ckpt.torch_rng_state(), "host": ckpt.host_rng_state()}
        if context.distributed:
            gathered: list[Any] = [None] * context.world_size
            dist.all_gather_object(gathered, rng)
        else:
            gathered = [rng]
        if context.main:
            trainer_state = {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                **self.objective.schedule_state_dict(),
                "torch_rng": [r["torch"] for r in gathered],
            }
            state = {
                "position": self.position,
                "world_size": context.world_size,
                "train_seconds": self.train_seconds,
                "last_metrics": self.last_metrics,
                "config": self.config.to_dict(),
                "host_rng": [r["host"] for r in gathered],
                "splade_core": __version__,
            }
            ckpt.save_checkpoint(
                self.checkpoints, self.step, self._modules_to_save(), trainer_state, state, self.config.keep_checkpoints
            )
        context.barrier()

    def _save_model(self) -> None:
        """The final model, written into a temporary folder and renamed into place."""
        tmp = self.output / f".tmp-model-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        self.splade.save_pretrained(tmp)  # its query side is the one trained (`load_splade`)
        training = {
            "format": "splade-core/training-config",
            "version": 1,
            "splade_core": __version__,
            **self.config.to_dict(),
            "model_path": resolve_model(self.config.model),
            "lambda_warmup": self.config.lambda_warmup,
            INFERENCE_FREE_KEY: self.config.inference_free_query,
            "world_size": self.context.world_size,
            "examples": len(self.data),
            "examples_dropped": self.data.dropped,
            "examples_source": self.config.train_examples,
            "mining": self.examples_header or None,
            "train_seconds": round(self.train_seconds, 2),
            "final_metrics": self.last_metrics,
        }
        write_json(tmp / "training_config.json", training)
        (tmp / "README.md").write_text(model_card(training))
        for path in tmp.rglob("*"):
            if path.is_file():
                ckpt._fsync_file(path)
        if self.model_dir.exists():
            shutil.rmtree(self.model_dir)
        os.rename(tmp, self.model_dir)


class _Window:
    """Metrics summed over the micro-steps since the last log record."""

    def __init__(self):
        self.sums: torch.Tensor | None = None
        self.count = 0
        self.steps = 0
        self.examples = 0
        self.seconds = 0.0

    def add(self, metrics: torch.Tensor) -> None:
        self.sums = metrics if self.sums is None else self.sums + metrics
        self.count += 1

    def finish_step(self, seconds: float, examples: int) -> None:
        self.steps += 1
        self.seconds += seconds
        self.examples += examples

    def mean(self) -> torch.Tensor:
        return (self.sums / max(self.count, 1)).double()


def _tokenize(splade, items: list[TrainingItem], config: TrainConfig, device: torch.device):
    query_tokenizer = splade.query_encoder.tokenizer
    doc_tokenizer = splade.doc_encoder.tokenizer
    queries = query_tokenizer(
        [it.query for it in items],
        padding=True,
        truncation=True,
        max_length=config.query_max_length,
        return_tensors="pt",
    )
    texts = [it.positive for it in items] + [neg for it in items for neg in it.negatives]
    docs = doc_tokenizer(texts, padding=True, truncation=True, max_length=config.doc_max_length, return_tensors="pt")
    return queries.to(device), docs.to(device)


def _teacher_scores(items: list[TrainingItem], device: torch.device) -> dict[str, torch.Tensor]:
    """The teacher's scores of a micro-batch's pairs, when every drawn example carries them."""
    if any(item.teacher_positive is None for item in items):
        return {}
    return {
        "teacher_positive": torch.tensor([it.teacher_positive for it in items], dtype=torch.float32, device=device),
        "teacher_negative": torch.tensor([it.teacher_negatives for it in items], dtype=torch.float32, device=device),
    }


def _round(value: float) -> float | None:
    """6 significant digits; None (JSON null) for inf/NaN, e.g. a skipped fp16 step."""
    return float(f"{value:.6g}") if math.isfinite(value) else None
