"""LightningDataModule: a concatenated training set and one test loader per target domain.

Datasets and transforms arrive already built (Hydra instantiates them from
``conf/data/*.yaml``). The training loader draws batches from a stateful batch
sampler — :class:`~flexseg.flex.has.HardnessAwareSampler` when HAS is on, else
:class:`~flexseg.data.samplers.UniformBatchSampler`, both
:class:`~flexseg.data.samplers.LossFeedbackSampler` — whose state is saved in the
checkpoint so that a resumed run continues the same batch sequence. The per-image losses
come back from the training step through :class:`~flexseg.data.feedback.SamplerFeedback`
(docs/has.md, "The feedback loop").

**Rare-class sampling** (``rcs``, :mod:`flexseg.data.rcs`; the reference's ``DGDataset``):
the batch sampler draws global indices over the concatenated sets as always; every index
that falls in the RCS set (GTA) and was drawn *uniformly* is replaced by a rare-class draw
(a file of that set + the class it was drawn for, whose crop is then re-drawn until it
holds the class). With uniform sampling this is the reference exactly: each batch slot is
a GTA slot with probability |GTA| / (|GTA| + |generated|) and a GTA slot is filled by
RCS, a generated slot by a uniform generated image. With HAS, its hard (difficulty-
weighted) draws are kept as drawn — HAS picks those images — and its uniform draws get
RCS in the GTA range, so RCS is HAS's uniform branch. RCS draws are keyed by (seed,
stream position, slot): exact resume and DDP need no extra state (docs/data_protocol.md).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from flexseg.data.samplers import (
    LossFeedbackSampler,
    StreamBatchSampler,
    UniformBatchSampler,
    feed_back,
    missing_members,
)

if TYPE_CHECKING:
    from flexseg.data.rcs import RareClassSampler

Transform = Callable[..., dict]
#: per-sample crop hints (rare-class class and threshold), dropped after the transform
CROP_HINTS = ("sampled_class", "min_class_pixels")
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
    resumed from a checkpoint augments exactly as the uninterrupted one. With ``rcs``,
    the uniform draws (those ``sampler.hard_mask`` does not mark hard) that fall in the
    RCS set become ``(index, aug_seed, crop hints)`` rare-class draws.

    Args:
        sampler: the stream (:class:`~flexseg.data.samplers.StreamBatchSampler`).
        seed: run seed.
        rcs: rare-class sampling of one training set, or None.

    Example:
        >>> batches = list(SeededBatches(UniformBatchSampler(4, 2, seed=0), seed=1))
        >>> [[i for i, _ in b] for b in batches], batches[0][0][1] == (1 * 1_000_003 + 0) * 4099 + 0
        ([[0, 1], [3, 2]], True)
    """

    def __init__(self, sampler: StreamBatchSampler, seed: int, rcs: RCSRange | None = None) -> None:
        if not isinstance(sampler, StreamBatchSampler):
            raise TypeError(f"{type(sampler).__name__} is not a StreamBatchSampler (flexseg.data.samplers): it lacks "
                            f"{', '.join(missing_members(sampler, StreamBatchSampler))}")
        self.sampler, self.seed, self.rcs = sampler, seed, rcs

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        base = int(self.sampler.yield_pos)
        rank = int(self.sampler.rank)
        for k, batch in enumerate(self.sampler):
            position = base + k
            first = rank * len(batch)  # slot in the global batch: DDP ranks ≡ one process
            items = [(int(i), (self.seed * 1_000_003 + position) * 4099 + first + slot) for slot, i in enumerate(batch)]
            if self.rcs is not None:
                hard = self.sampler.hard_mask(position)
                items = [self.rcs.apply(i, seed, position, first + slot, bool(hard and hard[first + slot]))
                         for slot, (i, seed) in enumerate(items)]
            yield items


