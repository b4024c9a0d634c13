import pytest
import torch

from cxrgraph.graph import StudyPair
from cxrgraph.ontology import get_ontology
from cxrgraph.temporal import (
    TemporalSample,
    collate_temporal,
    comparison_sentences,
    progression_against_empty,
)
from cxrgraph.text import parse_report

from .synthetic import make_graph, make_sample

ONTO = get_ontology()


def test_collate_shapes_masks_and_guidance():
    s = [make_sample(0), make_sample(1, guidance={}), make_sample(2, prior=False)]
    b = collate_temporal(s)
    r = ONTO.num_regions
    assert b.batch_size == 3
    assert b.current_image.shape == (3, 1, 64, 64) and b.prior_image.shape == (3, 1, 64, 64)
    assert b.has_prior.tolist() == [True, True, False]
    assert torch.all(b.prior_image[2] == 0)
    assert b.change.shape == (3, r) and b.mask.dtype == torch.bool
    assert b.mask.sum(1).tolist() == [2, 2, 2]
    assert b.current_boxes.shape == (3, r, 4) and b.current_present.all()
    # the same sentence in two samples is stored once
    lz = ONTO.region_index("left lower lung zone")
    assert b.guidance_text == ["The left basilar opacity has worsened."]
    assert b.guidance_index[:, lz].tolist() == [0, -1, 0]
    assert (b.guidance_index >= 0).sum() == 2
    # the PyG batches hold every graph
    assert b.prior.num_graphs == 3 and b.current["anatomy"].num_nodes == 3 * r


def test_collate_bare_pairs_gives_graph_only_batch():
    pair = StudyPair(make_graph(), make_graph(), torch.full((ONTO.num_regions,), -1))
    b = collate_temporal([pair, pair])
    assert b.current_image is None and not b.mask.any()


def test_collate_errors():
    with pytest.raises(ValueError, match="at least one"):
        collate_temporal([])
    with pytest.raises(ValueError, match="different sizes"):
        collate_temporal([make_sample(0, size=64), make_sample(1, size=32)])
    with pytest.raises(TypeError, match="mix"):
        collate_temporal([make_sample(0), make_sample(1).pair])


def test_sample_validation():
    s = make_sample(0)
    with pytest.raises(ValueError, match="differs"):
        TemporalSample(s.pair, torch.rand(1, 64, 64), torch.rand(1, 65, 65))
    with pytest.raises(ValueError, match="guidance"):
        TemporalSample(s.pair, torch.rand(1, 64, 64), None, {99: "x"})
    with pytest.raises(ValueError, match="region features"):
        TemporalSample(s.pair, torch.rand(1, 64, 64), None, current_features=torch.zeros(5, 3))


def test_sample_images_follow_the_package_pixel_convention():
    s = make_sample()
    u8 = torch.full((64, 64), 255, dtype=torch.uint8)
    out = TemporalSample(s.pair, u8, u8)
    assert out.current_image.shape == (1, 64, 64) and float(out.current_image.max()) == 1.0
    assert out.current_image.dtype == torch.float32
    with pytest.raises(ValueError, match=r"current_image.*\[0, 1\]"):
        TemporalSample(s.pair, torch.full((64, 64), 3.0))
    with pytest.raises(ValueError, match="prior_image"):
        TemporalSample(s.pair, u8, torch.zeros(2, 64, 64))


def test_comparison_sentences_from_the_text_pipeline():
    report = (
        "FINDINGS: The left pleural effusion has increased. Heart size is normal. "
        "The right lower lobe opacity has improved."
    )
    found = comparison_sentences(parse_report(report))
    lcp = ONTO.region_index("left costophrenic angle")
    rll = ONTO.region_index("right lower lung zone")
    assert any("increased" in s for s in found.get(lcp, []))
    assert any("improved" in s for s in found.get(rll, []))
    # no sentence without a change cue
    assert not any("Heart size" in s for v in found.values() for s in v)
    # a plain graph has no sentences
    assert comparison_sentences(make_graph()) == {}


def test_sample_from_report_reads_guidance():
    s = make_sample(0)
    out = TemporalSample.from_report(s.pair, s.current_image, s.prior_image, "FINDINGS: Left effusion is worse.")
    assert out.guidance and all("worse" in t for t in out.guidance.values())


def test_progression_against_empty():
    g = make_graph([("left lower lung zone", "lung opacity", "present"), ("right lung", "pneumothorax", "absent")])
    out = progression_against_empty(g)
    worse = ONTO.label_index("progression", "worsened")
    same = ONTO.label_index("progression", "no change")
    assert out.shape == (1, ONTO.num_regions)
    assert out[0, ONTO.region_index("left lower lung zone")] == worse
    assert out[0, ONTO.region_index("right lung")] == same  # absent findings are no change
    b = collate_temporal([make_sample(0), make_sample(1)])
    assert progression_against_empty(b.current)[:, ONTO.region_index("left lower lung zone")].tolist() == [worse] * 2
