"""The feature cache of a frozen backbone: region features (and crops) computed once per study."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor

from cxrgraph.ontology import get_ontology
from cxrgraph.temporal.batch import TemporalSample
from cxrgraph.temporal.model import ProgressionModel

__all__ = ["attach_region_features"]


def attach_region_features(
    model: ProgressionModel, samples: Sequence[TemporalSample], batch_size: int = 64
) -> list[TemporalSample]:
    """Copies of ``samples`` carrying the model's frozen-backbone region features.

    With ``freeze_backbone=True`` the backbone's output never changes during training, so it is
    computed once per image here and training runs on the features (much cheaper on a CPU).
    A model with a region comparator also gets each study's registered region crops (float16),
    which the comparator reads while it trains. A study that is the current image of one pair
    and the prior of the next (same pixels, same boxes) is encoded once.
    """
    if not samples:
        return []
    num_r = get_ontology().num_regions

    def boxes(graph) -> Tensor:
        return torch.nan_to_num(graph["anatomy"].box.float()).view(num_r, 4)

    index: dict[bytes, int] = {}
    images: list[Tensor] = []
    study_boxes: list[Tensor] = []

    def study(image: Tensor, box: Tensor) -> int:
        raw = image.detach().cpu().contiguous().numpy().tobytes() + box.cpu().numpy().tobytes()
        key = hashlib.blake2b(raw, digest_size=16).digest()
        if key not in index:
            index[key] = len(images)
            images.append(image)
            study_boxes.append(box)
        return index[key]

    cur = [study(s.current_image, boxes(s.pair.current)) for s in samples]
    pri = [None if s.prior_image is None else study(s.prior_image, boxes(s.pair.prior)) for s in samples]
    feats, crops = model.encode_studies(torch.stack(images), torch.stack(study_boxes), batch_size, model.compares)
    return [
        replace(
            s,
            current_features=feats[c],
            prior_features=None if p is None else feats[p],
            current_crops=None if crops is None else crops[c],
            prior_crops=None if crops is None or p is None else crops[p],
        )
        for s, c, p in zip(samples, cur, pri)
    ]
