"""evaluate(): typed downstream scores of a pretrained model."""

from __future__ import annotations

import pytest
import torch
from models.helpers import phantom_studies, tiny_config

from cxrgraph.models import GraphAlignModel
from cxrgraph.train import (
    EvaluationResult,
    evaluate,
)


def test_evaluate_returns_typed_scores():
    torch.manual_seed(0)
    samples = phantom_studies(4)
    model = GraphAlignModel(tiny_config()).eval()
    result = evaluate(model, samples[:6], samples[6:], fractions=[1.0], repeats=1, batch_size=4, min_positives=1)
    assert isinstance(result, EvaluationResult) and result.num_test == 2 and result.num_train == 6
    assert 0.0 <= result.recall_at_5 <= 1.0 and set(result.retrieval) >= {"i2t_R@1", "t2i_R@5"}
    assert result.grounding is not None and 0.0 <= result.grounding.accuracy <= 1.0
    assert (result.linear_probe_error is None) == bool(result.linear_probe)
    out = result.to_dict()
    assert out["num_test"] == 2 and out["retrieval"]["i2t_R@5"] == result.recall_at_5
    only = evaluate(model, None, samples[6:], tasks=["retrieval"], batch_size=4)
    assert only.linear_probe == [] and only.zero_shot is None and only.num_train is None
    with pytest.raises(ValueError, match="unknown"):
        evaluate(model, None, samples[6:], tasks=["retreival"])
    with pytest.raises(ValueError, match="needs training studies"):
        evaluate(model, None, samples[6:], tasks=["linear-probe"])
