import itertools

import geoopt
import pytest
import torch

from cxrgraph.nn import BoundedPoincareBall, HGCNConv, HyperbolicGraphEncoder

SEEDS = (0, 1, 2)
DTYPES = (torch.float32, torch.float64)
CURVATURES = (0.1, 1.0, 10.0)


def _graph(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.randint(0, n, (2, 3 * n), generator=g)


def _near_boundary(n: int, dim: int, c: float, dtype: torch.dtype, g: torch.Generator) -> torch.Tensor:
    """Points at 1 - 1e-7 of the ball radius (past float32's projection margin)."""
    x = torch.randn(n, dim, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True) * (1 - 1e-7) / c**0.5
    return x.to(dtype)


@pytest.mark.parametrize(("seed", "dtype", "c"), list(itertools.product(SEEDS, DTYPES, CURVATURES)))
def test_hgcn_conv_finite_near_the_boundary(seed, dtype, c):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    ball = BoundedPoincareBall(c, c_min=0.05, c_max=20.0).to(dtype)
    conv = HGCNConv(8, 6, ball).to(dtype)
    x = _near_boundary(12, 8, c, dtype, g).requires_grad_()
    y = conv(x, _graph(12, g))
    assert y.dtype == dtype and torch.isfinite(y).all()
    # outputs lie strictly inside the ball of radius 1/sqrt(c)
    assert (y.norm(dim=-1) * ball.c.sqrt() < 1).all()
    ball.dist0(y).sum().backward()
    for name, t in (("x", x), ("weight", conv.weight), ("bias", conv.bias), ("curvature", ball.raw_c)):
        assert t.grad is not None and torch.isfinite(t.grad).all(), name


@pytest.mark.parametrize(("seed", "dtype", "c"), list(itertools.product(SEEDS, DTYPES, CURVATURES)))
def test_encoder_finite_for_huge_inputs(seed, dtype, c):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = HyperbolicGraphEncoder(8, 16, 4, num_layers=2, c=c, c_min=0.05, c_max=20.0).to(dtype)
    # inputs of norm ~1e4 map right next to the boundary
    x = (1e4 * torch.randn(10, 8, generator=g)).to(dtype).requires_grad_()
    y = model(x, _graph(10, g))
    assert torch.isfinite(y).all()
    tangent = model.to_tangent(y)
    assert torch.isfinite(tangent).all()
    (tangent.pow(2).sum() + model.ball.dist0(y).sum()).backward()
    assert torch.isfinite(x.grad).all()
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name


@pytest.mark.slow
@pytest.mark.parametrize(("dtype", "direction"), [(torch.float32, 1.0), (torch.float64, -1.0)])
def test_curvature_stays_in_bounds_under_riemannian_adam(dtype, direction):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = HyperbolicGraphEncoder(8, 8, 4, c=1.0, c_min=0.2, c_max=5.0).to(dtype)
    opt = geoopt.optim.RiemannianAdam(model.parameters(), lr=0.05)
    x = torch.randn(20, 8, generator=g).to(dtype)
    edge_index = _graph(20, g)
    seen = []
    for _ in range(250):
        opt.zero_grad()
        y = model(x, edge_index)
        # spread the points (pushes towards the boundary) and pull the curvature hard one way
        loss = -model.ball.dist0(y).mean() - direction * 10.0 * model.curvature
        loss.backward()
        opt.step()
        c = float(model.curvature.detach())
        seen.append(c)
        assert 0.2 <= c <= 5.0
        assert torch.isfinite(y).all()
    # it really was pushed to the bound it was pulled towards
    assert (seen[-1] > 4.5) if direction > 0 else (seen[-1] < 0.3)
    for conv in model.convs:
        assert (conv.bias_point().norm() * model.curvature.sqrt() < 1).all()
    assert torch.isfinite(model(x, edge_index)).all()


def test_bounded_ball_validation_and_repr():
    with pytest.raises(ValueError, match="curvature bounds"):
        BoundedPoincareBall(1.0, c_min=0.0)
    with pytest.raises(ValueError, match="inside"):
        BoundedPoincareBall(10.0, c_min=0.1, c_max=10.0)
    ball = BoundedPoincareBall(2.0, 0.5, 4.0)
    assert float(ball.c.detach()) == pytest.approx(2.0)
    assert float(ball.k.detach()) == pytest.approx(-2.0)
    model = HyperbolicGraphEncoder(8, 16, 4)
    assert repr(model) == "HyperbolicGraphEncoder(8, 16, 4, num_layers=2, c=1, c_min=0.1, c_max=10.0)"
    assert repr(model.convs[0]) == "HGCNConv(16, 16)"


def test_forward_hetero_and_message_passing():
    from cxrgraph.graph import ClinicalGraph

    torch.manual_seed(0)
    graph = ClinicalGraph.from_triplets([("left costophrenic angle", "pleural effusion")])
    model = HyperbolicGraphEncoder(8, 16, 4, num_layers=1)
    x = {"anatomy": torch.randn(29, 8), "finding": torch.randn(80, 8)}
    out = model.forward_hetero(x, graph.edge_index_dict)
    assert out["anatomy"].shape == (29, 4) and out["finding"].shape == (80, 4)
    # one layer: changing the effusion node moves its region (reverse edge) and nothing unconnected
    f = graph["finding", "located_at", "anatomy"].edge_index[0, 0]
    r = graph["finding", "located_at", "anatomy"].edge_index[1, 0]
    x2 = {"anatomy": x["anatomy"], "finding": x["finding"].clone()}
    x2["finding"][f] += 5.0
    out2 = model.forward_hetero(x2, graph.edge_index_dict)
    moved = (out2["anatomy"] - out["anatomy"]).norm(dim=-1) > 1e-6
    assert moved[r] and moved.sum() == 1
    with pytest.raises(ValueError, match="node type"):
        model.forward_hetero({"patch": torch.randn(3, 8)}, {})


def _geoopt_layer(conv: HGCNConv, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
    """The HGCN layer written with geoopt's own maps, step by step, as the reference."""
    from torch_geometric.nn.conv.gcn_conv import gcn_norm
    from torch_geometric.utils import scatter

    ball = conv.ball
    h = ball.projx(ball.mobius_matvec(conv.weight, x))
    bias = ball.projx(ball.expmap0(conv.bias))  # the bias is kept as a tangent vector at the origin
    h = ball.projx(ball.mobius_add(h, bias.expand_as(h)))
    u = ball.logmap0(h)
    ei, w = gcn_norm(edge_index, None, x.size(0), add_self_loops=True, dtype=u.dtype)
    y = ball.projx(ball.expmap0(scatter(u[ei[0]] * w.unsqueeze(-1), ei[1], dim=0, dim_size=x.size(0))))
    if conv.act is not None:
        y = ball.projx(ball.expmap0(conv.act(ball.logmap0(y))))
    return y


@pytest.mark.parametrize(("dtype", "scale"), list(itertools.product(DTYPES, (0.1, 1.0, 30.0))))
def test_tangent_space_layers_equal_the_geoopt_composition(dtype, scale):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    enc = HyperbolicGraphEncoder(6, 8, 5, num_layers=3, c=2.0).to(dtype).eval()
    x = torch.randn(20, 6, generator=g, dtype=torch.float64).to(dtype) * scale
    edge_index = _graph(20, g)
    ball = enc.ball
    h = ball.projx(ball.expmap0(enc.lin_in(x)))
    for conv in enc.convs:
        h = _geoopt_layer(conv, h, edge_index)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert torch.allclose(enc(x, edge_index), h, atol=tol)
    assert torch.allclose(enc(x, edge_index, tangent=True), ball.logmap0(h), atol=10 * tol)
    # a single layer, points in and points out
    conv = enc.convs[0]
    p = ball.projx(ball.expmap0(torch.randn(20, 8, generator=g, dtype=torch.float64).to(dtype) * scale))
    assert torch.allclose(conv(p, edge_index), _geoopt_layer(conv, p, edge_index), atol=tol)


def test_checkpoints_with_the_bias_on_the_ball_still_load():
    torch.manual_seed(0)
    enc = HyperbolicGraphEncoder(6, 8, 5, num_layers=2, c=2.0)
    state = enc.state_dict()
    # what version 1 wrote: the bias as the point on the ball, no version in the metadata
    old = {k: v.clone() for k, v in state.items()}
    for i, conv in enumerate(enc.convs):
        old[f"convs.{i}.bias"] = conv.bias_point().detach()
    old = type(state)(old)
    old._metadata = {k: {kk: vv for kk, vv in v.items() if kk != "version"} for k, v in state._metadata.items()}
    again = HyperbolicGraphEncoder(6, 8, 5, num_layers=2, c=2.0)
    again.load_state_dict(old)
    for a, b in zip(again.convs, enc.convs):
        assert torch.allclose(a.bias, b.bias, atol=1e-5)
    again.load_state_dict(state)  # the current format loads as is
    assert all(torch.equal(a.bias, b.bias) for a, b in zip(again.convs, enc.convs))


@pytest.mark.parametrize("norm", [1e3, 1e20, 1e30])
def test_huge_tangent_vectors_keep_a_finite_curvature_gradient(norm):
    g = torch.Generator().manual_seed(0)
    ball = BoundedPoincareBall(1.0)
    u = torch.randn(4, 6, generator=g) * norm
    y = ball.expmap0(u)
    assert (y.norm(dim=-1) * ball.c.sqrt() < 1).all()
    (ball.dist0(y).sum() + ball.logmap0(y).sum()).backward()
    assert torch.isfinite(ball.raw_c.grad)
    enc = HyperbolicGraphEncoder(6, 6, 3)
    enc(u, _graph(4, g)).sum().backward()
    assert torch.isfinite(enc.ball.raw_c.grad)
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)
