"""Run a model over studies once and keep what the downstream evaluations need."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from cxrgraph.models.batch import AlignBatch, AlignSample, collate_align

__all__ = ["StudyEmbeddings", "extract_embeddings"]


@dataclass
class StudyEmbeddings:
    """Image and report embeddings of a set of studies.

    Attributes:
        image: ``[N, D]``.
        report: ``[N, D]``.
        labels: ``[N, K]`` existence codes.
        study_ids: ``N`` ids.
        report_texts: ``N`` report texts.
        region_scores: ``[N, K, R]`` where the image graph puts each finding, when the studies
            carry ground-truth regions (``label_regions``) and the model scores regions.
        label_regions: ``[N, K, R]`` bool ground-truth regions, likewise.
        region_mask: ``[N, R]`` bool regions present in each image, likewise.
    """

    image: Tensor
    report: Tensor
    labels: Tensor
    study_ids: list[str]
    report_texts: list[str]
    region_scores: Tensor | None = None
    label_regions: Tensor | None = None
    region_mask: Tensor | None = None

    def __len__(self) -> int:
        return len(self.study_ids)


@torch.no_grad()
def extract_embeddings(
    model: torch.nn.Module,
    studies: Sequence[AlignSample] | Iterable[AlignBatch | None],
    batch_size: int = 32,
    progress: bool = False,
) -> StudyEmbeddings:
    """Embed every study with :meth:`GraphAlignModel.embed_batch <cxrgraph.models.GraphAlignModel.embed_batch>`.

    Args:
        model: A :class:`~cxrgraph.models.GraphAlignModel` (put in eval mode here).
        studies: Samples, or an iterable of collated batches (e.g. a DataLoader; ``None`` batches skipped).
        batch_size: Studies per forward pass when ``studies`` are samples.
        progress: Show a progress bar.
    """
    model.eval()
    if isinstance(studies, Sequence) and (len(studies) == 0 or isinstance(studies[0], AlignSample)):
        batches: Iterable[AlignBatch | None] = (
            collate_align(list(studies[i : i + batch_size])) for i in range(0, len(studies), batch_size)
        )
        total = -(-len(studies) // batch_size)
    else:
        batches = studies
        total = None
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=total, desc="embedding", unit="batch")
    imgs, txts, labels, ids, texts = [], [], [], [], []
    grounding: list[tuple[Tensor, Tensor, Tensor]] | None = [] if hasattr(model, "region_scores") else None
    for batch in batches:
        if batch is None:
            continue
        if grounding is not None:
            img_emb, txt_emb = model.encode_batch(batch.to(model.device))
            img, txt = img_emb.summary, txt_emb.summary
            if batch.label_regions is not None and grounding is not None:
                grounding.append(
                    (model.region_scores(img_emb).half().cpu(), batch.label_regions.cpu(), batch.present.cpu())
                )
            else:
                grounding = None  # some studies lack ground truth: no grounding for the set
        else:
            img, txt = model.embed_batch(batch)
        imgs.append(img.float().cpu())
        txts.append(txt.float().cpu())
        labels.append(batch.labels.cpu())
        ids.extend(batch.study_ids)
        texts.extend(batch.report_texts)
    if not imgs:
        raise ValueError("extract_embeddings: no study could be embedded")
    out = StudyEmbeddings(torch.cat(imgs), torch.cat(txts), torch.cat(labels), ids, texts)
    if grounding:
        out.region_scores, out.label_regions, out.region_mask = (torch.cat(x) for x in zip(*grounding))
    return out
