"""Study collections for graph alignment: phantom cohorts in memory, MIMIC-CXR + Chest ImaGenome on disk.

Each study becomes a :class:`~cxrgraph.models.AlignSample` (image, region boxes, parsed report,
labels), the input of :class:`~cxrgraph.models.GraphAlignModel`. No Lightning here: the data
module of :mod:`cxrgraph.train` and the evaluation read the same studies. Report graphs are parsed once and
kept in a :class:`~cxrgraph.datasets.GraphCache`; images are read lazily and resized to the model's
side; region boxes of a corpus are packed once into one tensor file.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from cxrgraph.models.batch import AlignBatch, AlignSample, collate_align
from cxrgraph.utils.atomic import atomic_torch_save

__all__ = [
    "AlignDataset",
    "StudyTableDataset",
    "StudyTable",
    "ShardBlockSampler",
    "SkippedStudy",
    "phantom_samples",
    "phantom_key",
    "mimic_study_table",
    "collate_skipping",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkippedStudy:
    """A study left out of a batch or an index, and why."""

    study_id: str
    reason: str


# ---------------------------------------------------------------------------- in memory
class AlignDataset(Dataset):
    """Studies held in memory (:class:`~cxrgraph.models.AlignSample` objects)."""

    def __init__(self, samples: Sequence[AlignSample]) -> None:
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, idx: int) -> AlignSample:
        return self.samples[idx]


#: Bumped when the layout of the rendered-phantom table changes.
_TABLE_FORMAT = 2


def phantom_key(num_patients: int, size: int, seed: int, studies_per_patient: tuple[int, int]) -> str:
    """Name of a rendered phantom cohort's files in a cache folder (its table and its report cache)."""
    return f"phantom-n{num_patients}-s{size}-seed{seed}-k{studies_per_patient[0]}_{studies_per_patient[1]}"


