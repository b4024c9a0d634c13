import pytest
import torch

from cxrgraph.image.features import RegionFeatureExtractor, region_grid
from cxrgraph.image.region_pool import region_mean, region_pool_weights


def _random_boxes(b: int, r: int, g: torch.Generator) -> torch.Tensor:
    """Boxes of every kind: inside, across the border, degenerate, a NaN row."""
    raw = torch.rand(b, r, 4, generator=g) * 1.4 - 0.2
    lo, hi = torch.minimum(raw[..., :2], raw[..., 2:]), torch.maximum(raw[..., :2], raw[..., 2:])
    boxes = torch.cat([lo, hi], -1)
    boxes[0, 1] = torch.tensor([0.3, 0.3, 0.3, 0.3])  # zero area
    boxes[-1, -1] = float("nan")
    return boxes


@pytest.mark.parametrize(
    ("side", "image_size", "output_size", "ratio"), [(4, 128, 3, 2), (8, 128, 3, 2), (7, 224, 2, 1), (5, 150, 4, 3)]
)
def test_matrix_form_equals_roi_align_mean(side, image_size, output_size, ratio):
    g = torch.Generator().manual_seed(side)
    fmap = torch.randn(3, 6, side, side, generator=g, dtype=torch.float64)
    boxes = _random_boxes(3, 29, g)
    grid, _ = region_grid(fmap, boxes, image_size, output_size, ratio)
    expected = grid.mean((2, 3)).view(3, 29, -1).double()
    assert torch.allclose(
        region_mean(fmap.float(), boxes, image_size, output_size, ratio).double(), expected, atol=1e-5
    )


def test_gradients_equal_roi_align():
    g = torch.Generator().manual_seed(0)
    fmap = torch.randn(2, 5, 4, 4, generator=g, requires_grad=True)
    boxes = _random_boxes(2, 29, g)
    w = torch.randn(2, 29, 5, generator=g)
    grid, _ = region_grid(fmap, boxes, 128, 3, 2)
    (grid.mean((2, 3)).view(2, 29, -1) * w).sum().backward()
    expected = fmap.grad.clone()
    fmap.grad = None
    (region_mean(fmap, boxes, 128, 3, 2) * w).sum().backward()
    assert torch.allclose(fmap.grad, expected, atol=1e-5)


def test_weights_are_a_mean_and_need_a_fixed_ratio():
    boxes = torch.tensor([[[0.1, 0.2, 0.6, 0.9]]])
    w = region_pool_weights(boxes, 8, 8, 128, 3, 2)
    assert w.shape == (1, 1, 64) and torch.isclose(w.sum(), torch.tensor(1.0)) and (w >= 0).all()
    with pytest.raises(ValueError, match="fixed ratio"):
        region_pool_weights(boxes, 8, 8, 128, 3, -1)


def test_extractor_pools_with_the_matrix_form():
    torch.manual_seed(0)
    ext = RegionFeatureExtractor("resnet18", image_size=64).eval()
    images = torch.rand(2, 1, 64, 64)
    boxes = _random_boxes(2, 29, torch.Generator().manual_seed(1)).clamp(0, 1).nan_to_num(0.0)
    with torch.no_grad():
        fmap = ext.feature_map(images)
        grid, _ = region_grid(fmap, boxes, 64, ext.output_size, ext.sampling_ratio)
        assert torch.allclose(ext.pool(fmap, boxes), grid.mean((2, 3)).view(2, 29, -1), atol=1e-5)
