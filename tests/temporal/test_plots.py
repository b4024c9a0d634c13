import pytest
import torch

from cxrgraph.temporal import plot_confusion_matrix, plot_poincare_regions, plot_region_scores, poincare_projection


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_confusion_and_region_pictures(tmp_path):
    fig = plot_confusion_matrix([[5, 1, 0], [2, 9, 1], [0, 1, 4]], tmp_path / "cm.png", title="t")
    assert _is_png(tmp_path / "cm.png") and fig.axes
    acc = [0.5] * 28 + [None]
    plot_region_scores(acc, acc, [3] * 29, tmp_path / "sub" / "regions.png")
    assert _is_png(tmp_path / "sub" / "regions.png")
    assert not list(tmp_path.glob("**/.*.png"))  # no temporary file left behind
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix([[1, 2, 3]])
    with pytest.raises(ValueError, match="29"):
        plot_region_scores([0.5] * 3)


def test_poincare_projection_keeps_depth():
    torch.manual_seed(0)
    c = 2.0
    u = torch.randn(50, 6)
    x = torch.tanh(c**0.5 * u.norm(dim=-1, keepdim=True)) * u / (c**0.5 * u.norm(dim=-1, keepdim=True))
    disk, basis = poincare_projection(x, c)
    assert disk.shape == (50, 2) and basis.shape == (6, 2)
    assert (disk.norm(dim=-1) < 1).all()
    # the distance from the origin is kept: ||disk|| = tanh(sqrt(c) ||log_0 x||) = sqrt(c) ||x||
    assert torch.allclose(disk.norm(dim=-1), c**0.5 * x.norm(dim=-1), atol=1e-4)
    with pytest.raises(ValueError, match="curvature"):
        poincare_projection(x, 0.0)


def test_poincare_picture(tmp_path):
    torch.manual_seed(0)
    prior = torch.randn(3, 29, 4) * 0.2
    current = prior + torch.randn(3, 29, 4) * 0.1
    labels = torch.randint(-1, 3, (3, 29))
    fig = plot_poincare_regions(prior, current, 1.0, labels, path=tmp_path / "disk.png")
    assert _is_png(tmp_path / "disk.png") and fig.axes
    plot_poincare_regions(prior[0], current[0], 1.0)  # one study pair, no labels
    with pytest.raises(ValueError, match="one shape"):
        plot_poincare_regions(prior, current[:2])
