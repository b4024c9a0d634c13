"""Every loss on top of the real encoders: the gradient is finite and reaches both of them."""

import os

import pytest
import torch

from cxrgraph.align import (
    CascadingAlignment,
    GlobalInfoNCELoss,
    ImageTagLoss,
    PatchCorrelationLoss,
    PathologyAlignment,
    RegionSentenceAlignment,
    SoftLabelContrastiveLoss,
)
from cxrgraph.graph import ClinicalGraph
from cxrgraph.nn import ImageGraphEncoder, TextGraphEncoder, TextGraphInputs, graph_targets

D = 32
REPORTS = [
    (["Left pleural effusion.", "Heart size is normal."], [[14], [24]], [(0, 5, 21, "pleural effusion")]),
    (["Right lower lobe consolidation."], [[3]], [(0, 17, 30, "consolidation")]),
    (
        ["Left pleural effusion is unchanged.", "No pneumothorax."],
        [[14], []],
        [(0, 5, 21, "pleural effusion"), (1, 3, 15, "pneumothorax")],
    ),
    (["Enlarged cardiac silhouette."], [[24]], [(0, 0, 28, "enlarged cardiac silhouette")]),
]
TRIPLETS = [
    [("left costophrenic angle", "pleural effusion")],
    [("right lower lung zone", "consolidation")],
    [("left costophrenic angle", "pleural effusion"), (None, "pneumothorax", "absent")],
    [("cardiac silhouette", "enlarged cardiac silhouette")],
]


@pytest.fixture(scope="module")
def setup():
    from torch_geometric.loader import DataLoader

    from cxrgraph.ontology import get_ontology

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    onto = get_ontology()
    torch.manual_seed(0)
    text_encoder = TextGraphEncoder(out_channels=D)
    image_encoder = ImageGraphEncoder(16, 16, D)
    batch = next(iter(DataLoader([ClinicalGraph.from_triplets(t) for t in TRIPLETS], batch_size=4)))
    targets = graph_targets(batch)
    inputs = TextGraphInputs.build(
        [r[0] for r in REPORTS],
        [r[1] for r in REPORTS],
        [[(s, a, b, onto.finding_index(f)) for s, a, b, f in r[2]] for r in REPORTS],
        targets["existence"],
    )
    return text_encoder, image_encoder, inputs, targets


def _loss(name: str, image, text, targets) -> torch.Tensor:
    torch.manual_seed(1)
    if name == "global":
        return GlobalInfoNCELoss()(image.summary, text.summary)
    if name == "cascade":
        return CascadingAlignment(D)(image, text, targets["located_at"]).loss
    if name == "region_sentence":
        return RegionSentenceAlignment()(image.anatomy, text.tokens, text.token_region_mask, text.token_mask)
    if name == "tags":
        return ImageTagLoss()(image.finding_logits, targets["existence"]) + SoftLabelContrastiveLoss()(
            image.summary, text.summary, targets["located_at"]
        )
    if name == "pathology":
        return PathologyAlignment(D)(image.tokens, text.finding, text.finding_mask)
    return PatchCorrelationLoss(D, 9, detach_target=False)(image.tokens, text.tokens, text.token_mask)


@pytest.mark.parametrize("name", ["global", "cascade", "region_sentence", "tags", "pathology", "patch_correlation"])
def test_gradient_reaches_both_encoders(setup, name):
    text_encoder, image_encoder, inputs, targets = setup
    text_encoder.zero_grad(set_to_none=True)
    image_encoder.zero_grad(set_to_none=True)
    g = torch.Generator().manual_seed(0)
    image = image_encoder(torch.randn(4, 29, 16, generator=g), torch.randn(4, 16, 3, 3, generator=g))
    text = text_encoder.encode(inputs)
    loss = _loss(name, image, text, targets)
    assert torch.isfinite(loss)
    loss.backward()
    text_grad = text_encoder.backbone.encoder.layer[0].attention.self.query.weight.grad
    assert text_grad is not None and torch.isfinite(text_grad).all() and text_grad.abs().sum() > 0
    image_grads = [p.grad for p in image_encoder.parameters() if p.grad is not None]
    assert image_grads and all(torch.isfinite(gr).all() for gr in image_grads)
    assert sum(float(gr.abs().sum()) for gr in image_grads) > 0
