"""``StudyPairDataset``: (prior, current) study pairs of each patient, with per-region labels."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import torch
from torch.utils.data import Dataset

from cxrgraph.graph import UNLABELLED, ClinicalGraph, StudyPair
from cxrgraph.ontology import get_ontology

__all__ = ["StudyPairDataset", "PRIOR_POLICIES", "MISSING_LABEL_POLICIES"]

log = logging.getLogger(__name__)

#: ``previous``: pair each study with the one just before it; ``all``: with every earlier study;
#: ``labelled``: with the most recent earlier study for which labels exist.
PRIOR_POLICIES = ("previous", "all", "labelled")
#: ``unlabelled``: keep a pair without labels (all regions -1); ``skip``: leave it out.
MISSING_LABEL_POLICIES = ("unlabelled", "skip")

LabelSource = Mapping[tuple[str, str], torch.Tensor] | Callable[[str, str], "torch.Tensor | None"]


def _field(study: Any, name: str) -> Any:
    return study[name] if isinstance(study, Mapping) else getattr(study, name)


class StudyPairDataset(Dataset):
    """Prior/current pairs of each patient's studies, ordered by study date and time.

    Args:
        studies: Records with ``subject_id``, ``study_id`` and ``datetime`` (objects or dicts),
            e.g. :class:`~cxrgraph.datasets.mimic_cxr.MIMICStudy`.
        graphs: ``study_id -> ClinicalGraph`` (a mapping or a function).
        labels: Per-region progression ``[29]`` for a pair, as a mapping keyed by
            ``(prior_id, current_id)`` or a function of the two ids returning ``None`` when it has
            none. ``None`` = no labels.
        prior_policy: One of :data:`PRIOR_POLICIES`.
        missing_labels: One of :data:`MISSING_LABEL_POLICIES`.
        transform: Applied to each :class:`~cxrgraph.graph.StudyPair`.

    Batch with ``DataLoader(dataset, collate_fn=cxrgraph.graph.collate_pairs)``.
    """

    def __init__(
        self,
        studies: Sequence[Any],
        graphs: Mapping[str, ClinicalGraph] | Callable[[str], ClinicalGraph],
        labels: LabelSource | None = None,
        prior_policy: str = "previous",
        missing_labels: str = "unlabelled",
        transform: Callable[[StudyPair], StudyPair] | None = None,
    ) -> None:
        if prior_policy not in PRIOR_POLICIES:
            raise ValueError(f"prior_policy must be one of {PRIOR_POLICIES}, got {prior_policy!r}")
        if missing_labels not in MISSING_LABEL_POLICIES:
            raise ValueError(f"missing_labels must be one of {MISSING_LABEL_POLICIES}, got {missing_labels!r}")
        self.graphs = graphs
        self.labels = labels
        self.transform = transform
        self.prior_policy = prior_policy
        self.missing_labels = missing_labels

        by_subject: dict[str, list[tuple[datetime, str]]] = {}
        for s in studies:
            when = _field(s, "datetime")
            if not isinstance(when, datetime):
                raise TypeError(
                    f"study {_field(s, 'study_id')}: datetime must be a datetime, got {type(when).__name__}"
                )
            by_subject.setdefault(str(_field(s, "subject_id")), []).append((when, str(_field(s, "study_id"))))
        self.pairs: list[tuple[str, str, str]] = []  # (subject, prior, current)
        self.skipped: list[tuple[str, str, str]] = []  # pairs left out for want of labels
        for subject in sorted(by_subject):
            ordered = [sid for _, sid in sorted(by_subject[subject])]
            for i in range(1, len(ordered)):
                current = ordered[i]
                earlier = ordered[:i][::-1]  # most recent first
                if prior_policy == "previous":
                    candidates = earlier[:1]
                elif prior_policy == "all":
                    candidates = earlier
                else:
                    labelled = [p for p in earlier if self._label(p, current) is not None]
                    candidates = labelled[:1] or earlier[:1]
                for prior in candidates:
                    if missing_labels == "skip" and self._label(prior, current) is None:
                        self.skipped.append((subject, prior, current))
                        continue
                    self.pairs.append((subject, prior, current))
        if self.skipped:
            log.info("StudyPairDataset: %d pairs without labels left out", len(self.skipped))

    def _label(self, prior: str, current: str) -> torch.Tensor | None:
        if self.labels is None:
            return None
        if callable(self.labels) and not isinstance(self.labels, Mapping):
            return self.labels(prior, current)
        return self.labels.get((prior, current))

    def _graph(self, study_id: str) -> ClinicalGraph:
        if callable(self.graphs) and not isinstance(self.graphs, Mapping):
            return self.graphs(study_id)
        try:
            return self.graphs[study_id]
        except KeyError as err:
            raise KeyError(f"no graph for study {study_id!r}") from err

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, idx: int) -> StudyPair:
        subject, prior, current = self.pairs[idx]
        label = self._label(prior, current)
        if label is None:
            label = torch.full((get_ontology().num_regions,), UNLABELLED, dtype=torch.long)
        pair = StudyPair(
            self._graph(prior),
            self._graph(current),
            torch.as_tensor(label, dtype=torch.long).reshape(-1),
            meta={"subject_id": subject, "prior_study_id": prior, "current_study_id": current},
        )
        return self.transform(pair) if self.transform is not None else pair

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_imagenome(cls, dataset: Sequence[ClinicalGraph], **kwargs: Any) -> StudyPairDataset:
        """Pairs from Chest ImaGenome graphs (:class:`~cxrgraph.datasets.imagenome.ChestImaGenome`).

        Labels come from the current scene graph's comparison relations, which compare it with
        the previous exam: a pair gets them when that exam is its prior.
        """
        graphs: dict[str, ClinicalGraph] = {}
        studies = []
        for graph in dataset:
            sid = str(graph.study_id)
            if sid in graphs:
                continue  # one frontal scene graph per study
            graphs[sid] = graph
            studies.append(
                {
                    "subject_id": graph.subject_id,
                    "study_id": sid,
                    "datetime": datetime.fromisoformat(graph.study_datetime),
                }
            )
        by_image = {str(g.image_id): sid for sid, g in graphs.items()}

        def labels(prior: str, current: str) -> torch.Tensor | None:
            g = graphs[current]
            if by_image.get(str(g.previous_image_id)) != prior:
                return None
            progression = g.progression.reshape(-1)
            return progression if (progression != UNLABELLED).any() else None

        return cls(studies, graphs, labels, **kwargs)

    @classmethod
    def from_ms_cxr_t(
        cls,
        ms_cxr_t: Any,
        studies: Sequence[Any],
        graphs: Mapping[str, ClinicalGraph] | Callable[[str], ClinicalGraph],
        **kwargs: Any,
    ) -> StudyPairDataset:
        """Pairs labelled with MS-CXR-T finding-level progression spread over regions."""
        table = {(str(p.previous_study_id), str(p.study_id)): p.region_labels() for p in ms_cxr_t.pairs}
        kwargs.setdefault("prior_policy", "labelled")
        return cls(studies, graphs, table, **kwargs)
