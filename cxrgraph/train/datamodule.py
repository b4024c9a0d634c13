"""``GraphAlignDataModule``: phantom studies or MIMIC-CXR + Chest ImaGenome for graph-alignment pretraining."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset

from cxrgraph.datasets.splits import split_by_subject
from cxrgraph.datasets.studies import (
    AlignDataset,
    ShardBlockSampler,
    StudyTableDataset,
    collate_skipping,
    mimic_study_table,
    phantom_key,
    phantom_samples,
)
from cxrgraph.models.batch import AlignSample

__all__ = ["GraphAlignDataModule", "SOURCES"]

log = logging.getLogger(__name__)

#: Data sources: the phantom rendered in memory, or a MIMIC-CXR-JPG + Chest ImaGenome tree on
#: disk (the real data, or a phantom written by ``cxrgraph phantom --out DIR``).
SOURCES = ("phantom", "mimic")
_MIMIC_SPLITS = {"train": "train", "val": "validate", "test": "test"}


class GraphAlignDataModule(L.LightningDataModule):
    """Train / val / test studies (image, region boxes, parsed report) for :class:`GraphAlignPretrainer`.

    Args:
        source: ``"phantom"`` (rendered in memory, split by patient) or ``"mimic"`` (a
            MIMIC-CXR-JPG tree at ``root`` with Chest ImaGenome at ``imagenome_root``; official
            splits; a phantom tree written by ``cxrgraph phantom`` has the same layout).
        image_size: Side images are resized to (use the model's ``image_size``).
        batch_size: Studies per batch and device.
        num_workers: DataLoader workers.
        cache_dir: Folder for parsed-report caches and packed tables (strongly advised for
            ``"mimic"``: parsing 240k reports takes a while and happens once).
        num_patients: Phantom patients.
        phantom_size: Rendered phantom side (default ``image_size``).
        seed: Phantom cohort seed and split salt.
        studies_per_patient: Phantom ``(min, max)`` studies per patient.
        val_fraction: Phantom patients held out for validation.
        test_fraction: Phantom patients held out for testing.
        root: MIMIC-CXR-JPG folder (``source="mimic"``).
        imagenome_root: Chest ImaGenome folder (default: ``root``).
        views: Frontal views accepted.
        backend: Report parser backend.
        max_studies: Keep at most this many studies per split (quick runs).
        shard_mix: Cache shards shuffled together by :class:`ShardBlockSampler` (``"mimic"``).
        pin_memory: Pin host memory (GPU runs).
        persistent_workers: Keep workers alive between epochs.
        progress: Progress bars while caching.
        samples: Studies given directly, ``{"train": [...], "val": [...], "test": [...]}``
            (overrides ``source``; not for YAML).
    """

    def __init__(
        self,
        source: str = "phantom",
        image_size: int = 224,
        batch_size: int = 16,
        num_workers: int = 0,
        cache_dir: str | None = None,
        num_patients: int = 64,
        phantom_size: int | None = None,
        seed: int = 0,
        studies_per_patient: Sequence[int] = (1, 3),
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        root: str | None = None,
        imagenome_root: str | None = None,
        views: Sequence[str] = ("PA", "AP"),
        backend: str = "rules",
        max_studies: int | None = None,
        shard_mix: int = 2,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        progress: bool = False,
        samples: dict[str, list[AlignSample]] | None = None,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise ValueError(f"source: expected one of {list(SOURCES)}, got {source!r}")
        if samples is None and source == "mimic" and root is None:
            raise ValueError("source='mimic' needs root= (the MIMIC-CXR-JPG folder)")
        if batch_size < 2:
            raise ValueError(f"batch_size: contrastive losses need at least 2 studies per batch, got {batch_size}")
        self.source = source
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.cache_dir = cache_dir
        self.num_patients = int(num_patients)
        self.phantom_size = int(phantom_size or image_size)
        self.seed = int(seed)
        self.studies_per_patient = (int(studies_per_patient[0]), int(studies_per_patient[1]))
        self.fractions = (float(val_fraction), float(test_fraction))
        self.root = root
        self.imagenome_root = imagenome_root or root
        self.views = tuple(views)
        self.backend = backend
        self.max_studies = max_studies
        self.shard_mix = int(shard_mix)
        self.pin_memory = bool(pin_memory)
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.progress = bool(progress)
        self._given = samples
        self.datasets: dict[str, Dataset] = {}

    # ------------------------------------------------------------------ building
    def prepare_data(self) -> None:
        """Build the on-disk caches once (rank 0); :meth:`setup` then only reads them."""
        if self._given is not None or self.cache_dir is None:
            return
        if self.source == "phantom":
            self._phantom()
        else:
            for split in _MIMIC_SPLITS.values():
                try:
                    self._table(split)
                except ValueError as err:  # a tree without a split file still trains on "train"
                    log.info("split %s not prepared: %s", split, err)

    def _phantom(self) -> list[AlignSample]:
        return phantom_samples(
            self.num_patients,
            self.phantom_size,
            self.seed,
            self.studies_per_patient,
            cache_dir=self.cache_dir,
            progress=self.progress,
        )

    def _table(self, split: str):
        return mimic_study_table(
            self.root,
            self.imagenome_root,
            split=split,
            cache_dir=self.cache_dir,
            views=self.views,
            backend=self.backend,
            max_studies=self.max_studies,
            progress=self.progress,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        if self._given is not None:
            for split, items in self._given.items():
                self.datasets[split] = AlignDataset(self._resized(items))
            return
        if self.source == "phantom":
            samples = self._phantom()
            subjects = [getattr(s, "subject_id", s.study_id) for s in samples]
            splits = split_by_subject(subjects, self.fractions, self.seed)
            resized = self._resized(samples)
            for name in ("train", "val", "test"):
                self.datasets[name] = AlignDataset([s for s, sp in zip(resized, splits) if sp == name])
            sizes = {k: len(v) for k, v in self.datasets.items()}
            log.info("phantom studies per split: %s (synthetic data)", sizes)
            return
        for name, split in _MIMIC_SPLITS.items():
            if stage == "fit" and name == "test":
                continue
            table = self._table(split)
            self.datasets[name] = StudyTableDataset(table, self.image_size)

    def _resized(self, samples: list[AlignSample]) -> list[AlignSample]:
        from dataclasses import replace

        from cxrgraph.image.io import resize_image

        out = []
        for s in samples:
            if s.image.shape[-1] != self.image_size or s.image.shape[-2] != self.image_size:
                s = replace(s, image=resize_image(s.image.float(), self.image_size))
            out.append(s)
        return out

    # ------------------------------------------------------------------ loaders
    def loader(self, split: str, train: bool = False) -> DataLoader:
        """A loader of one split: shuffled, whole batches when ``train``, in order otherwise (e.g. to embed the
        training studies for a linear probe)."""
        if split not in self.datasets:
            self.setup("fit" if split != "test" else "test")
        ds = self.datasets.get(split)
        if ds is None or len(ds) == 0:
            raise ValueError(f"the {split!r} split has no studies (source={self.source!r})")
        kwargs: dict[str, Any] = {
            "batch_size": self.batch_size,
            "num_workers": self.num_workers,
            "collate_fn": collate_skipping,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.persistent_workers,
        }
        if train:
            if len(ds) < self.batch_size:
                raise ValueError(f"the train split has {len(ds)} studies, fewer than batch_size={self.batch_size}")
            kwargs["drop_last"] = True  # a last batch of one study has no negatives
            if isinstance(ds, StudyTableDataset):
                kwargs["sampler"] = ShardBlockSampler(
                    [ds.shard_of(i) for i in range(len(ds))], self.shard_mix, self.seed
                )
            else:
                kwargs["shuffle"] = True
        return DataLoader(ds, **kwargs)

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader("test", train=False)

    def predict_dataloader(self) -> DataLoader:
        return self.loader("test", train=False)

    # ------------------------------------------------------------------ text features
    def text_feature_root(self) -> Path | None:
        """Where the frozen text features of the in-memory studies are stored (beside their report cache)."""
        if self._given is not None or self.cache_dir is None or self.source != "phantom":
            return None
        key = phantom_key(self.num_patients, self.phantom_size, self.seed, self.studies_per_patient)
        return Path(self.cache_dir) / f"{key}-reports" / "text-features"

    def attach_text_features(self, encoder: Any, progress: bool | None = None) -> None:
        """Give every study the frozen text features of ``encoder`` (computed once, then read from disk).

        In-memory studies without this encoder's features get ``text_features`` set; on-disk studies (:class:`StudyTableDataset`)
        read theirs per item from a :class:`~cxrgraph.models.TextFeatureCache` stored beside
        their report graph cache.
        """
        from cxrgraph.models.text_cache import (
            TextFeatureCache,
            attach_text_features,
            encode_report_features,
            text_feature_key,
        )

        if not self.datasets:
            self.setup()
        progress = self.progress if progress is None else progress
        # studies that already carry this encoder's features keep them
        key = text_feature_key(encoder, self.backend)
        in_memory = [
            s
            for ds in self.datasets.values()
            if isinstance(ds, AlignDataset)
            for s in ds.samples
            if s.text_features is None or s.text_features.key != key
        ]
        if in_memory:
            attach_text_features(in_memory, encoder, self.text_feature_root(), self.backend, progress=progress)
        for ds in self.datasets.values():
            if isinstance(ds, StudyTableDataset):
                reports = ds.table.reports
                root = Path(getattr(reports, "directory", self.cache_dir or ".")) / "text-features"
                cache = TextFeatureCache.for_encoder(root, encoder, self.backend)
                cache.build(reports, list(reports.ids), lambda chunk: encode_report_features(encoder, chunk), progress)
                ds.text_features = cache

    def __repr__(self) -> str:
        sizes = {k: len(v) for k, v in self.datasets.items()}
        return f"{type(self).__name__}(source={self.source!r}, batch_size={self.batch_size}, splits={sizes or 'not set up'})"
