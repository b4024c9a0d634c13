import lightning as L
import pytest
import torch
from models.helpers import phantom_studies, tiny_config

from cxrgraph.models import GraphAlignModel
from cxrgraph.train import GraphAlignDataModule, GraphAlignPretrainer


def _trainer(tmp_path, **kw):
    kw.setdefault("max_steps", 2)
    return L.Trainer(
        accelerator="cpu",
        default_root_dir=str(tmp_path),
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **kw,
    )


def test_optimizer_groups_and_schedule():
    cfg = tiny_config(freeze_text=False).to_dict()
    module = GraphAlignPretrainer(cfg, lr=1e-3, text_lr=1e-5, warmup_steps=2)
    conf = module.configure_optimizers()
    opt = conf["optimizer"]
    assert isinstance(opt, torch.optim.AdamW)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["text_decay"]["lr"] == pytest.approx(1e-5 * 0.5)  # warm-up step 0 of 2
    assert groups["decay"]["lr"] == pytest.approx(1e-3 * 0.5)
    assert groups["no_decay"]["weight_decay"] == 0.0
    n_text = sum(p.numel() for g in ("text_decay", "text_no_decay") for p in groups[g]["params"])
    assert n_text == sum(p.numel() for p in module.model.text_encoder.backbone.parameters())
    # plain hyper-parameters only (the checkpoint loads with weights_only=True)
    assert module.hparams["model_config"]["freeze_text"] is False


def test_optimiser_follows_the_parameters():
    import geoopt
    from geoopt.optim import RiemannianAdam
    from torch import nn

    from cxrgraph.models import GraphAlignModel

    # the hyperbolic encoder keeps its biases in the tangent space: every parameter is Euclidean
    module = GraphAlignPretrainer(tiny_config(graph_encoder="hyperbolic").to_dict())
    assert type(module.configure_optimizers()["optimizer"]) is torch.optim.AdamW

    class BallGNN(nn.Module):
        """A graph encoder of one's own with a point on a Poincaré ball as a parameter."""

        def __init__(self) -> None:
            super().__init__()
            self.ball = geoopt.PoincareBall()
            self.centre = geoopt.ManifoldParameter(torch.zeros(32), manifold=self.ball)

        def forward(self, x_dict, edge_index_dict, edge_attr_dict=None):
            return {t: x + self.ball.logmap0(self.centre) for t, x in x_dict.items()}

    model = GraphAlignModel(tiny_config(), graph_encoder=BallGNN())
    opt = GraphAlignPretrainer(model=model).configure_optimizers()["optimizer"]
    assert isinstance(opt, RiemannianAdam)
    manifold = next(g for g in opt.param_groups if g["name"] == "manifold")
    assert manifold["params"] == [model.graph_encoder.centre]
    with pytest.raises(ValueError, match="scheduler"):
        GraphAlignPretrainer(tiny_config().to_dict(), scheduler="linear")
    with pytest.raises(ValueError, match="not both"):
        GraphAlignPretrainer(tiny_config().to_dict(), model=model)


def test_fit_logs_losses_and_checkpoint_loads_weights_only(tmp_path):
    samples = phantom_studies()
    cfg = tiny_config(loss_weights={"global": 1.0, "cascade": 1.0, "image_tag": 0.5}).to_dict()
    torch.manual_seed(0)
    module = GraphAlignPretrainer(cfg, lr=1e-3)
    before = {k: v.clone() for k, v in module.model.image_encoder.state_dict().items()}
    data = GraphAlignDataModule(image_size=64, batch_size=3, samples={"train": samples[:6], "val": samples[:3]})
    trainer = _trainer(tmp_path, limit_val_batches=1)
    trainer.fit(module, datamodule=data)
    assert trainer.global_step == 2
    for key in ("train/loss", "train/global", "train/cascade", "train/image_tag", "val/loss", "val/i2t_R@1"):
        assert key in trainer.callback_metrics, key
    after = module.model.image_encoder.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    path = tmp_path / "run.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["hyper_parameters"]["model_config"] == cfg
    model = GraphAlignModel.from_pretrained(path)
    for k, v in module.model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
