"""`finecliper train`: one readable training loop for one fold, resumable, single- or multi-process.

Per epoch: a seeded clip order (sampler.py), micro-batches with gradient accumulation under bf16
autocast on GPU, AdamW on the trainable tensors only, warm-up then cosine learning rate; after the
epoch, UAR on the selection split (data.select_on: the held-out validation share by default, or the
test fold when asked, as peer code does) decides the best checkpoint; with nothing to select on
("last", or a zero-shot run) the last epoch is kept. At the end that checkpoint is scored once on the
test fold, and results.json records the protocol as "selection". Every `checkpoint_every` optimizer
steps the weights and resume state are written, so `--resume` after a kill continues with exactly the
batches an unbroken run would have seen.

Run directory: config.yaml (resolved), metrics.jsonl, tensorboard/, checkpoints/{best,last}.safetensors
(+ .json records), resume.pt, results.json (with the run's class sets and, per split, its descriptions:
training/run_inputs.py), test_confusion.png.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from finecliper import atomic
from finecliper.config.experiment import ExperimentConfig
from finecliper.config.strict import to_dict
from finecliper.data.cue_check import screen_splits
from finecliper.data.loader import make_loader
from finecliper.data.manifest import ClipRecord, read_manifest
from finecliper.datasets import class_names as dataset_classes
from finecliper.datasets.class_sets import check_class_set
from finecliper.errors import UserError
from finecliper.inference.checkpoint import (
    backbone_identity,
    check_compatible,
    load_checkpoint,
    load_trainable,
    read_record,
    save_checkpoint,
)
from finecliper.inference.dataset import make_dataset
from finecliper.inference.runtime import autocast_for, to_device
from finecliper.jsonl_append import append_json_line
from finecliper.model import build_model
from finecliper.model.compile import compile_towers
from finecliper.training import distributed, run_dir
from finecliper.training.evaluate import evaluate, fold_of, write_metrics
from finecliper.training.memory import resolve_checkpointing
from finecliper.training.resume import load_resume, save_resume
from finecliper.training.run_inputs import class_sets, descriptions_summary
from finecliper.training.sampler import TrainOrder
from finecliper.training.split import stratified_split

log = logging.getLogger(__name__)

LOSS_KEYS = ("loss", "loss_pos", "loss_neg", "loss_pn", "loss_align")  # logged when the model returns them


# ------------------------------------------------------------------------------------------ data


def load_records(path: str | None, what: str, cfg: ExperimentConfig) -> list[ClipRecord]:
    if path is None:
        raise UserError(f"the config has no data.{what}_manifest; build one with `finecliper manifest`")
    records = read_manifest(path, cfg.data.data_root)
    check_class_set(records, dataset_classes(cfg.data.dataset), f"data.dataset={cfg.data.dataset}", path,
                    fix="set data.dataset={dataset}")
    return records


# ------------------------------------------------------------------------------------- schedule


def lr_lambda(total_steps: int, warmup_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def make_optimizer(model, cfg: ExperimentConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            # Weight decay on matrices only; biases, norms, embeddings and the logit scale keep theirs.
            (decay if p.ndim >= 2 and "embedding" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.train.lr)


# -------------------------------------------------------------------------------------- the loop


def forward_backward(net, batch: dict, device: torch.device, precision: str, grad_accum: int = 1,
                     sync: bool = True) -> dict:
    """One micro-batch of training: the forward pass under the run's autocast, then the backward pass of
    its loss / grad_accum. sync=False keeps a DDP network's gradients local (accumulation). Returns the
    model's output dict. `finecliper bench model` times this same function."""
    context = contextlib.nullcontext() if sync else net.no_sync()
    with context, autocast_for(device, precision):
        out = net(to_device(batch, device))
        loss = out["loss"] / grad_accum
    loss.backward()
    return out


@dataclass
class _Window:
    """Steps since the last log (clips and start time, for the rate) and since the last loss check (the
    summed loss, kept on the device: reading it back waits for the device, so it is read only when logging
    or saving)."""

    start: float = field(default_factory=time.perf_counter)
    clips: int = 0
    loss: torch.Tensor | None = None

    def add(self, loss: torch.Tensor, clips: int) -> None:
        self.loss = loss if self.loss is None else self.loss + loss
        self.clips += clips

    def check_loss(self, step: int) -> None:
        """Stop when the loss summed since the last check is not finite."""
        if self.loss is not None:
            value = float(self.loss)
            if not math.isfinite(value):
                raise RuntimeError(f"the loss became {value} at step {step}; lower train.lr")
        self.loss = None

    def restart(self) -> float:
        """Clips per second since the last restart; starts a new window."""
        rate = self.clips / max(1e-9, time.perf_counter() - self.start)
        self.start, self.clips = time.perf_counter(), 0
        return rate


