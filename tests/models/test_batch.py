import pytest
import torch

from cxrgraph.graph.schema import FINDING, LOCATED_AT
from cxrgraph.models import AlignSample, collate_align, report_text_inputs
from cxrgraph.ontology import get_ontology
from cxrgraph.text import parse_report

REPORT = (
    "FINDINGS: Mild left basilar opacity. No pneumothorax. Small right pleural effusion.\n"
    "IMPRESSION: Possible pneumonia in the left lower lobe."
)


def _sample(study_id: str, text: str, size: int = 32) -> AlignSample:
    boxes = torch.rand(29, 4).sort(-1).values
    boxes[3] = float("nan")
    present = torch.isfinite(boxes).all(-1)
    return AlignSample(study_id, torch.rand(1, size, size), boxes, present, parse_report(text), report_text=text)


def test_mentions_are_sentence_relative_character_spans():
    g = parse_report(REPORT)
    sentences, mask, mentions = report_text_inputs([g])
    onto = get_ontology()
    assert sentences[0] == g.sentences
    assert mentions.shape[1] == 5 and mentions.size(0) >= 4
    seen = set()
    for b, s, start, end, k in mentions.tolist():
        phrase = sentences[b][s][start:end].lower()
        name = onto.finding(k).name
        seen.add(name)
        # the span is the finding's own words inside its sentence
        assert phrase and phrase in sentences[b][s].lower()
    assert {"lung opacity", "pneumothorax", "pleural effusion", "pneumonia"} <= seen
    assert mask.shape == (1, len(g.sentences), 29)
    assert torch.equal(mask[0], g.region_sentences.bool())


def test_collate_align_targets_follow_the_report_graphs():
    a = _sample("a", REPORT)
    b = _sample("b", "FINDINGS: Lungs are clear. Heart size is normal.")
    batch = collate_align([a, b])
    assert batch.study_ids == ["a", "b"] and len(batch) == 2
    assert batch.images.shape == (2, 1, 32, 32)
    # absent region: box zeroed, flagged absent
    assert not batch.present[0, 3] and torch.equal(batch.boxes[0, 3], torch.zeros(4))
    assert torch.equal(batch.existence[0], a.report[FINDING].existence)
    ei = a.report[LOCATED_AT].edge_index
    assert torch.equal(batch.located_at[0, ei[0], ei[1]], a.report[LOCATED_AT].existence)
    assert int((batch.located_at[0] >= 0).sum()) == ei.size(1)
    # labels default to the parsed existence
    assert torch.equal(batch.labels, batch.existence)
    assert batch.region_sentence_mask.shape[1] == max(len(batch.sentences[0]), len(batch.sentences[1]))


def test_collate_align_rejects_mixed_image_sizes_and_empty_input():
    with pytest.raises(ValueError, match="share a size"):
        collate_align([_sample("a", REPORT, 32), _sample("b", REPORT, 48)])
    with pytest.raises(ValueError, match="empty"):
        collate_align([])


def test_batch_to_moves_tensors_and_casts_only_floats():
    batch = collate_align([_sample("a", REPORT), _sample("b", REPORT)])
    moved = batch.to(torch.float64)
    assert moved.images.dtype == torch.float64
    assert moved.existence.dtype == torch.long and moved.present.dtype == torch.bool
    moved = batch.to("cpu", non_blocking=True)
    assert moved.mentions.device.type == "cpu"
