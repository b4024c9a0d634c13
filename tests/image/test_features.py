import pytest
import torch

from cxrgraph.image.detection import BoxError
from cxrgraph.image.features import RegionFeatureExtractor


def _boxes(b=2):
    boxes = torch.tensor([[0.1, 0.1, 0.5, 0.6], [0.5, 0.2, 0.9, 0.9]]).repeat(15, 1)[:29]
    return boxes.unsqueeze(0).repeat(b, 1, 1)


@pytest.mark.parametrize(
    ("backbone", "channels"), [("resnet18", 512), ("densenet121", 1024), ("vit_b_16", 768), ("xrv_densenet121", 1024)]
)
def test_shapes_and_absent_regions(backbone, channels):
    if backbone.startswith("xrv"):
        pytest.importorskip("torchxrayvision")
    torch.manual_seed(0)
    ext = RegionFeatureExtractor(backbone, image_size=64).eval()
    assert ext.out_channels == channels
    present = torch.ones(2, 29, dtype=torch.bool)
    present[1, 3] = False
    with torch.no_grad():
        x = ext([torch.rand(1, 64, 80), torch.rand(1, 50, 64)], _boxes(), present)
    assert x.shape == (2, 29, channels)
    assert torch.isfinite(x).all()
    assert torch.count_nonzero(x[1, 3]) == 0 and torch.count_nonzero(x[0, 3]) > 0


def test_features_depend_on_the_box():
    torch.manual_seed(0)
    ext = RegionFeatureExtractor("resnet18", image_size=64).eval()
    img = torch.zeros(1, 64, 64)
    img[:, :, :32] = torch.rand(1, 64, 32)
    boxes = torch.zeros(1, 29, 4)
    boxes[0, :, 2:] = 0.5
    boxes[0, :, 3] = 1.0
    boxes[0, 1] = torch.tensor([0.5, 0.0, 1.0, 1.0])  # the blank half
    with torch.no_grad():
        x = ext([img], boxes)
    assert torch.allclose(x[0, 0], x[0, 2])
    assert not torch.allclose(x[0, 0], x[0, 1])


def test_local_weights_file_and_missing_weights(tmp_path, monkeypatch):
    from torchvision.models import resnet18

    torch.manual_seed(3)
    ref = resnet18(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    ext = RegionFeatureExtractor("resnet18", weights=tmp_path / "r18.pth", image_size=64)
    assert torch.equal(ext.body[0].weight, ref.conv1.weight)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        RegionFeatureExtractor("resnet18", pretrained=True)
    with pytest.raises(FileNotFoundError, match="no such weights file"):
        RegionFeatureExtractor("resnet18", weights=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="unknown backbone"):
        RegionFeatureExtractor("alexnet")


def test_missing_xrv_weights_are_not_downloaded(tmp_path, monkeypatch):
    xrv = pytest.importorskip("torchxrayvision")
    monkeypatch.setattr(xrv.utils, "get_cache_dir", lambda: str(tmp_path) + "/")
    with pytest.raises(FileNotFoundError, match="never downloads"):
        RegionFeatureExtractor("xrv_densenet121", pretrained=True)
    assert not any(tmp_path.iterdir())


def test_bad_boxes_shape():
    ext = RegionFeatureExtractor("resnet18", image_size=64)
    with pytest.raises(ValueError, match="boxes must have shape"):
        ext([torch.rand(1, 64, 64)], torch.rand(29, 4))


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([0.6, 0.2, 0.4, 0.5], "x2 < x1"),
        ([0.1, float("nan"), 0.3, 0.4], "some corners are NaN"),
        ([0.1, 0.1, float("-inf"), 0.4], "infinite"),
        ([10.0, 20.0, 100.0, 200.0], "pixel coordinates"),
    ],
)
def test_bad_boxes_are_refused(bad, match):
    ext = RegionFeatureExtractor("resnet18", image_size=64).eval()
    boxes = _boxes(1)
    boxes[0, 5] = torch.tensor(bad)
    with pytest.raises(BoxError, match=rf"boxes\[0, 5\]: .*{match}"), torch.no_grad():
        ext([torch.rand(1, 64, 64)], boxes)
    # the same box on a region marked absent is not looked at
    present = torch.ones(1, 29, dtype=torch.bool)
    present[0, 5] = False
    with torch.no_grad():
        x = ext([torch.rand(1, 64, 64)], boxes, present)
    assert torch.isfinite(x).all() and torch.count_nonzero(x[0, 5]) == 0


def test_off_edge_boxes_are_clipped_with_a_warning_and_nan_rows_are_absent():
    torch.manual_seed(0)
    ext = RegionFeatureExtractor("resnet18", image_size=64).eval()
    img = [torch.rand(1, 64, 64)]
    boxes = _boxes(1)
    off = boxes.clone()
    off[0, 0] = torch.tensor([-0.05, 0.1, 0.5, 1.04])
    clipped = boxes.clone()
    clipped[0, 0] = torch.tensor([0.0, 0.1, 0.5, 1.0])
    with torch.no_grad(), pytest.warns(UserWarning, match="1 box\\(es\\) stick out"):
        a = ext(img, off)
    with torch.no_grad():
        b = ext(img, clipped)
        boxes[0, 3] = float("nan")  # an absent region
        c = ext(img, boxes)
    assert torch.allclose(a, b) and torch.isfinite(c).all()