def phantom_samples(
    num_patients: int,
    size: int = 128,
    seed: int = 0,
    studies_per_patient: tuple[int, int] = (1, 3),
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> list[AlignSample]:
    """Render a phantom cohort and parse its reports (the phantom is synthetic: say so in results).

    Each sample's ``labels`` are the phantom's ground-truth existence codes, not the parsed
    ones, so evaluation measures against what was drawn; ``label_regions`` ``[K, R]`` are the
    regions where each drawn finding is (for region grounding). With ``cache_dir``, the rendered
    studies are stored once (one tensor file, written atomically) and the parsed reports in a
    :class:`~cxrgraph.datasets.GraphCache`; later calls read them back.

    Args:
        num_patients: Patients to draw (each has ``studies_per_patient`` studies).
        size: Image side in pixels.
        seed: Cohort seed.
        studies_per_patient: Inclusive ``(min, max)`` studies per patient.
        cache_dir: Optional folder for the cache.
        progress: Show progress bars.
    """
    from cxrgraph.datasets import GraphCache
    from cxrgraph.datasets.phantom import PhantomCohort
    from cxrgraph.graph.schema import FINDING
    from cxrgraph.image.io import to_image_tensor
    from cxrgraph.models.batch import located_at_codes
    from cxrgraph.ontology import get_ontology
    from cxrgraph.text import parse_report
    from cxrgraph.text.version import parser_version

    spp = (int(studies_per_patient[0]), int(studies_per_patient[1]))
    key = phantom_key(num_patients, size, seed, spp)
    table = None
    table_path = Path(cache_dir) / f"{key}.pt" if cache_dir is not None else None
    if table_path is not None and table_path.is_file():
        table = torch.load(table_path, weights_only=True)
        if table.get("format") != _TABLE_FORMAT or table.get("ontology_version") != get_ontology().version:
            table = None  # written by another cxrgraph: render again
    if table is None:
        cohort = PhantomCohort(num_patients, size=size, seed=seed, studies_per_patient=spp)
        onto = get_ontology()
        keys = ("ids", "subjects", "images", "boxes", "labels", "regions", "reports")
        rows: dict[str, list[Any]] = {k: [] for k in keys}
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=num_patients, desc="rendering phantom", unit="patient")
        for patient in cohort.patients():
            for s in patient.studies:
                rows["ids"].append(str(s.study_id))
                rows["subjects"].append(str(s.subject_id))
                rows["images"].append(torch.from_numpy(s.image.copy()))
                rows["boxes"].append(torch.from_numpy(s.boxes_normalized.astype("float32")))
                rows["labels"].append(s.graph[FINDING].existence.clone().long())
                located = located_at_codes(s.graph, onto.num_findings, onto.num_regions)[0]
                rows["regions"].append((located == 1) | (located == 2))
                rows["reports"].append(s.report)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        table = {
            "format": _TABLE_FORMAT,
            "ontology_version": get_ontology().version,
            "ids": rows["ids"],
            "subjects": rows["subjects"],
            "images": torch.stack(rows["images"]),
            "boxes": torch.stack(rows["boxes"]),
            "labels": torch.stack(rows["labels"]),
            "label_regions": torch.stack(rows["regions"]),
            "reports": rows["reports"],
        }
        if table_path is not None:
            atomic_torch_save(table, table_path)
    texts: list[str] = table["reports"]
    ids: list[str] = table["ids"]
    if cache_dir is not None:
        cache = GraphCache(Path(cache_dir) / f"{key}-reports")
        # keyed on the parser's version too: an edited parser rule parses the reports again
        source = hashlib.sha256("\n".join([*ids, parser_version()]).encode()).hexdigest()[:16]
        if not _cache_ready(cache, source):
            # a derived cache: rebuilt from the rendered texts whenever it is stale or from other inputs
            failures = cache.build(texts, parse_report, ids=ids, source_key=source, progress=progress, force=True)
            for f in failures:
                log.warning("phantom report %s could not be parsed: %s", f.id, f.reason)
        by_id = {i: k for k, i in enumerate(cache.ids)}
        graphs = [cache[by_id[i]] if i in by_id else None for i in ids]
    else:
        graphs = [parse_report(t) for t in texts]
    samples = []
    for k, g in enumerate(graphs):
        if g is None:
            continue
        boxes = table["boxes"][k]
        present = torch.isfinite(boxes).all(-1)
        image = to_image_tensor(table["images"][k], ids[k])
        samples.append(
            AlignSample(
                ids[k], image, boxes, present, g, table["labels"][k], texts[k], label_regions=table["label_regions"][k]
            )
        )
        samples[-1].subject_id = table["subjects"][k]  # type: ignore[attr-defined]
    return samples


def _cache_ready(cache: Any, source_key: str) -> bool:
    from cxrgraph.datasets.errors import StaleCacheError

    try:
        m = cache._read_manifest()  # a damaged manifest is a stale one: rebuilt below
        if m is None or not m.get("complete") or m.get("source_key") != source_key:
            return False
        cache.check(m)
    except StaleCacheError as err:
        log.info("rebuilding the phantom report cache: %s", err)
        return False
    return True


# ---------------------------------------------------------------------------- on disk
@dataclass
class StudyTable:
    """A packed index of studies on disk: one row per usable study.

    Attributes:
        study_ids: Study ids.
        image_paths: Frontal image file of each study.
        boxes: ``[N, R, 4]`` normalised boxes (NaN where absent).
        report_index: Position of each study's report graph in ``reports``.
        reports: The :class:`~cxrgraph.datasets.GraphCache` (or any indexable) of report graphs.
        labels: Optional ``[N, K]`` long evaluation labels.
        skipped: Studies left out (or kept without their unusable labels), with the reason.
    """

    study_ids: list[str]
    image_paths: list[str]
    boxes: torch.Tensor
    report_index: list[int]
    reports: Any
    labels: torch.Tensor | None = None
    skipped: list[SkippedStudy] | None = None

    def __len__(self) -> int:
        return len(self.study_ids)


