import pytest
import torch

from cxrgraph.datasets.cache import GraphCache
from cxrgraph.datasets.errors import StaleCacheError
from cxrgraph.graph import ClinicalGraph, Triplet

FINDINGS = ["lung opacity", "pleural effusion", "atelectasis", "nodule", "pneumothorax"]


def make(i: int) -> ClinicalGraph:
    g = ClinicalGraph.from_triplets(
        [Triplet("left lung", FINDINGS[i % 5], "present", i % 4)],
        study_id=f"s{i}",
        sentences=[f"sentence {i}", "second"],
        facts=[Triplet("left lung", FINDINGS[i % 5])],
    )
    g["anatomy"].x = torch.full((29, 3), float(i))
    return g


def test_build_read_back_exactly_and_bounded_memory(tmp_path):
    cache = GraphCache(tmp_path / "c", shard_size=4, max_open_shards=1)
    items = list(range(10))
    assert cache.build(items, make, ids=[f"s{i}" for i in items]) == []
    assert len(cache) == 10 and cache.ids[3] == "s3"
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "manifest.json",
        "shard-00000.pt",
        "shard-00001.pt",
        "shard-00002.pt",
    ]
    for i in (0, 9, 5, -1):
        assert cache[i].equals(make(i % 10))
    assert len(cache._open) == 1  # only one shard held in memory
    assert isinstance(cache[2].facts[0], Triplet)
    with pytest.raises(IndexError):
        cache[10]
    # shards are plain tensors and containers: they load with weights_only=True
    torch.load(tmp_path / "c" / "shard-00001.pt", weights_only=True)


def test_a_crashed_build_resumes_without_redoing_finished_shards(tmp_path):
    calls = []

    def crashing(i):
        calls.append(i)
        if i == 6:
            raise KeyboardInterrupt  # the process dies in the middle of shard 1
        return make(i)

    cache = GraphCache(tmp_path / "c", shard_size=4)
    with pytest.raises(KeyboardInterrupt):
        cache.build(list(range(10)), crashing)
    assert not cache.is_complete
    assert not list((tmp_path / "c").glob("*.tmp"))  # no half-written file left behind
    with pytest.raises(StaleCacheError, match="incomplete"):
        len(GraphCache(tmp_path / "c"))

    calls.clear()
    cache.build(list(range(10)), lambda i: calls.append(i) or make(i))
    assert calls == [4, 5, 6, 7, 8, 9]  # shard 0 was kept
    assert cache.is_complete and len(cache) == 10


def test_bad_items_are_recorded_and_the_rest_goes_on(tmp_path):
    def convert(i):
        if i == 2:
            raise ValueError("report s2 is empty")
        return None if i == 3 else make(i)

    cache = GraphCache(tmp_path / "c", shard_size=3)
    failures = cache.build(list(range(6)), convert, ids=[f"s{i}" for i in range(6)])
    assert [(f.id, f.reason) for f in failures] == [
        ("s2", "ValueError: report s2 is empty"),
        ("s3", "converter returned no graph"),
    ]
    assert cache.ids == ["s0", "s1", "s4", "s5"]
    assert [f.id for f in GraphCache(tmp_path / "c").failures] == ["s2", "s3"]


def test_other_inputs_trigger_a_rebuild_and_force_rebuilds(tmp_path):
    cache = GraphCache(tmp_path / "c", shard_size=2)
    cache.build([0, 1, 2], make, source_key="a")
    calls = []
    cache.build([0, 1, 2], lambda i: calls.append(i) or make(i), source_key="a")
    assert calls == []
    cache.build([0, 1], lambda i: calls.append(i) or make(i), source_key="b")
    assert calls == [0, 1] and len(cache) == 2
    cache.build([0, 1], lambda i: calls.append(i) or make(i), source_key="b", force=True)
    assert calls == [0, 1, 0, 1]


def test_records_refuse_foreign_classes(tmp_path):
    from cxrgraph.datasets.records import graph_to_record, record_to_graph

    rec = graph_to_record(make(1))
    rec["class"] = "os:system"
    with pytest.raises(ValueError, match="only cxrgraph classes"):
        record_to_graph(rec)
    g = make(1)
    g.bad = object()
    with pytest.raises(TypeError, match="cannot store a value of type object"):
        graph_to_record(g)