class RCSRange:
    """Rare-class sampling of the training set occupying global indices [offset, offset + size)."""

    def __init__(self, sampler: RareClassSampler, offset: int, size: int) -> None:
        self.sampler, self.offset, self.size = sampler, offset, size

    def apply(self, index: int, aug_seed: int, position: int, slot: int, hard: bool) -> tuple:
        """``(index, aug_seed)`` unchanged for other sets and hard draws, else the RCS draw
        ``(offset + file, aug_seed, {"sampled_class", "min_class_pixels"})``."""
        if hard or not self.offset <= index < self.offset + self.size:
            return index, aug_seed
        file, c = self.sampler.draw(position, slot)
        return self.offset + file, aug_seed, {"sampled_class": c, "min_class_pixels": self.sampler.crop_min_pixels}


def collate(samples: list[dict]) -> dict:
    """``default_collate``, with an error naming the images when their sizes differ."""
    try:
        return default_collate(samples)
    except RuntimeError as e:
        sizes = {tuple(s["image"].shape[-2:]) for s in samples if hasattr(s.get("image"), "shape")}
        if len(sizes) <= 1:
            raise
        detail = ", ".join(f"{s.get('path', s.get('index'))} {tuple(s['image'].shape[-2:])}" for s in samples)
        raise RuntimeError(
            f"a training batch mixes image sizes ({detail}); the training transforms must give every set "
            "the same output size (data.train_transforms: crop or resize to one size)") from e


class TransformedDataset(Dataset):
    """Applies a sample-dict transform and rewrites ``index`` to ``offset + i``."""

    def __init__(self, dataset: Dataset, transform: Transform | None = None, offset: int = 0) -> None:
        self.dataset, self.transform, self.offset = dataset, transform, offset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int, aug_seed: int | None = None, extra: Mapping[str, Any] | None = None) -> dict:
        sample = dict(self.dataset[i])
        if extra:
            sample.update({k: v for k, v in extra.items() if v is not None})
        generator = torch.Generator().manual_seed(aug_seed % 2**63) if aug_seed is not None else None
        sample = call_transform(self.transform, sample, generator)
        for key in CROP_HINTS:  # consumed by the transform; absent from other sets' samples (collate)
            sample.pop(key, None)
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

    def __getitem__(self, item: int | tuple) -> dict:
        """``i``, ``(i, aug_seed)`` or ``(i, aug_seed, extra)`` (extra keys go into the sample)."""
        i, aug_seed, extra = (tuple(item) + (None,))[:3] if isinstance(item, tuple) else (item, None, None)
        if not 0 <= i < self.total:
            raise IndexError(f"index {i} out of range for a training set of {self.total}")
        part = max(k for k, off in enumerate(self.offsets) if off <= i)
        return self.parts[part].__getitem__(i - self.offsets[part], aug_seed, extra)

    def source_of(self, i: int) -> str:
        """Name of the training set holding global index ``i``."""
        return self.names[max(k for k, off in enumerate(self.offsets) if off <= i)]

    def part(self, name: str) -> tuple[Dataset, int]:
        """(dataset, global offset) of the training set ``name``."""
        if name not in self.names:
            raise ValueError(f"training set {name!r} is not in data.train_sets (have: {self.names})")
        k = self.names.index(name)
        return self.parts[k].dataset, self.offsets[k]

    def output_sizes(self) -> dict[str, tuple[int, int] | None]:
        """Per set: the (H, W) its transform gives its first image; None when unknown/random."""
        out: dict[str, tuple[int, int] | None] = {}
        for name, part in zip(self.names, self.parts):
            hw = first_image_size(part.dataset)
            size_fn = getattr(part.transform, "output_size", None)
            if part.transform is None:
                out[name] = hw
            elif hw is None or size_fn is None:
                out[name] = None
            else:
                out[name] = size_fn(*hw)
        return out


