"""Fine-tuning with fixed block masks: one-shot or one layer at a time, checkpointed,
resumable, on one process or many (``torchrun``, DistributedDataParallel).

The schedule is a list of *stages*. One-shot has one stage that masks every layer the
plan sparsifies; incremental has one stage per layer, in network order, each choosing
that layer's Gamma on the weights the previous stages fine-tuned. A stage masks, then
trains ``epochs`` epochs. A checkpoint is written after every epoch (rank 0,
atomically); ``resume`` continues from the last one exactly: epoch ``e`` shuffles with
seed ``seed + e`` whatever the process history.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from bsir.sparsity import SparsityPlan
from bsir.train.masking import LayerMask, apply_masks, choose_masks, masks_of, weight_density

MODES = ("one-shot", "incremental")
CHECKPOINT = "last.pt"


@dataclass(frozen=True)
class TrainConfig:
    """How to fine-tune (epochs are per stage)."""

    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"        # adam | sgd
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    workers: int = 0
    checkpoint_dir: str | None = None
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer '{self.optimizer}' (adam or sgd)")
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs >= 0, batch size >= 1 and lr > 0 are required")


@dataclass
class EpochRecord:
    """One line of the training history; epoch 0 is right after masking."""

    stage: int
    epoch: int
    loss: float
    accuracy: float | None
    density: float


@dataclass
class History:
    records: list[EpochRecord] = field(default_factory=list)

    def after_masking(self, stage: int = 0) -> EpochRecord:
        return next(r for r in self.records if r.stage == stage and r.epoch == 0)

    @property
    def final(self) -> EpochRecord:
        return self.records[-1]


def distributed_world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless started by ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if world > 1:
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 256) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on ``dataset``."""
    model.eval()
    loss = correct = count = 0.0
    with torch.no_grad():
        for x, y in DataLoader(dataset, batch_size=batch_size):
            logits = model(x)
            loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += float((logits.argmax(1) == y).sum())
            count += len(y)
    return loss / count, correct / count


class Trainer:
    """Masks and fine-tunes ``model`` on ``train_set`` (classification, cross-entropy)."""

    def __init__(self, model: nn.Module, train_set: Dataset, config: TrainConfig,
                 val_set: Dataset | None = None):
        self.model, self.train_set, self.val_set, self.config = model, train_set, val_set, config
        self.rank, self.world = distributed_world()
        self.history = History()

    # ---------------------------------------------------------------- the schedule

    def stages(self, plan: SparsityPlan | None, mode: str) -> list[set[str] | None]:
        """Layer names each stage masks (None: every layer the plan sparsifies)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}' (one of {', '.join(MODES)})")
        if plan is None:
            return [set()]
        if mode == "one-shot":
            return [None]
        names = list(choose_masks(self.model, plan))  # the layers, in network order
        return [{name} for name in names] or [set()]

    def run(self, plan: SparsityPlan | None = None, mode: str = "one-shot") -> History:
        """Mask by ``plan`` (None: train dense) and fine-tune, stage by stage."""
        stages = self.stages(plan, mode)
        start_stage, start_epoch = self.restore()
        for stage, only in enumerate(stages):
            if stage < start_stage:
                continue
            if stage > start_stage or start_epoch == 0:
                if plan is not None and only != set():
                    apply_masks(self.model, choose_masks(self.model, plan, only))
                self.record(stage, 0, float("nan"))
                first = 1
            else:
                first = start_epoch + 1
            optimizer = self.optimizer()
            if stage == start_stage and start_epoch > 0:
                optimizer.load_state_dict(self.resumed["optimizer"])
            trained = self.wrapped()
            for epoch in range(first, self.config.epochs + 1):
                loss = self.train_epoch(trained, optimizer, stage, epoch)
                self.record(stage, epoch, loss)
                self.save(stage, epoch, optimizer)
        return self.history

    # ---------------------------------------------------------------- one epoch

    def optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum,
                                   weight_decay=c.weight_decay)
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)

    def wrapped(self) -> nn.Module:
        return DistributedDataParallel(self.model) if self.world > 1 else self.model

    def loader(self, epoch: int) -> DataLoader:
        sampler = DistributedSampler(self.train_set, num_replicas=self.world, rank=self.rank,
                                     shuffle=True, seed=self.config.seed)
        sampler.set_epoch(epoch)
        return DataLoader(self.train_set, batch_size=self.config.batch_size, sampler=sampler,
                          num_workers=self.config.workers)

    def train_epoch(self, model: nn.Module, optimizer: torch.optim.Optimizer, stage: int,
                    epoch: int) -> float:
        torch.manual_seed(self.config.seed * 1_000_003 + stage * 1009 + epoch)  # dropout
        model.train()
        batches = self.loader(stage * 100_000 + epoch)
        bar = None
        if self.config.progress and self.rank == 0:
            from tqdm import tqdm

            bar = tqdm(total=len(batches), desc=f"stage {stage} epoch {epoch}",
                       file=sys.stderr, leave=False)
        total = count = 0.0
        for x, y in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            count += len(y)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{total / count:.4f}")
        if bar is not None:
            bar.close()
        return total / max(count, 1)

    def record(self, stage: int, epoch: int, loss: float) -> None:
        accuracy = None
        if self.val_set is not None:
            _, accuracy = evaluate(self.model, self.val_set)
        density = weight_density(self.model, masks_of(self.model))
        self.history.records.append(EpochRecord(stage, epoch, loss, accuracy, density))
        if self.config.progress and self.rank == 0:
            shown = "-" if accuracy is None else f"{accuracy:.4f}"
            print(f"stage {stage} epoch {epoch}: loss {loss:.4f} accuracy {shown} "
                  f"density {density:.3f}", file=sys.stderr)

    # ---------------------------------------------------------------- checkpoints

    def checkpoint_path(self) -> Path | None:
        directory = self.config.checkpoint_dir
        return None if directory is None else Path(directory) / CHECKPOINT

    def save(self, stage: int, epoch: int, optimizer: torch.optim.Optimizer) -> None:
        path = self.checkpoint_path()
        if path is None or self.rank != 0:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        masks = {name: {"block": list(mask.block), "gamma": torch.from_numpy(mask.gamma)}
                 for name, mask in masks_of(self.model).items()}
        state = {"stage": stage, "epoch": epoch, "model": self.model.state_dict(),
                 "optimizer": optimizer.state_dict(), "masks": masks,
                 "history": [vars(r) for r in self.history.records]}
        temporary = path.with_suffix(".tmp")
        torch.save(state, temporary)
        os.replace(temporary, path)

    def restore(self) -> tuple[int, int]:
        """Load the last checkpoint when resuming: (stage, last finished epoch)."""
        self.resumed: dict = {}
        path = self.checkpoint_path()
        if not self.config.resume or path is None or not path.exists():
            return 0, 0
        state = torch.load(path, map_location="cpu", weights_only=True)
        masks = {name: LayerMask(tuple(m["block"]), m["gamma"].numpy().astype(bool))
                 for name, m in state["masks"].items()}
        apply_masks(self.model, masks)
        self.model.load_state_dict(state["model"])
        self.history.records = [EpochRecord(**r) for r in state["history"]]
        self.resumed = state
        if state["epoch"] >= self.config.epochs:  # the stage was finished: start the next
            return state["stage"] + 1, 0
        return state["stage"], state["epoch"]
