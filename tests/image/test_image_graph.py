import pytest
import torch
from PIL import Image
from torch_geometric.loader import DataLoader

from cxrgraph.graph import ADJACENT_TO, ANATOMY, PART_OF, ClinicalGraph, GraphValidationError
from cxrgraph.image.atlas import AtlasDetector
from cxrgraph.image.detection import RegionDetection
from cxrgraph.image.features import RegionFeatureExtractor
from cxrgraph.image.image_graph import ImageGraph, extract_image_graphs

from .synthetic import synthetic_chest


def _detection(absent=(5,)):
    boxes = torch.tensor([0.2, 0.2, 0.6, 0.7]).repeat(29, 1)
    present = torch.ones(29, dtype=torch.bool)
    present[list(absent)] = False
    return RegionDetection(boxes, torch.full((29,), 0.9), present, (128, 128), "img-1", "test")


def test_from_detection_validates_and_keeps_the_schema():
    feats = torch.randn(29, 16)
    g = ImageGraph.from_detection(_detection(), feats, triplets=[("left lower lung zone", "pleural effusion")])
    assert isinstance(g, ClinicalGraph)
    a = g[ANATOMY]
    assert a.num_nodes == 29 and a.x.shape == (29, 16)
    assert not bool(a.present[5]) and not bool(a.has_box[5]) and bool(a.has_box[0])
    assert torch.allclose(a.box[0], torch.tensor([0.2, 0.2, 0.6, 0.7]))
    empty = ClinicalGraph.empty()
    assert torch.equal(g[PART_OF].edge_index, empty[PART_OF].edge_index)
    assert torch.equal(g[ADJACENT_TO].edge_index, empty[ADJACENT_TO].edge_index)
    assert g.image_id == "img-1" and len(g.triplets()) == 1
    back = g.detection()
    assert torch.equal(back.present, _detection().present)


def test_bad_features_and_scores_are_refused():
    with pytest.raises(GraphValidationError, match="x"):
        ImageGraph.from_detection(_detection(), torch.randn(28, 16))
    g = ImageGraph.from_detection(_detection())
    g[ANATOMY].score = torch.full((29,), 2.0)
    with pytest.raises(GraphValidationError, match="score"):
        g.validate()


def test_batches_with_pyg_loader():
    graphs = [ImageGraph.from_detection(_detection(), torch.randn(29, 8)) for _ in range(3)]
    batch = next(iter(DataLoader(graphs, batch_size=3)))
    assert batch[ANATOMY].x.shape == (87, 8)
    assert batch[ANATOMY].score.shape == (87,)


def test_extract_image_graphs_in_batches_skips_bad_files(tmp_path, rng):
    pairs = [synthetic_chest(rng, 96) for _ in range(5)]
    atlas = AtlasDetector.fit(
        torch.stack([p[1] for p in pairs]), [p[0] for p in pairs], meta={"data": "synthetic test films"}
    )
    paths = []
    for i, (img, _) in enumerate(pairs):
        p = tmp_path / f"{i}.png"
        Image.fromarray((img[0].numpy() * 255).round().astype("uint8")).save(p)
        paths.append(p)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    paths.insert(2, tmp_path / "broken.png")
    torch.manual_seed(0)
    ext = RegionFeatureExtractor("resnet18", image_size=64)
    skipped = []
    graphs = extract_image_graphs(paths, atlas, ext, batch_size=2, skipped=skipped)
    assert len(graphs) == 5 and [s.path for s in skipped] == [str(tmp_path / "broken.png")]
    assert [g.image_id for g in graphs] == [str(p) for p in paths if p.name != "broken.png"]
    for g in graphs:
        assert g[ANATOMY].x.shape == (29, 512)
    # tensors in, same boxes as files in (no features)
    from_tensors = extract_image_graphs([p[0] for p in pairs], atlas, batch_size=3, sources=list("abcde"))
    assert [g.image_id for g in from_tensors] == list("abcde")
    assert "x" not in from_tensors[0][ANATOMY]
