import pytest
import torch
from models.helpers import phantom_studies

from cxrgraph.datasets import ShardBlockSampler, StudyTableDataset, collate_skipping
from cxrgraph.models import AlignBatch
from cxrgraph.train import GraphAlignDataModule


def test_shard_block_sampler_reads_few_shards_at_a_time():
    shards = [i // 10 for i in range(50)]  # 5 shards of 10 items
    sampler = ShardBlockSampler(shards, mix=2, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(50)) and len(sampler) == 50
    # consecutive windows of 20 items come from at most 2 shards
    for start in (0, 20):
        assert len({shards[i] for i in first[start : start + 20]}) <= 2
    assert list(sampler) == first  # same epoch, same order (every DDP rank agrees)
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_phantom_datamodule_given_samples_and_errors():
    samples = phantom_studies()
    dm = GraphAlignDataModule(image_size=48, batch_size=2, samples={"train": samples[:4], "val": samples[4:]})
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert isinstance(batch, AlignBatch) and batch.images.shape == (2, 1, 48, 48)
    assert len(list(dm.val_dataloader())) == 1
    with pytest.raises(ValueError, match="test"):
        dm.test_dataloader()
    with pytest.raises(ValueError, match="source"):
        GraphAlignDataModule(source="openi")
    with pytest.raises(ValueError, match="at least 2"):
        GraphAlignDataModule(batch_size=1)
    with pytest.raises(ValueError, match="root"):
        GraphAlignDataModule(source="mimic")


def test_phantom_source_splits_by_patient(tmp_path):
    dm = GraphAlignDataModule(
        image_size=64, batch_size=2, num_patients=6, studies_per_patient=(1, 2), val_fraction=0.2,
        test_fraction=0.2, cache_dir=str(tmp_path),
    )  # fmt: skip
    dm.prepare_data()
    dm.setup()
    ids = {k: {s.study_id for s in v.samples} for k, v in dm.datasets.items()}
    subjects = {k: {s.subject_id for s in v.samples} for k, v in dm.datasets.items()}
    assert all(ids[k] for k in ("train", "val", "test"))
    assert not (subjects["train"] & subjects["val"]) and not (subjects["train"] & subjects["test"])
    # the cache holds the rendered studies and the parsed reports; a second module reads them
    assert any(p.suffix == ".pt" for p in tmp_path.iterdir())
    again = GraphAlignDataModule(image_size=64, batch_size=2, num_patients=6, studies_per_patient=(1, 2),
                                 val_fraction=0.2, test_fraction=0.2, cache_dir=str(tmp_path))  # fmt: skip
    again.setup()
    a, b = dm.datasets["train"].samples[0], again.datasets["train"].samples[0]
    assert a.study_id == b.study_id and torch.equal(a.image, b.image) and a.report.equals(b.report)


@pytest.fixture(scope="module")
def phantom_tree(tmp_path_factory):
    from cxrgraph.datasets.phantom import PhantomCohort, write_phantom

    root = tmp_path_factory.mktemp("tree")
    write_phantom(root, PhantomCohort(8, size=64, seed=2))
    return root


def test_mimic_source_reads_a_tree_on_disk(phantom_tree, tmp_path):
    dm = GraphAlignDataModule(source="mimic", root=str(phantom_tree), image_size=48, batch_size=2,
                              cache_dir=str(tmp_path / "cache"))  # fmt: skip
    dm.prepare_data()
    dm.setup("fit")
    train = dm.datasets["train"]
    assert isinstance(train, StudyTableDataset) and len(train) > 2
    assert train.table.skipped == []
    assert train.table.labels is not None and (train.table.labels >= 0).any()  # CheXpert labels, mapped
    batch = next(iter(dm.train_dataloader()))
    assert batch.images.shape == (2, 1, 48, 48)
    assert batch.present.any() and torch.isfinite(batch.boxes).all()
    assert any(batch.sentences)


def test_unreadable_images_are_skipped_not_fatal(phantom_tree, tmp_path, caplog):
    dm = GraphAlignDataModule(source="mimic", root=str(phantom_tree), image_size=48, batch_size=2,
                              cache_dir=str(tmp_path / "cache"))  # fmt: skip
    dm.setup("fit")
    ds = dm.datasets["train"]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    ds.table.image_paths[0] = str(bad)
    assert ds[0] is None
    batch = collate_skipping([ds[0], ds[1], ds[2]])
    assert len(batch) == 2 and "dropped 1" in caplog.text
    assert collate_skipping([None]) is None
