"""Your own graph encoder, convolution and loss inside GraphAlignModel."""

import textwrap

import pytest
import torch
from torch import nn
from torch_geometric.nn import HeteroConv, SAGEConv

from cxrgraph.align import AlignmentLoss
from cxrgraph.graph.schema import ANATOMY, FINDING
from cxrgraph.models import GraphAlignModel, collate_align
from cxrgraph.nn import HeteroGraphEncoder, add_reverse_edges

from .helpers import phantom_studies, tiny_config

USER_MODULE = textwrap.dedent(
    '''
    import torch
    from torch import nn

    from cxrgraph.align import AlignmentLoss
    from cxrgraph.nn import add_reverse_edges


    class MeanGNN(nn.Module):
        """x' = x + W mean(neighbours): one layer of the user's own."""

        def __init__(self, channels, scale=1.0):
            super().__init__()
            self.lin = nn.Linear(channels, channels)
            self.scale = scale

        def forward(self, x_dict, edge_index_dict, edge_attr_dict=None):
            out = {t: torch.zeros_like(x) for t, x in x_dict.items()}
            count = {t: x.new_zeros(x.size(0), 1) for t, x in x_dict.items()}
            for (s, _, d), ei in add_reverse_edges(edge_index_dict).items():
                if ei.numel():
                    out[d] = out[d].index_add(0, ei[1], x_dict[s][ei[0]])
                    count[d] = count[d].index_add(0, ei[1], x_dict[s].new_ones(ei.size(1), 1))
            return {t: self.scale * self.lin(out[t] / count[t].clamp(min=1)) for t in x_dict}


    class SummaryL2(AlignmentLoss):
        def align(self, image, text, targets, epoch=None):
            return (image.summary - text.summary).pow(2).mean()
    '''
)


@pytest.fixture()
def user_package(tmp_path, monkeypatch):
    (tmp_path / "my_gnn_pkg").mkdir()
    (tmp_path / "my_gnn_pkg" / "__init__.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module("my_gnn_pkg")


@pytest.fixture(scope="module")
def batch():
    return collate_align(phantom_studies()[:4])


def _grads_reach(module: nn.Module) -> bool:
    return all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_graph_encoder_and_loss_by_class_path_train_and_reload(user_package, batch, tmp_path):
    torch.manual_seed(0)
    config = tiny_config(
        graph_encoder={"class_path": "my_gnn_pkg.MeanGNN", "init_args": {"channels": 32, "scale": 0.5}},
        custom_losses={"l2": {"class_path": "my_gnn_pkg.SummaryL2"}},
        loss_weights={"global": 1.0, "cascade": 1.0, "l2": 0.1},
    )
    model = GraphAlignModel(config)
    assert isinstance(model.graph_encoder, user_package.MeanGNN) and model.graph_encoder.scale == 0.5
    out = model(batch)
    assert set(out.losses) == {"global", "cascade", "l2"}
    out.loss.backward()
    assert _grads_reach(model.graph_encoder)
    model.eval()
    again = GraphAlignModel.from_pretrained(model.save_pretrained(tmp_path / "m")).eval()
    assert isinstance(again.graph_encoder, user_package.MeanGNN)
    emb = model.embed_images(batch.images, batch.boxes, batch.present)
    assert torch.allclose(emb, again.embed_images(batch.images, batch.boxes, batch.present))


def test_instances_train_and_must_be_given_again_to_reload(user_package, batch, tmp_path):
    torch.manual_seed(0)
    gnn = user_package.MeanGNN(32)
    model = GraphAlignModel(tiny_config(), graph_encoder=gnn, losses={"l2": user_package.SummaryL2()})
    assert model.weights == {"global": 1.0, "l2": 1.0}
    model(batch).loss.backward()
    assert _grads_reach(gnn)
    path = model.save_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match="MeanGNN instance; pass the instance"):
        GraphAlignModel.from_pretrained(path, losses={"l2": user_package.SummaryL2()})
    with pytest.raises(ValueError, match=r"loss 'l2'.*SummaryL2 instance"):
        GraphAlignModel.from_pretrained(path, graph_encoder=user_package.MeanGNN(32))
    again = GraphAlignModel.from_pretrained(
        path, graph_encoder=user_package.MeanGNN(32), losses={"l2": user_package.SummaryL2()}
    )
    assert torch.equal(again.graph_encoder.lin.weight, gnn.lin.weight)


