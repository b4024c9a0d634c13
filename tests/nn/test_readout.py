import pytest
import torch

from cxrgraph.graph.schema import ADJACENT_TO, ANATOMY, FINDING, LOCATED_AT, PART_OF
from cxrgraph.nn import (
    AttentionReadout,
    EdgeAttrEmbedding,
    HeteroGraphEncoder,
    HyperbolicGraphEncoder,
    RelationalGraphConv,
)
from cxrgraph.nn.hetero import clinical_metadata


def test_attention_readout_shapes_masks_and_repr():
    torch.manual_seed(0)
    pool = AttentionReadout(8, 12, heads=3)
    x = torch.randn(2, 5, 8)
    out = pool(x)
    assert out.shape == (2, 12) and repr(pool) == "AttentionReadout(8, 12, heads=3)"
    mask = torch.tensor([[True, True, False, False, False], [False] * 5])
    masked = pool(x, mask)
    changed = x.clone()
    changed[0, 2:] = 100.0  # masked nodes do not count
    assert torch.allclose(pool(changed, mask)[0], masked[0])
    assert torch.isfinite(masked[1]).all()  # a graph without valid nodes still pools
    with pytest.raises(ValueError, match="divisible"):
        AttentionReadout(8, 10, heads=3)


def _graph(b=2):
    x = {ANATOMY: torch.randn(b * 29, 16), FINDING: torch.randn(b * 80, 16)}
    edges = {
        PART_OF: torch.tensor([[0, 29], [1, 30]]),
        ADJACENT_TO: torch.tensor([[2, 31], [3, 32]]),
        LOCATED_AT: torch.tensor([[5, 85], [7, 36]]),
    }
    return x, edges


@pytest.mark.parametrize("kind", ["rgcn", "hgt", "gat", "hyperbolic"])
def test_edge_attributes_change_the_graph_embedding(kind):
    torch.manual_seed(0)
    x, edges = _graph()
    if kind == "hyperbolic":
        enc = HyperbolicGraphEncoder(16, 16, 16)

        def run(attr):
            return enc.forward_hetero(x, edges, {LOCATED_AT: attr}, tangent=True)
    else:
        enc = HeteroGraphEncoder(16, 16, 16, conv=kind)

        def run(attr):
            return enc(x, edges, {LOCATED_AT: attr})

    present = torch.tensor([[1, 2, 0], [1, 0, 0]])  # (existence, severity, change)
    negated = torch.tensor([[0, 2, 0], [1, 0, 0]])
    a, b = run(present), run(negated)
    # the region at the end of the first edge (anatomy 7) and its finding (5) see the difference
    assert not torch.allclose(a[ANATOMY][7], b[ANATOMY][7])
    assert not torch.allclose(a[FINDING][5], b[FINDING][5])
    # a graph far from that edge does not
    assert torch.allclose(a[ANATOMY][20], b[ANATOMY][20], atol=1e-6)


def test_edge_attribute_embedding_checks_its_input():
    emb = EdgeAttrEmbedding(4)
    assert emb(torch.tensor([[-1, 0, 0], [2, 3, 5]])).shape == (2, 4)
    with pytest.raises(ValueError, match=r"\[E, 3\]"):
        emb(torch.zeros(3, 2, dtype=torch.long))


def test_relational_conv_mean_of_neighbours_per_relation():
    torch.manual_seed(0)
    meta = clinical_metadata()
    conv = RelationalGraphConv(4, 3, meta)
    x = {ANATOMY: torch.randn(3, 4), FINDING: torch.randn(2, 4)}
    edges = {LOCATED_AT: torch.tensor([[0, 1], [2, 2]])}
    out = conv(x, edges)
    assert out[ANATOMY].shape == (3, 3) and out[FINDING].shape == (2, 3)
    # anatomy 2 hears the mean of findings 0 and 1 through located_at; anatomy 0 hears nothing
    lin = conv.lin[ANATOMY]
    slot = conv.incoming[ANATOMY].index(LOCATED_AT) + 1
    w = lin.weight[:, slot * 4 : (slot + 1) * 4]
    expected_delta = w @ x[FINDING].mean(0)
    alone = conv(x, {})
    assert torch.allclose(out[ANATOMY][2] - alone[ANATOMY][2], expected_delta, atol=1e-6)
    assert torch.allclose(out[ANATOMY][0], alone[ANATOMY][0])
    assert "num_relations=10" in repr(conv)
