import pytest
import torch

from cxrgraph.ontology import get_ontology
from cxrgraph.temporal import ManifoldAlignment

R = get_ontology().num_regions
NO_CHANGE, WORSE, BETTER = 1, 2, 0


@pytest.mark.parametrize("manifold", ["poincare", "euclidean"])
@pytest.mark.parametrize("num_layers", [0, 1])
def test_shapes_and_identical_studies(manifold, num_layers):
    m = ManifoldAlignment(16, 8, manifold=manifold, num_layers=num_layers)
    x = torch.randn(3, R, 16)
    out = m(x, x)
    assert out.prior.shape == (3, R, 8) and out.features.shape == (3, R, m.out_channels)
    assert m.out_channels == 8 * 3 + 4
    # the same study twice: no displacement
    assert out.distance.abs().max() < 1e-3
    assert out.displacement.abs().max() < 1e-3
    y = out.current
    if manifold == "poincare":
        assert (y.norm(dim=-1) * m.curvature.sqrt() < 1).all()
    assert "ManifoldAlignment(16, 8" in repr(m)


def test_points_respect_the_clip_radius():
    m = ManifoldAlignment(4, 4, num_layers=0, clip_radius=2.0, input_scale=1e4)
    out = m(torch.randn(2, R, 4) * 1e4, torch.randn(2, R, 4) * 1e4)
    # dist from the origin is 2 * ||u|| in tangent units for c = 1: at most 2 * clip
    assert float(out.current_norm.max()) <= 2 * 2.0 / float(m.curvature.sqrt()) + 1e-3


def test_alignment_loss_pulls_unchanged_and_pushes_changed():
    torch.manual_seed(0)
    m = ManifoldAlignment(8, 8, num_layers=0, margin=1.0, radial_weight=0.0)
    x = torch.randn(1, R, 8)
    same = m(x, x)
    far = m(x, x + 3 * torch.randn(1, R, 8))
    change = torch.full((1, R), -1)
    change[0, 0] = NO_CHANGE
    assert float(m.alignment_loss(same, change)) < 1e-6
    assert float(m.alignment_loss(far, change)) > 0.01
    change[0, 0] = WORSE
    assert float(m.alignment_loss(same, change)) == pytest.approx(1.0, abs=1e-4)  # (margin - 0)^2
    # nothing labelled: zero, still differentiable
    loss = m.alignment_loss(far, torch.full((1, R), -1))
    assert float(loss) == 0.0 and loss.requires_grad


def test_radial_term_wants_worsening_outward():
    m = ManifoldAlignment(4, 4, num_layers=0, margin=0.0, radial_weight=1.0, radial_margin=0.1).eval()
    with torch.no_grad():  # identity projection: scaling the input scales the tangent vector
        m.lin.weight.copy_(torch.eye(4))
        m.lin.bias.zero_()
    inner = torch.zeros(1, R, 4)
    inner[..., 0] = 0.1
    outer = inner * 10
    change = torch.full((1, R), WORSE)
    outward = m.alignment_loss(m.change(m.embed(inner), m.embed(outer)), change)
    inward = m.alignment_loss(m.change(m.embed(outer), m.embed(inner)), change)
    assert float(outward) < float(inward)


def test_bad_arguments():
    with pytest.raises(ValueError, match="manifold"):
        ManifoldAlignment(4, manifold="sphere")
    with pytest.raises(ValueError, match="clip_radius"):
        ManifoldAlignment(4, clip_radius=0.0)
    m = ManifoldAlignment(4)
    with pytest.raises(ValueError, match="x: expected"):
        m.embed(torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="one shape"):
        m(torch.zeros(1, R, 4), torch.zeros(2, R, 4))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("num_layers", [0, 1])
@pytest.mark.parametrize("clip_radius", [None, 2.5])
@pytest.mark.parametrize("c", [0.5, 4.0])
def test_float32_training_near_the_boundary_stays_finite(seed, num_layers, clip_radius, c):
    """A few float32 steps with every region pushed to the ball's edge: losses and gradients finite."""
    torch.manual_seed(seed)
    from geoopt.optim import RiemannianAdam

    from cxrgraph.temporal import ProgressionHead

    # a huge input scale pushes every region onto (the projection of) the boundary
    m = ManifoldAlignment(8, 6, num_layers=num_layers, c=c, clip_radius=clip_radius, input_scale=1e4)
    head = ProgressionHead(m.out_channels, 16)
    opt = RiemannianAdam(list(m.parameters()) + list(head.parameters()), lr=1e-2)
    # huge tangent vectors: expmap0 lands on (the projection of) the boundary
    prior = torch.randn(4, R, 8) * 1e3
    current = prior.clone()
    current[:, ::2] += torch.randn(4, (R + 1) // 2, 8) * 1e3  # half the regions move, half coincide
    change = torch.randint(0, 3, (4, R))
    change[:, 1::2] = NO_CHANGE
    for _ in range(5):
        out = m(prior, current)
        if clip_radius is None and num_layers == 0:
            ball_norm = out.current.norm(dim=-1) * m.curvature.sqrt()
            assert float(ball_norm.max()) > 0.99  # really at the boundary
        loss = head.loss(head(out.features), change) + m.alignment_loss(out, change)
        opt.zero_grad()
        loss.backward()
        assert torch.isfinite(loss)
        for name, p in list(m.named_parameters()) + list(head.named_parameters()):
            assert p.grad is None or torch.isfinite(p.grad).all(), name
        opt.step()
        assert all(torch.isfinite(p).all() for p in m.parameters())
    c_now = float(m.curvature)
    assert m.ball.c_min <= c_now <= m.ball.c_max


def test_gradients_finite_where_points_coincide():
    m = ManifoldAlignment(4, 4, num_layers=0)
    x = torch.randn(2, R, 4, requires_grad=True)
    out = m(x, x)
    change = torch.full((2, R), NO_CHANGE)
    (m.alignment_loss(out, change) + out.features.sum()).backward()
    assert torch.isfinite(x.grad).all()