def first_image_size(dataset: Dataset) -> tuple[int, int] | None:
    """(H, W) of a dataset's first image, read from the file header (no decoding), or from
    ``height``/``width`` attributes; None when neither is available."""
    paths = getattr(dataset, "image_paths", None)
    if paths:
        from flexseg.data.datasets.base import image_size

        w, h = image_size(paths[0])
        return int(h), int(w)
    h, w = getattr(dataset, "height", None), getattr(dataset, "width", None)
    return (int(h), int(w)) if isinstance(h, int) and isinstance(w, int) else None



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
        rcs: rare-class sampling (``enabled``, ``set`` = the training set it covers,
            ``stats_file``, ``temperature``, ``min_pixels``, ``min_crop_ratio``); see the
            module docstring; disabled or ``None`` → off.
        val_fraction / val_files: hold out that share (or those image names) of the
            training set ``val_set`` (default: the first) for source-domain validation
            (:mod:`flexseg.data.holdout`, split by ``val_seed``); the held-out domain
            ``<set>_val`` is what ``val_dataloader`` serves. 0 / None = off (the
            validation loaders are then the targets', as before).
        val_transform: transform of the held-out images (None = native size).
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
        rcs: Mapping[str, Any] | None = None,
        val_fraction: float = 0.0,
        val_files: Sequence[str] | None = None,
        val_set: str | None = None,
        val_seed: int = 0,
        val_transform: Transform | None = None,
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
        train_sets, self.heldout = self._hold_out(dict(train_sets or {}), val_fraction, val_files, val_set,
                                                  val_seed, val_transform)
        self.train_set = ConcatTrainSet(train_sets, train_transforms)
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
        self._sampler: LossFeedbackSampler | None = None
        self._pending_state: dict | None = None
        self.check_batch_sizes()
        self.rcs_cfg = dict(rcs or {})
        self.rcs: RCSRange | None = self._build_rcs() if self.rcs_cfg.get("enabled", False) else None

    @staticmethod
    def _hold_out(train_sets: dict[str, Dataset], fraction: float, files: Sequence[str] | None, name: str | None,
                  seed: int, transform: Transform | None) -> tuple[dict[str, Dataset], dict[str, TransformedDataset]]:
        """(training sets with ``name`` reduced to its training part, {``<name>_val``: held-out part})."""
        if not fraction and not files:
            return train_sets, {}
        from flexseg.data.holdout import split_holdout

        if not train_sets:
            raise ValueError("data.val_fraction / data.val_files: there is no training set to hold images out of")
        name = name or next(iter(train_sets))
        if name not in train_sets:
            raise ValueError(f"data.val_set={name!r} is not in data.train_sets (have: {list(train_sets)})")
        train_sets[name], held = split_holdout(train_sets[name], float(fraction), int(seed), files, name)
        log.info("source-domain validation: %d of %r's images held out as %r", len(held), name, f"{name}_val")
        return train_sets, {f"{name}_val": TransformedDataset(held, transform)}

    def check_batch_sizes(self) -> None:
        """Refuse, before training, a mix whose sets' transforms give different image sizes."""
        if self.batch_size < 2 or len(self.train_set.names) < 2:
            return
        sizes = {name: hw for name, hw in self.train_set.output_sizes().items() if hw is not None}
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{name}: {hw[0]}×{hw[1]} (H×W)" for name, hw in sizes.items())
            raise ValueError(
                f"the training sets' transforms give different image sizes ({detail}), so a batch mixing them "
                "cannot be stacked; make data.train_transforms produce one size (e.g. crop_size of the source "
                "transform = resize of the generated transform: HRDA resizes generated images to 1024×1024)")

    def _build_rcs(self) -> RCSRange:
        from flexseg.data.datasets.gta import frame_key
        from flexseg.data.rcs import STATS_FILE, RareClassSampler, read_class_stats

        cfg = self.rcs_cfg
        name = cfg.get("set", "gta")
        dataset, offset = self.train_set.part(name)
        paths = getattr(dataset, "image_paths", None)
        if paths is None:
            raise ValueError(f"data.rcs.set={name!r}: rare-class sampling needs a file dataset (with image_paths)")
        stats_file = cfg.get("stats_file")
        if not stats_file:
            stats_file = Path(paths[0]).parent.parent / STATS_FILE
        stats = read_class_stats(stats_file)
        keys = [frame_key(Path(p).name) for p in paths]
        missing = [k for k in keys if k not in stats]
        if missing:
            raise ValueError(
                f"{stats_file} has no class statistics for {len(missing)} of the {len(keys)} {name} files (e.g. "
                f"{', '.join(missing[:5])}); recompute them: python -m flexseg.data.prepare gta --root "
                f"{Path(stats_file).parent} --stats")
        sampler = RareClassSampler([stats[k] for k in keys], temperature=float(cfg.get("temperature", 0.01)),
                                   min_pixels=int(cfg.get("min_pixels", 3000)),
                                   min_crop_ratio=float(cfg.get("min_crop_ratio", 0.5)), seed=self.seed)
        log.info("rare-class sampling on %r: classes %s, p %s", name, sampler.classes,
                 [round(p, 4) for p in sampler.probs.tolist()])
        return RCSRange(sampler, offset, len(dataset))  # type: ignore[arg-type]

    @property
    def domains(self) -> list[str]:
        return list(self.targets)

    @property
    def val_domains(self) -> list[str]:
        """Domains of ``val_dataloader``: the held-out split when there is one, else the targets."""
        return list(self.heldout) if self.heldout else self.domains

    @property
    def has_enabled(self) -> bool:
        return bool(self.has_cfg.get("enabled", False))

    # ------------------------------------------------------------------ sampler
    def _distributed(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            return trainer.global_rank, trainer.world_size
        return 0, 1

    def setup(self, stage: str) -> None:
        """Before fitting under a trainer: make sure it has exactly one
        :class:`~flexseg.data.feedback.SamplerFeedback` (:func:`flexseg.build.build_trainer`
        adds it; a trainer built otherwise gets one here, first in its callbacks; two raise),
        so the sampler's feedback, and exact resume, cannot be lost."""
        trainer = getattr(self, "trainer", None)
        if stage == "fit" and trainer is not None:
            from flexseg.data.feedback import ensure_feedback

            if ensure_feedback(trainer.callbacks):
                log.info("added flexseg.data.feedback.SamplerFeedback to the trainer's callbacks (HAS loss feedback)")

    @property
    def sampler(self) -> LossFeedbackSampler:
        """The training batch sampler (built on first use): :class:`~flexseg.flex.has.HardnessAwareSampler`
        with ``has.enabled``, else :class:`~flexseg.data.samplers.UniformBatchSampler`; over the whole
        concatenated training set (at least 1), ``batch_size`` per rank, this rank's slice of the
        trainer's world (0 of 1 without a trainer), HAS progress over ``max_steps`` (else the
        trainer's ``max_steps``). A state given to :meth:`load_state_dict` before is restored."""
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
        """Feed back each consumed image's mean training loss (HAS difficulty); what
        :class:`~flexseg.data.feedback.SamplerFeedback` does once per training step."""
        feed_back(self.sampler, indices, losses)

    def state_dict(self) -> dict[str, Any]:
        state = {"sampler": self.sampler.state_dict(), "sampler_kind": type(self.sampler).__name__}
        if self.rcs is not None:
            state["rcs"] = self.rcs.sampler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state.get("rcs") is not None) != (self.rcs is not None):
            raise ValueError("data.rcs.enabled differs from the checkpoint's run")
        if self.rcs is not None:
            self.rcs.sampler.load_state_dict(state["rcs"])
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
            self.train_set, batch_sampler=SeededBatches(self.sampler, self.seed, self.rcs), generator=generator,
            collate_fn=collate, **self._loader_kwargs()
        )

    def _eval_loaders(self) -> list[DataLoader]:
        return [
            DataLoader(ds, batch_size=self.eval_batch_size, shuffle=False, **self._loader_kwargs())
            for ds in self.targets.values()
        ]

    def val_dataloader(self) -> list[DataLoader]:
        if self.heldout:
            return [DataLoader(ds, batch_size=self.eval_batch_size, shuffle=False, **self._loader_kwargs())
                    for ds in self.heldout.values()]
        return self._eval_loaders()

    def test_dataloader(self) -> list[DataLoader]:
        return self._eval_loaders()
