import os

import pytest
import torch

from cxrgraph.nn import TextGraphEncoder, TextGraphInputs, default_text_model_path
from cxrgraph.ontology import get_ontology

SENTENCES = [
    ["Large left pleural effusion.", "The heart is normal in size.", "Left basilar opacity."],
    ["No pleural effusion.", "Right lower lobe consolidation."],
]
REGIONS = [[[14], [24], [11, 14]], [[], [3]]]
# (sentence, char_start, char_end, finding) — effusion = 3, consolidation = 5 in these tests
MENTIONS = [[(0, 11, 27, 3)], [(0, 3, 19, 3), (1, 17, 30, 5)]]


@pytest.fixture(scope="module")
def encoder():
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    torch.manual_seed(0)
    try:
        yield TextGraphEncoder(out_channels=32).eval()
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE")
        else:
            os.environ["HF_HUB_OFFLINE"] = before


@pytest.fixture(scope="module")
def inputs():
    return TextGraphInputs.build(SENTENCES, REGIONS, MENTIONS)


def test_default_model_is_the_offline_minilm():
    path = default_text_model_path()
    assert path.name == "model" and (path / "config.json").is_file()


def test_shapes_masks_and_repr(encoder, inputs):
    out = encoder.encode(inputs)
    assert out.anatomy.shape == (2, 29, 32) and out.finding.shape == (2, get_ontology().num_findings, 32)
    assert out.tokens.shape == (2, 3, 32) and out.summary.shape == (2, 32)
    assert out.token_mask.tolist() == [[True, True, True], [True, True, False]]
    assert out.anatomy_mask[0].nonzero().flatten().tolist() == [11, 14, 24]
    assert out.anatomy_mask[1].nonzero().flatten().tolist() == [3]
    assert out.finding_mask[0].nonzero().flatten().tolist() == [3]
    assert out.finding_mask[1].nonzero().flatten().tolist() == [3, 5]
    assert repr(encoder) == "TextGraphEncoder('model', 32)"


def test_nodes_are_built_from_their_sentences_and_spans(encoder, inputs):
    out = encoder.encode(inputs)
    with torch.no_grad():
        _, _, _, pooled = encoder.encode_sentences(SENTENCES[0])
        sent = encoder.proj(pooled)
    # region 14 (two sentences) is their mean plus its identity; region 24 one sentence
    assert torch.allclose(out.anatomy[0, 14], sent[[0, 2]].mean(0) + encoder.region_identity[14], atol=1e-5)
    assert torch.allclose(out.anatomy[0, 24], sent[1] + encoder.region_identity[24], atol=1e-5)
    # unmentioned nodes carry the learned "nothing said" embedding
    assert torch.allclose(out.anatomy[1, 0], encoder.region_empty[0])
    assert torch.allclose(out.finding[0, 7], encoder.finding_empty[7])
    # the span embedding is contextual: "large ... effusion" differs from "no ... effusion"
    assert not torch.allclose(out.finding[0, 3], out.finding[1, 3], atol=1e-3)
    assert torch.allclose(out.tokens[0], sent, atol=1e-5)


def test_batch_order_equivariance_and_existence(encoder):
    fwd = encoder.encode(TextGraphInputs.build(SENTENCES, REGIONS, MENTIONS))
    rev = encoder.encode(TextGraphInputs.build(SENTENCES[::-1], REGIONS[::-1], MENTIONS[::-1]))
    assert torch.allclose(fwd.anatomy, rev.anatomy.flip(0), atol=1e-4)
    assert torch.allclose(fwd.finding, rev.finding.flip(0), atol=1e-4)
    existence = torch.full((2, get_ontology().num_findings), -1)
    existence[0, 3] = 1
    existence[1, 3] = 0
    with_ex = encoder.encode(TextGraphInputs.build(SENTENCES, REGIONS, MENTIONS, existence))
    # codes shift by one: present (1) is row 2, absent (0) row 1, unmentioned (-1) row 0
    emb = encoder.existence_embedding.weight
    assert torch.allclose(with_ex.finding[0, 3] - fwd.finding[0, 3], emb[2], atol=1e-5)
    assert torch.allclose(with_ex.finding[1, 3] - fwd.finding[1, 3], emb[1], atol=1e-5)
    assert torch.allclose(with_ex.finding[0, 7] - fwd.finding[0, 7], emb[0], atol=1e-5)


def test_empty_report_and_gradients(encoder):
    encoder.train()
    try:
        inp = TextGraphInputs.build([["Left effusion."], []], [[[14]], []], [[(0, 5, 13, 3)], []])
        out = encoder.encode(inp)
        assert torch.allclose(out.summary[1], encoder.report_empty)
        (out.anatomy.sum() + out.finding.sum() + out.summary.sum()).backward()
        grad = encoder.backbone.embeddings.word_embeddings.weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    finally:
        encoder.zero_grad(set_to_none=True)
        encoder.eval()


def test_bad_inputs_are_named(encoder):
    with pytest.raises(ValueError, match="region_sentence_mask"):
        encoder(SENTENCES, torch.zeros(2, 3, 10, dtype=torch.bool))
    with pytest.raises(ValueError, match="mentions"):
        encoder(SENTENCES, torch.zeros(2, 3, 29, dtype=torch.bool), torch.tensor([[1, 2, 0, 3, 3]]))
    with pytest.raises(ValueError, match="sentence_regions"):
        TextGraphInputs.build(SENTENCES, REGIONS[:1])
    with pytest.raises(FileNotFoundError, match="not found locally"):
        TextGraphEncoder("/nonexistent/model-folder")


def test_inputs_from_parsed_reports(encoder):
    from cxrgraph.ontology import get_ontology
    from cxrgraph.text import parse_report

    onto = get_ontology()
    texts = [
        "FINDINGS: Small left pleural effusion. The heart is normal in size. No pneumothorax.",
        "IMPRESSION: Right lower lobe consolidation.",
    ]
    inputs = TextGraphInputs.from_reports([parse_report(t) for t in texts])
    assert inputs.sentences[0][0] == "Small left pleural effusion."
    eff = onto.finding_index("pleural effusion")
    rows = inputs.mentions.tolist()
    assert [0, 0, 11, 27, eff] in rows
    assert inputs.sentences[0][0][11:27] == "pleural effusion"
    assert inputs.region_sentence_mask[0, 0].any()
    assert inputs.finding_existence[0, eff] == 1
    out = encoder.encode(inputs)
    assert out.finding_mask[0, eff] and out.finding_mask[1, onto.finding_index("consolidation")]
    with pytest.raises(ValueError, match="sentences"):
        TextGraphInputs.from_reports([object()])
