"""LightningDataModule: a concatenated training set and one test loader per target domain.

Datasets and transforms arrive already built (Hydra instantiates them from
``conf/data/*.yaml``). The training loader draws batches from a stateful batch
sampler — :class:`~flexseg.flex.has.HardnessAwareSampler` when HAS is on, else
:class:`~flexseg.data.samplers.UniformBatchSampler` — whose state is saved in the
checkpoint so that a resumed run continues the same batch sequence.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from flexseg.data.samplers import UniformBatchSampler

Transform = Callable[..., dict]
log = logging.getLogger(__name__)


def call_transform(transform: Transform | None, sample: dict, generator: torch.Generator | None) -> dict:
    """Apply a sample transform, passing ``generator`` to those that accept one."""
    if transform is None:
        return sample
    if generator is not None and getattr(transform, "accepts_generator", False):
        return transform(sample, generator=generator)
    return transform(sample)


class SeededBatches:
    """Wraps a stream batch sampler so that every element is ``(index, aug_seed)``.

    The augmentation seed is a function of (seed, stream position of the batch, slot),
    so random crops/flips do not depend on worker scheduling or prefetching, and a run
    resumed from a checkpoint augments exactly as the uninterrupted one.
    """

    def __init__(self, sampler: Any, seed: int) -> None:
        self.sampler, self.seed = sampler, seed

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        base = int(self.sampler.yield_pos)
        rank = int(getattr(self.sampler, "rank", 0))
        for k, batch in enumerate(self.sampler):
            position = base + k
            first = rank * len(batch)  # slot in the global batch: DDP ranks ≡ one process
            yield [(int(i), (self.seed * 1_000_003 + position) * 4099 + first + slot) for slot, i in enumerate(batch)]


class TransformedDataset(Dataset):
    """Applies a sample-dict transform and rewrites ``index`` to ``offset + i``."""

    def __init__(self, dataset: Dataset, transform: Transform | None = None, offset: int = 0) -> None:
        self.dataset, self.transform, self.offset = dataset, transform, offset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int, aug_seed: int | None = None) -> dict:
        sample = dict(self.dataset[i])
        generator = torch.Generator().manual_seed(aug_seed % 2**63) if aug_seed is not None else None
        sample = call_transform(self.transform, sample, generator)
        sample["index"] = self.offset + int(i)
        return sample


class ConcatTrainSet(Dataset):
    """Concatenation of named datasets; sample ``index`` is the global position."""

    def __init__(self, datasets: Mapping[str, Dataset], transforms: Mapping[str, Transform | None] | None = None) -> None:
        transforms = transforms or {}
        unknown = set(transforms) - set(datasets)
        if unknown:
            raise ValueError(f"train_transforms names sets that are not in train_sets: {sorted(unknown)}")
        self.names: list[str] = []
        self.parts: list[TransformedDataset] = []
        self.offsets: list[int] = []
        offset = 0
        for name, dataset in datasets.items():
            n = len(dataset)  # type: ignore[arg-type]
            if n == 0:  # e.g. data.train_sets.generated.num_images=0 (volume ablation)
                log.info("training set %r is empty and is left out", name)
                continue
            self.names.append(name)
            self.parts.append(TransformedDataset(dataset, transforms.get(name), offset))
            self.offsets.append(offset)
            offset += n
        self.total = offset

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        i, aug_seed = item if isinstance(item, tuple) else (item, None)
        if not 0 <= i < self.total:
            raise IndexError(f"index {i} out of range for a training set of {self.total}")
        part = max(k for k, off in enumerate(self.offsets) if off <= i)
        return self.parts[part].__getitem__(i - self.offsets[part], aug_seed)

    def source_of(self, i: int) -> str:
        """Name of the training set holding global index ``i``."""
        return self.names[max(k for k, off in enumerate(self.offsets) if off <= i)]


class SegDataModule(L.LightningDataModule):
    """Training mix + per-domain evaluation sets.

    Args:
        train_sets: name → dataset, concatenated for training.
        targets: domain → dataset, one test (and optional val) loader each.
        train_transforms / target_transforms: name → sample transform (optional).
        batch_size: per-process training batch size.
        eval_batch_size: test batch size (1 when target images differ in size).
        num_workers: DataLoader workers.
        has: HAS config (``enabled``, ``schedule``, ``k``, ``midpoint``,
            ``temperature``, ``ema``); disabled or ``None`` → uniform sampling.
        seed: sampler seed.
        max_steps: training length (HAS progress is ``100·step/max_steps``);
            filled from the trainer when left ``None``.
        **settings: plain values the data config's interpolations refer to
            (image size, set sizes, misalignment); kept in ``self.settings``.
    """

    def __init__(
        self,
        train_sets: Mapping[str, Dataset] | None,
        targets: Mapping[str, Dataset],
        train_transforms: Mapping[str, Transform | None] | None = None,
        target_transforms: Mapping[str, Transform | None] | None = None,
        batch_size: int = 8,
        eval_batch_size: int = 1,
        num_workers: int = 0,
        has: Mapping[str, Any] | None = None,
        seed: int = 0,
        max_steps: int | None = None,
        pin_memory: bool = False,
        **settings: Any,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be ≥ 1, got {batch_size}")
        if eval_batch_size < 1:
            raise ValueError(f"data.eval_batch_size must be ≥ 1, got {eval_batch_size}")
        if num_workers < 0:
            raise ValueError(f"data.num_workers must be ≥ 0, got {num_workers}")
        if not targets:
            raise ValueError("data.targets is empty: name at least one evaluation domain")
        self.train_set = ConcatTrainSet(train_sets or {}, train_transforms)
        target_transforms = target_transforms or {}
        self.targets = {d: TransformedDataset(ds, target_transforms.get(d)) for d, ds in targets.items()}
        for d, ds in self.targets.items():
            if len(ds) == 0:
                raise ValueError(f"evaluation domain {d!r} has no images")
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.has_cfg = dict(has or {})
        self.seed, self.max_steps = seed, max_steps
        self.settings = dict(settings)
        self._sampler: Any = None
        self._pending_state: dict | None = None

    @property
    def domains(self) -> list[str]:
        return list(self.targets)

    @property
    def has_enabled(self) -> bool:
        return bool(self.has_cfg.get("enabled", False))

    # ------------------------------------------------------------------ sampler
    def _distributed(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            return trainer.global_rank, trainer.world_size
        return 0, 1

    @property
    def sampler(self):
        """The training batch sampler (built on first use)."""
        if self._sampler is None:
            rank, world = self._distributed()
            n = max(1, len(self.train_set))
            if self.has_enabled:
                from flexseg.flex.has import HardnessAwareSampler

                total = self.max_steps
                trainer = getattr(self, "trainer", None)
                if total is None and trainer is not None and trainer.max_steps and trainer.max_steps > 0:
                    total = trainer.max_steps
                cfg = {k: v for k, v in self.has_cfg.items() if k != "enabled"}
                self._sampler = HardnessAwareSampler(
                    n, self.batch_size, seed=self.seed, total_steps=total, rank=rank, world_size=world, **cfg
                )
            else:
                self._sampler = UniformBatchSampler(n, self.batch_size, seed=self.seed, rank=rank, world_size=world)
            if self._pending_state is not None:
                self._sampler.load_state_dict(self._pending_state)
                self._pending_state = None
        return self._sampler

    def record_losses(self, indices: torch.Tensor, losses: torch.Tensor) -> None:
        """Feed back each consumed image's mean training loss (HAS difficulty)."""
        self.sampler.update(indices.detach().cpu(), losses.detach().float().cpu())

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict(), "sampler_kind": type(self.sampler).__name__}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        kind = type(self.sampler).__name__
        if state.get("sampler_kind", kind) != kind:
            raise ValueError(
                f"checkpoint sampler is {state.get('sampler_kind')} but this run uses {kind} "
                "(flex.has.enabled differs from the checkpoint's run)"
            )
        self._pending_state = state["sampler"]
        if self._sampler is not None:
            self._sampler.load_state_dict(self._pending_state)
            self._pending_state = None

    # ------------------------------------------------------------------ loaders
    def _loader_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"num_workers": self.num_workers, "pin_memory": self.pin_memory}
        if self.num_workers > 0:
            kwargs["persistent_workers"] = True
        return kwargs

    def train_dataloader(self) -> DataLoader:
        if len(self.train_set) == 0:
            raise ValueError("no training images: data.train_sets is empty or all its sets are empty")
        # an own generator: creating the loader's iterator must not consume the global RNG
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self.train_set, batch_sampler=SeededBatches(self.sampler, self.seed), generator=generator, **self._loader_kwargs()
        )

    def _eval_loaders(self) -> list[DataLoader]:
        return [
            DataLoader(ds, batch_size=self.eval_batch_size, shuffle=False, **self._loader_kwargs())
            for ds in self.targets.values()
        ]

    def val_dataloader(self) -> list[DataLoader]:
        return self._eval_loaders()

    def test_dataloader(self) -> list[DataLoader]:
        return self._eval_loaders()