class StudyTableDataset(Dataset):
    """Studies of a :class:`StudyTable`: images read lazily (resized to ``image_size``).

    An unreadable image yields ``None`` (and a warning); :func:`collate_skipping` drops it and
    the batch goes on. With ``text_features`` (a :class:`~cxrgraph.models.TextFeatureCache` over
    the table's report cache) each study carries its frozen text features.
    """

    def __init__(self, table: StudyTable, image_size: int, text_features: Any = None) -> None:
        self.table = table
        self.image_size = int(image_size)
        self.text_features = text_features

    def __len__(self) -> int:
        return len(self.table)

    def shard_of(self, idx: int) -> int:
        """The cache shard holding the report of item ``idx`` (for :class:`ShardBlockSampler`)."""
        shard_size = getattr(self.table.reports, "shard_size", None)
        index = getattr(self.table.reports, "_index", None)
        pos = self.table.report_index[idx]
        if index is not None:
            return index[pos][0]
        return pos // shard_size if shard_size else 0

    def __getitem__(self, idx: int) -> AlignSample | None:
        from cxrgraph.image.io import ImageInputError, read_image

        t = self.table
        path = t.image_paths[idx]
        try:
            image = read_image(path, size=self.image_size)
        except (ImageInputError, OSError) as err:
            log.warning("skipping study %s: %s", t.study_ids[idx], err)
            return None
        boxes = t.boxes[idx]
        report = t.reports[t.report_index[idx]]
        labels = t.labels[idx] if t.labels is not None else None
        sample = AlignSample(t.study_ids[idx], image, boxes, torch.isfinite(boxes).all(-1), report, labels)
        if self.text_features is not None:
            pos = t.report_index[idx]
            ids = getattr(t.reports, "ids", None)
            sample.text_features = self.text_features.get(pos, ids[pos] if ids is not None else None)
        return sample


def collate_skipping(samples: Sequence[AlignSample | None]) -> AlignBatch | None:
    """:func:`~cxrgraph.models.collate_align` over the samples that could be read."""
    kept = [s for s in samples if s is not None]
    if len(kept) < len(samples):
        log.warning("dropped %d unreadable studies from a batch of %d", len(samples) - len(kept), len(samples))
    return collate_align(kept) if kept else None


class ShardBlockSampler(Sampler[int]):
    """Shuffle shard by shard, so a sharded cache is read a few shards at a time.

    Each epoch the shards are put in random order and taken ``mix`` at a time; the items of
    those shards are shuffled together. Random access over a 240k-study cache would otherwise
    load a whole shard per item. The order depends only on ``seed`` and the epoch, so every DDP
    rank builds the same sequence (Lightning's distributed wrapper then strides through it).

    Args:
        shards: Shard number of every item.
        mix: Shards shuffled together.
        seed: Base seed.
    """

    def __init__(self, shards: Sequence[int], mix: int = 2, seed: int = 0) -> None:
        self.blocks: dict[int, list[int]] = {}
        for i, s in enumerate(shards):
            self.blocks.setdefault(int(s), []).append(i)
        self.mix = max(int(mix), 1)
        self.seed = int(seed)
        self.epoch = 0
        self._n = len(shards)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[int]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(self.blocks)
        rng.shuffle(order)
        for g in range(0, len(order), self.mix):
            items = [i for s in order[g : g + self.mix] for i in self.blocks[s]]
            rng.shuffle(items)
            yield from items