class Trainer:
    """One run of one fold: the model of `cfg`, its datasets, optimizer and schedule, and the state to resume.

    `run()` trains epoch by epoch (`train_epoch`, then `end_epoch`: selection, best checkpoint, resume
    state) and ends with `finish()`, the one score on the test fold. Under `torchrun` each process holds
    one `Trainer`; the main process alone writes files.
    """

    def __init__(self, cfg: ExperimentConfig, run_dir: str | Path, device: str | None = None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.dist = distributed.setup(device)
        self.class_names = dataset_classes(cfg.data.dataset)
        torch.manual_seed(cfg.train.seed)
        self.model = build_model(cfg.model, self.class_names, zero_shot=cfg.train.zero_shot).to(self.dist.device)
        self.identity = backbone_identity(cfg.model)
        self._make_datasets()
        self._make_optimisation()
        self.epoch = 0
        self.step_in_epoch = 0  # optimizer steps done in the current epoch
        self.global_step = 0
        self.best = {"uar": -1.0, "epoch": None}
        self.writer = None
        self.unreadable: set[str] = set()  # clips left out mid-run (data.skip_unreadable), since start or resume
        self.train_loader = None  # built once: its workers persist over epochs
        self.eval_loaders: dict = {}  # evaluation loaders, kept likewise (scoring.score)
        resolve_checkpointing(self.model, self.micro, self.dist.device, cfg.train.precision)
        if cfg.train.compile:
            compile_towers(self.model)

    def _make_datasets(self) -> None:
        """The fit, selection and test splits and their datasets."""
        cfg = self.cfg
        train_records = load_records(cfg.data.train_manifest, "train", cfg)
        self.test_records = load_records(cfg.data.test_manifest, "test", cfg) if cfg.data.test_manifest else []
        if cfg.data.select_on == "test" and not self.test_records and not cfg.train.zero_shot:
            raise UserError("data.select_on=test needs data.test_manifest")
        self.cue_check = None  # every clip's cues, checked before the first step (data/cue_check.py)
        if cfg.model.cues and cfg.data.cues:
            kept, self.cue_check = screen_splits({"train": train_records, "test": self.test_records}, cfg.data)
            train_records, self.test_records = kept["train"], kept["test"]
        hold_out = cfg.data.select_on == "val" and not cfg.train.zero_shot
        self.fit_records, val_records = (stratified_split(train_records, cfg.data.val_fraction, cfg.train.seed)
                                         if hold_out else (train_records, []))
        self.select_records = {"val": val_records, "test": self.test_records, "last": []}[cfg.data.select_on]
        # The protocol this run follows, recorded in its results: nothing to select on means the last epoch.
        self.selection = cfg.data.select_on if self.select_records else "last"
        if cfg.train.zero_shot:  # zero-shot training never sees a label
            self.fit_records = [dataclasses.replace(r, label=None) for r in self.fit_records]
        # Every split's dataset up front: a bad manifest, cue store or descriptions file fails before
        # training, and the descriptions are read once.
        self.train_set = make_dataset(self.fit_records, cfg, self.class_names, True, self.model)
        self.test_set = self.select_set = None
        if self.test_records:
            self.test_set = make_dataset(self.test_records, cfg, self.class_names, False, self.model)
        if self.select_records is self.test_records:
            self.select_set = self.test_set
        elif self.select_records:
            self.select_set = make_dataset(self.select_records, cfg, self.class_names, False, self.model)
        self.inputs = self._describe_inputs(train_records)

    def _describe_inputs(self, train_records: list[ClipRecord]) -> dict:
        """The `classes` and `descriptions` entries of results.json (training/run_inputs.py)."""
        inputs = {"classes": class_sets(self.cfg, self.class_names, train_records, self.test_records)}
        if self.dist.main:  # tokenizing every description once is the main process's job alone
            splits = {"train": self.train_set, "test": self.test_set}
            if self.select_set is not None and self.select_set is not self.test_set:
                splits["val"] = self.select_set
            splits = {name: data for name, data in splits.items() if data is not None}
            inputs["descriptions"] = descriptions_summary(self.cfg, splits, self.model.tokenizer,
                                                          self.model.context_length)
        return inputs

    def _make_optimisation(self) -> None:
        """Micro-batch size, clip order, steps per epoch, optimizer, schedule, and the (DDP-wrapped) network."""
        cfg = self.cfg
        per_step = self.dist.world * cfg.train.grad_accum
        if cfg.train.batch_size % per_step:
            raise UserError(f"train.batch_size {cfg.train.batch_size} is not divisible by processes x grad_accum "
                            f"= {per_step}")
        self.micro = cfg.train.batch_size // per_step
        self.order = TrainOrder(len(self.train_set), cfg.train.seed, self.dist.rank, self.dist.world)
        self.steps_per_epoch = self.order.per_process() // (self.micro * cfg.train.grad_accum)
        if self.steps_per_epoch < 1:
            raise UserError(f"the training split has {len(self.train_set)} clips, fewer than one batch of "
                            f"{cfg.train.batch_size}; lower train.batch_size")
        total = self.steps_per_epoch * cfg.train.epochs
        self.optimizer = make_optimizer(self.model, cfg)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(total, round(cfg.train.warmup_epochs * self.steps_per_epoch))
        )
        self.net = self.model
        if self.dist.enabled:
            # Description adapters get no gradient in a batch without texts: let DDP allow that.
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.dist.local_rank] if self.dist.device.type == "cuda" else None,
                find_unused_parameters=cfg.model.descriptions,
            )

    # ---------------------------------------------------------------------------------- records

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def record(self, **extra) -> dict:
        return {"config": to_dict(self.cfg), "backbone": self.identity, "preset": self.cfg.preset,
                "dataset": self.cfg.data.dataset, "epoch": self.epoch, "global_step": self.global_step, **extra}

    def log_metrics(self, entry: dict) -> None:
        if not self.dist.main:
            return
        entry = {"time": round(time.time(), 3), **entry}
        append_json_line(self.run_dir / "metrics.jsonl", entry)
        if self.writer is not None:
            for key, value in entry.items():
                if isinstance(value, (int, float)) and key not in ("time", "step", "epoch"):
                    self.writer.add_scalar(key, value, entry.get("step", self.global_step))

    def save_state(self) -> None:
        """Last weights and the resume state, at an optimizer-step boundary."""
        if not self.dist.main:
            return
        save_checkpoint(self.ckpt_dir / "last", self.model, self.record(best=self.best))
        # The weights travel inside the resume state too: one atomic file, so a kill between two writes
        # can never pair weights of one step with optimizer state of another.
        save_resume(self.run_dir / "resume.pt", {
            "model": {k: v.detach().cpu() for k, v in self.model.trainable_state_dict().items()},
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
            "best_uar": float(self.best["uar"]), "best_epoch": -1 if self.best["epoch"] is None else self.best["epoch"],
            "torch_rng": torch.get_rng_state(),
            # What a resume must match (run_dir.py) and where it cuts metrics.jsonl back to.
            "processes": self.dist.world, "device_type": self.dist.device.type,
            "metrics_bytes": run_dir.metrics_size(self.run_dir),
        })

    def restore(self, state: dict) -> None:
        """Continue from `state`, a checked resume state (training/resume.py)."""
        record = read_record(self.ckpt_dir / "last")
        check_compatible(record, self.class_names, self.identity, str(self.ckpt_dir / "last.safetensors"))
        run_dir.check_unchanged(run_dir.stored_config(self.run_dir, record), to_dict(self.cfg), self.run_dir)
        self._check_same_processes(state)
        load_trainable(self.model, state["model"], str(self.run_dir / "resume.pt"))
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
            raise UserError(f"resume state {self.run_dir / 'resume.pt'} does not fit this run's optimizer "
                            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step = state["global_step"]
        self.best = {"uar": state["best_uar"], "epoch": None if state["best_epoch"] < 0 else state["best_epoch"]}
        if self.dist.main:
            run_dir.cut_metrics(self.run_dir, state["metrics_bytes"])
        log.info("resumed at epoch %d, step %d of %d", self.epoch, self.step_in_epoch, self.steps_per_epoch)

    # ------------------------------------------------------------------------------------- run

    def _check_same_processes(self, state: dict) -> None:
        """The number of processes and the device type change the batches' split and the arithmetic."""
        was = (state["processes"], state["device_type"])
        if was != (self.dist.world, self.dist.device.type):
            raise UserError(f"the run in {self.run_dir} was trained by {was[0]} process(es) on {was[1]}; resume it "
                            f"the same way, not with {self.dist.world} on {self.dist.device.type}")

    def _claim_run_dir(self, resume: bool, force: bool):
        """The run directory's lock (held by the main process only) and its checks (run_dir.py); every process
        gets the same verdict, so none waits for a process that has stopped."""
        lock, error = None, None
        if self.dist.main:
            try:
                lock = run_dir.claim(self.run_dir, resume, force)
            except UserError as exc:
                error = str(exc)
        error = self.dist.gather(error)[0]
        if error is not None:
            raise UserError(error)
        return lock

    def run(self, resume: bool = False, force: bool = False) -> dict:
        """Train, or with `resume` continue, the run in `run_dir`; `force` deletes an earlier run's outputs there."""
        # Before the lock, which makes the folder: a missing or bad resume state touches nothing.
        state = load_resume(self.run_dir / "resume.pt") if resume else None
        lock = self._claim_run_dir(resume, force)
        try:
            return self._run(state)
        finally:
            if lock is not None:
                lock.release()

    def _run(self, state: dict | None) -> dict:
        if state is not None:  # compared with the stored config before config.yaml is rewritten
            self.restore(state)
        if self.dist.main:
            atomic.write_text(self.run_dir / "config.yaml", yaml.safe_dump(to_dict(self.cfg), sort_keys=False))
            if self.cfg.train.tensorboard:
                self.writer = _tensorboard(self.run_dir / "tensorboard", self.global_step)
        self.dist.barrier()
        tunable, total = self.model.count_parameters()
        log.info("training %s on %d clips, selecting on %s (%d clips); %d tunable / %d parameters",
                 self.cfg.preset, len(self.train_set),
                 "nothing (last epoch)" if self.selection == "last" else self.selection,
                 len(self.select_records), tunable, total)
        while self.epoch < self.cfg.train.epochs:
            self.train_epoch()
            self.end_epoch()
        return self.finish()

    def train_epoch(self) -> None:
        """The optimizer steps of the current epoch (from where a resumed run stopped)."""
        cfg = self.cfg.train
        loader = self._loader()
        self.net.train()
        batches = iter(loader)
        bar = None
        if self.dist.main:
            bar = tqdm(total=self.steps_per_epoch, initial=self.step_in_epoch, unit="step", dynamic_ncols=True,
                       desc=f"epoch {self.epoch + 1}/{cfg.epochs}")
        window = _Window()
        while self.step_in_epoch < self.steps_per_epoch:
            losses = self._optimizer_step(batches)
            window.add(losses["loss"], cfg.batch_size)
            if bar is not None:
                bar.update(1)
            if self.global_step % cfg.log_every == 0:
                self._log_step(losses, window, bar)
            if self.global_step % cfg.checkpoint_every == 0 and self.step_in_epoch < self.steps_per_epoch:
                window.check_loss(self.global_step)  # never save weights a non-finite loss made
                self.save_state()
        window.check_loss(self.global_step)  # before end_epoch saves the weights
        if bar is not None:
            bar.close()

    def _loader(self) -> torch.utils.data.DataLoader:
        """This epoch's micro-batches of this process, skipping those a resumed run has already seen."""
        self.train_set.set_epoch(self.epoch)
        self.order.set_epoch(self.epoch, start=self.step_in_epoch * self.cfg.train.grad_accum * self.micro)
        if self.train_loader is None:  # the sampler and the dataset's epoch are read anew by each iter()
            self.train_loader = make_loader(self.train_set, self.micro, self.order, self.cfg.data.workers,
                                            self.dist.device, self.cfg.data.prefetch_factor, drop_last=True)
        return self.train_loader

    def _optimizer_step(self, batches) -> dict[str, torch.Tensor]:
        """One optimizer step over `grad_accum` micro-batches; the step's losses (on the device)."""
        cfg = self.cfg.train
        losses: dict[str, torch.Tensor] = {}
        for micro_step in range(cfg.grad_accum):
            # DDP averages the gradients over processes on the step's last micro-batch only.
            sync = micro_step == cfg.grad_accum - 1 or not self.dist.enabled
            batch = next(batches)
            self.unreadable.update(batch.get("unreadable", ()))
            out = forward_backward(self.net, batch, self.dist.device, cfg.precision, cfg.grad_accum, sync)
            for key in LOSS_KEYS:
                if key in out:
                    part = out[key].detach().float() / cfg.grad_accum
                    losses[key] = losses[key] + part if key in losses else part
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.trainable_parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step_in_epoch += 1
        self.global_step += 1
        return losses

    def _log_step(self, losses: dict[str, torch.Tensor], window: _Window, bar) -> None:
        """Check the loss, then log the step's losses, learning rate and clips per second since the last log."""
        window.check_loss(self.global_step)
        values = dict(zip(losses, torch.stack(list(losses.values())).tolist(), strict=True))
        rate = window.restart()
        if bar is not None:
            bar.set_postfix(loss=f"{values['loss']:.3f}", clips_s=f"{rate:.1f}")
        self.log_metrics({"step": self.global_step, "epoch": self.epoch, "lr": self.scheduler.get_last_lr()[0],
                          "clips_per_s": rate, **values})

    def end_epoch(self) -> None:
        epoch = self.epoch
        self.epoch += 1
        self.step_in_epoch = 0
        evaluate_now = self.select_set is not None and (self.epoch % self.cfg.train.eval_every == 0
                                                        or self.epoch == self.cfg.train.epochs)
        if evaluate_now:
            metrics = evaluate(self.model, self.select_set, self.dist, self.micro, self.cfg.data.workers,
                               self.cfg.train.precision, loaders=self.eval_loaders,
                               prefetch_factor=self.cfg.data.prefetch_factor)
            split = self.cfg.data.select_on
            self.log_metrics({"step": self.global_step, "epoch": epoch, f"{split}_uar": metrics["uar"],
                              f"{split}_war": metrics["war"]})
            if metrics["uar"] > self.best["uar"]:
                self.best = {"uar": metrics["uar"], "epoch": epoch}
                if self.dist.main:
                    save_checkpoint(self.ckpt_dir / "best", self.model,
                                    self.record(selection={"split": split, "metrics": metrics}))
        self.save_state()
        self.dist.barrier()

    def finish(self) -> dict:
        """Score the selected checkpoint once on the test fold; write results.json."""
        chosen = "best" if self.best["epoch"] is not None else "last"
        if chosen == "best":
            weights, _ = load_checkpoint(self.ckpt_dir / chosen)
            load_trainable(self.model, weights, chosen)
        # else the weights in memory are the last ones, which the last end_epoch saved as "last"
        results = {
            "name": self.cfg.name, "preset": self.cfg.preset, "dataset": self.cfg.data.dataset,
            "fold": fold_of(self.test_records or self.fit_records), "select_on": self.cfg.data.select_on,
            "selection": self.selection,
            "zero_shot": self.cfg.train.zero_shot, "checkpoint": str(self.ckpt_dir / f"{chosen}.safetensors"),
            "best_epoch": self.best["epoch"], "epochs": self.cfg.train.epochs,
        }
        if self.cfg.data.skip_unreadable:
            results["unreadable_clips"] = sorted(set().union(*self.dist.gather(sorted(self.unreadable))))
            if results["unreadable_clips"]:
                log.warning("%d clip(s) could not be read and were left out: %s", len(results["unreadable_clips"]),
                            ", ".join(results["unreadable_clips"][:10]))
        if self.cue_check is not None:
            results["cue_check"] = self.cue_check
        results.update(self.inputs)  # class sets and descriptions per split (training/run_inputs.py)
        if self.test_set is not None:
            metrics = evaluate(self.model, self.test_set, self.dist, self.micro, self.cfg.data.workers,
                               self.cfg.train.precision, progress=True, loaders=self.eval_loaders,
                               prefetch_factor=self.cfg.data.prefetch_factor)
            results["test"] = metrics
            if self.dist.main:
                write_metrics(metrics, self.run_dir, "test", f"{self.cfg.name}: test")
                self.log_metrics({"step": self.global_step, "test_uar": metrics["uar"], "test_war": metrics["war"]})
        if self.dist.main:
            atomic.write_text(self.run_dir / "results.json", json.dumps(results, indent=2) + "\n")
            if self.writer is not None:
                self.writer.close()
        self.dist.barrier()
        return results


def _tensorboard(path: Path, step: int):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("tensorboard is not installed: metrics go to metrics.jsonl only")
        return None
    # A resumed run drops the events logged after its resume state, as it cuts metrics.jsonl back.
    return SummaryWriter(str(path), purge_step=step + 1 if step else None)