def test_own_convolution_in_the_packaged_encoder(batch):
    def sage(channels, metadata):
        return HeteroConv({et: SAGEConv(channels, channels) for et in metadata[1]}, aggr="sum")

    enc = HeteroGraphEncoder(32, 32, 32, conv=sage)
    assert "sage" in repr(enc)
    torch.manual_seed(0)
    model = GraphAlignModel(tiny_config(loss_weights={"global": 1.0}), graph_encoder=enc)
    model(batch).loss.backward()
    from cxrgraph.graph.schema import LOCATED_AT

    located = model.graph_encoder.convs[0].convs[LOCATED_AT]  # HeteroConv keys edge types by tuple
    assert _grads_reach(located)


def test_own_convolution_by_class_path(user_package, batch, tmp_path, monkeypatch):
    (tmp_path / "my_conv.py").write_text(
        textwrap.dedent(
            """
            from torch import nn
            from torch_geometric.nn import HeteroConv, GraphConv

            class PerRelationGraphConv(HeteroConv):
                def __init__(self, channels, metadata, aggr="sum"):
                    super().__init__({et: GraphConv(channels, channels) for et in metadata[1]}, aggr=aggr)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.manual_seed(0)
    model = GraphAlignModel(
        tiny_config(
            graph_encoder="euclidean",
            graph_conv={"class_path": "my_conv.PerRelationGraphConv", "init_args": {"aggr": "mean"}},
        )
    )
    assert type(model.graph_encoder.convs[0]).__name__ == "PerRelationGraphConv"
    model(batch).loss.backward()
    from cxrgraph.graph.schema import LOCATED_AT

    assert _grads_reach(model.graph_encoder.convs[1].convs[LOCATED_AT])


def test_what_cannot_be_resolved_is_named(user_package, batch):
    with pytest.raises(ValueError, match=r"graph_encoder: cannot resolve 'spherical'; choices are \[None, 'euclidean'"):
        GraphAlignModel(tiny_config(graph_encoder="spherical"))
    with pytest.raises(ValueError, match="has no Nope"):
        GraphAlignModel(tiny_config(graph_encoder={"class_path": "my_gnn_pkg.Nope"}))
    with pytest.raises(ValueError, match=r"could not build my_gnn_pkg.MeanGNN"):
        GraphAlignModel(tiny_config(graph_encoder={"class_path": "my_gnn_pkg.MeanGNN", "init_args": {"width": 3}}))
    with pytest.raises(ValueError, match="has no align"):
        GraphAlignModel(tiny_config(), losses={"bad": nn.Linear(2, 2)})
    with pytest.raises(ValueError, match="cannot resolve conv"):
        HeteroGraphEncoder(8, 8, 8, conv="sage")

    class WrongWidth(nn.Module):
        def forward(self, x_dict, edge_index_dict, edge_attr_dict=None):
            return {t: x[:, :3] for t, x in x_dict.items()}

    model = GraphAlignModel(tiny_config(), graph_encoder=WrongWidth())
    with pytest.raises(ValueError, match=r"WrongWidth: expected \{'anatomy': \[116, 32\]\}"):
        model(batch)


def test_every_packaged_loss_has_the_one_signature(batch):
    from .helpers import ALL_LOSSES

    model = GraphAlignModel(tiny_config(loss_weights=ALL_LOSSES))
    assert all(isinstance(loss, AlignmentLoss) for loss in model.losses.values())
    assert ANATOMY and FINDING and add_reverse_edges  # the names the user module relies on exist