def mimic_study_table(
    root: str | Path,
    imagenome_root: str | Path,
    split: str | None = "train",
    cache_dir: str | Path | None = None,
    views: Sequence[str] = ("PA", "AP"),
    backend: str = "rules",
    max_studies: int | None = None,
    progress: bool = False,
) -> StudyTable:
    """Index MIMIC-CXR-JPG studies with a parsed report and Chest ImaGenome boxes for their frontal image.

    Report graphs come from :class:`~cxrgraph.datasets.MIMICCXRReportGraphs` (parsed once, cached),
    boxes from :class:`~cxrgraph.datasets.ChestImaGenome` (cached) packed into one tensor file.
    Studies without a report graph, a frontal image or a scene graph are skipped and recorded
    in :attr:`StudyTable.skipped`. Labels are the CheXpert labels when the CSV is present,
    mapped onto the ontology's findings.

    Args:
        root: MIMIC-CXR-JPG folder (metadata CSVs, ``files/``).
        imagenome_root: Chest ImaGenome folder (``silver_dataset/``).
        split: MIMIC-CXR split (``"train"``, ``"validate"``, ``"test"``) or ``None``.
        cache_dir: Where caches go (default: ``<root>/processed``).
        views: Accepted ViewPositions of the frontal image.
        backend: Report parser backend.
        max_studies: Keep at most this many studies (a quick run).
        progress: Show progress bars while caching.
    """
    from cxrgraph.datasets import ChestImaGenome, MIMICCXRReportGraphs

    kwargs: dict[str, Any] = {"progress": progress}
    if cache_dir is not None:
        kwargs["processed_root"] = Path(cache_dir)
    reports = MIMICCXRReportGraphs(root, split=split, backend=backend, **kwargs)
    scenes = ChestImaGenome(imagenome_root, split=None, **kwargs)
    box_dir = Path(cache_dir) if cache_dir is not None else Path(imagenome_root) / "processed"
    box_path = box_dir / f"boxes-{scenes.cache.directory.name}.pt"
    box_ids = scenes.ids
    boxes_by_id: dict[str, int]
    packed = torch.load(box_path, weights_only=True) if box_path.is_file() else None
    content = scenes.cache.content_key  # changes when an edited scene graph was processed again
    if packed is None or packed.get("ids") != box_ids or packed.get("content") != content:
        # one sequential pass over the cache, shard by shard
        rows = []
        for i in range(len(scenes)):
            g = scenes[i]
            b = g["anatomy"].box.float().clone()
            b[~g["anatomy"].present.bool()] = float("nan")
            rows.append(b)
        packed = {"ids": box_ids, "content": content, "boxes": torch.stack(rows) if rows else torch.empty(0, 29, 4)}
        atomic_torch_save(packed, box_path)
    boxes_by_id = {i: k for k, i in enumerate(packed["ids"])}

    wanted = {v.upper() for v in views}
    report_pos = {sid: k for k, sid in enumerate(reports.ids)}
    labels_rows = []
    ids, paths, box_rows, rindex, skipped = [], [], [], [], []
    for study in reports.index.studies:
        sid = study.study_id
        if sid not in report_pos:
            skipped.append(SkippedStudy(sid, "report could not be parsed"))
            continue
        chosen = None
        for dicom, view, path in zip(study.dicom_ids, study.view_positions, study.image_paths):
            if view.upper() in wanted and dicom in boxes_by_id:
                chosen = (dicom, path)
                break
        if chosen is None:
            skipped.append(SkippedStudy(sid, f"no {'/'.join(sorted(wanted))} image with a Chest ImaGenome scene graph"))
            continue
        ids.append(sid)
        paths.append(str(chosen[1]))
        box_rows.append(packed["boxes"][boxes_by_id[chosen[0]]])
        rindex.append(report_pos[sid])
        labels_rows.append(_labels(sid, study.chexpert, skipped))
        if max_studies is not None and len(ids) >= max_studies:
            break
    if skipped:
        log.warning(
            "%d of %d MIMIC-CXR studies skipped or kept without labels (see StudyTable.skipped)",
            len(skipped),
            len(reports.index),
        )
    labels = None
    if any(r is not None for r in labels_rows):
        from cxrgraph.ontology import get_ontology

        k = get_ontology().num_findings
        labels = torch.stack([r if r is not None else torch.full((k,), -1, dtype=torch.long) for r in labels_rows])
    return StudyTable(
        study_ids=ids,
        image_paths=paths,
        boxes=torch.stack(box_rows) if box_rows else torch.empty(0, 29, 4),
        report_index=rindex,
        reports=reports.cache,
        labels=labels,
        skipped=skipped,
    )


def _labels(
    study_id: str, chexpert: dict[str, float | None] | None, skipped: list[SkippedStudy]
) -> torch.Tensor | None:
    """A study's CheXpert labels as existence codes; unusable labels are recorded and left unknown."""
    if not chexpert:
        return None
    from cxrgraph.datasets.harmonize import labels_to_existence

    try:
        return labels_to_existence(chexpert, "chexpert14")
    except (KeyError, ValueError) as err:
        skipped.append(SkippedStudy(study_id, f"CheXpert labels not used (study kept, labels unknown): {err}"))
        return None
