import json

import pytest
import torch

from cxrgraph.datasets.cache import GraphCache
from cxrgraph.datasets.errors import CacheCorruptError, StaleCacheError
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
        ".lock",  # held while building
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


# ---------------------------------------------------------------- damaged caches and changed inputs
def _built(tmp_path, n=6, shard_size=2, **kwargs):
    cache = GraphCache(tmp_path / "c", shard_size=shard_size)
    assert cache.build(list(range(n)), make, ids=[f"s{i}" for i in range(n)], **kwargs) == []
    return cache


def test_report_graphs_read_back_from_a_cache_serialise_to_json(tmp_path):
    from cxrgraph.text import ReportGraph, ReportTriplet, parse_report

    texts = ["FINDINGS: Left basilar opacity may represent pneumonia. No effusion.", "IMPRESSION: Mild cardiomegaly."]
    cache = GraphCache(tmp_path / "c")
    cache.build(texts, parse_report, ids=["a", "b"])
    for i, text in enumerate(texts):
        back = cache[i]
        assert isinstance(back, ReportGraph) and isinstance(back.triplets[0], ReportTriplet)
        assert back.to_json() == parse_report(text).to_json()
    # a cache written before named tuples were kept holds plain tuples: still readable
    from cxrgraph.datasets.records import graph_to_record, record_to_graph

    record = graph_to_record(parse_report(texts[0]))
    record["global"]["report_triplets"] = [{"__tuple__": t["fields"]} for t in record["global"]["report_triplets"]]
    assert record_to_graph(record).to_json() == parse_report(texts[0]).to_json()


def test_swapped_shard_files_are_refused_not_served_under_wrong_ids(tmp_path):
    _built(tmp_path, n=4)
    a, b = tmp_path / "c" / "shard-00000.pt", tmp_path / "c" / "shard-00001.pt"
    assert a.stat().st_size == b.stat().st_size  # same size: only the stored ids tell them apart
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    with pytest.raises(CacheCorruptError, match=r"c: shard-00000\.pt holds other graphs.*\['s2', 's3'\]"):
        GraphCache(tmp_path / "c")[0]


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_a_damaged_shard_names_the_cache_and_a_build_repairs_it(tmp_path, damage):
    cache = _built(tmp_path)
    shard = tmp_path / "c" / "shard-00001.pt"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    with pytest.raises(CacheCorruptError, match=rf"graph cache {tmp_path / 'c'}: shard-00001\.pt has \d+ bytes"):
        GraphCache(tmp_path / "c")[2]
    calls = []
    cache.build(list(range(6)), lambda i: calls.append(i) or make(i), ids=[f"s{i}" for i in range(6)])
    assert calls == [2, 3]  # only the damaged shard is converted again
    assert GraphCache(tmp_path / "c")[2].equals(make(2))


def test_a_damaged_shard_with_its_size_unknown_still_names_the_cache(tmp_path):
    _built(tmp_path)
    manifest = tmp_path / "c" / "manifest.json"
    doc = json.loads(manifest.read_text())
    del doc["shards"]["1"]["bytes"]  # as written before sizes were recorded
    manifest.write_text(json.dumps(doc))
    (tmp_path / "c" / "shard-00001.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(CacheCorruptError, match=r"shard-00001\.pt is unreadable"):
        GraphCache(tmp_path / "c")[3]


def test_a_corrupt_manifest_names_the_cache_and_a_build_repairs_it(tmp_path):
    cache = _built(tmp_path)
    (tmp_path / "c" / "manifest.json").write_text('{"format": 2, "shards": {"0": ')
    with pytest.raises(CacheCorruptError, match=rf"graph cache {tmp_path / 'c'}: manifest\.json is unreadable"):
        len(GraphCache(tmp_path / "c"))
    (tmp_path / "c" / "manifest.json").write_text("[1, 2]")
    with pytest.raises(CacheCorruptError, match="not a graph cache manifest"):
        _ = GraphCache(tmp_path / "c").ids
    with pytest.warns(UserWarning, match="rebuilding"):
        cache.build(list(range(6)), make, ids=[f"s{i}" for i in range(6)])
    assert len(GraphCache(tmp_path / "c")) == 6


def test_a_build_removes_the_temporary_files_a_killed_build_left(tmp_path):
    cache = _built(tmp_path)
    orphans = [tmp_path / "c" / ".shard-00002.pt.k3j2h1.tmp", tmp_path / "c" / ".manifest.json.x9y8.tmp"]
    for p in orphans:
        p.write_bytes(b"half written")
    keep = tmp_path / "c" / "notes.tmp"  # not a file the cache writes
    keep.write_text("mine")
    cache.build(list(range(6)), make, ids=[f"s{i}" for i in range(6)])
    assert not any(p.exists() for p in orphans) and keep.exists()


def test_edited_inputs_are_converted_again_and_only_their_shard(tmp_path):
    ids = [f"s{i}" for i in range(6)]
    cache = _built(tmp_path, fingerprints=["v1"] * 6)
    calls = []

    def convert(i):
        calls.append(i)
        return make(i + 100) if i == 4 else make(i)

    cache.build(list(range(6)), convert, ids=ids, fingerprints=["v1"] * 6)
    assert calls == []  # nothing changed: nothing converted, nothing written
    key = GraphCache(tmp_path / "c").content_key
    cache.build(list(range(6)), convert, ids=ids, fingerprints=["v1"] * 4 + ["v2", "v1"])
    assert calls == [4, 5]
    assert GraphCache(tmp_path / "c").content_key != key  # files derived from the cache see the change
    assert GraphCache(tmp_path / "c")[4].equals(make(104))
    with pytest.raises(ValueError, match="6 items but 5 fingerprints"):
        cache.build(list(range(6)), convert, ids=ids, fingerprints=["v1"] * 5)


def test_one_build_at_a_time_so_a_live_build_keeps_its_temporary_files(tmp_path):
    import threading
    import time

    cache = _built(tmp_path)
    in_flight = tmp_path / "c" / ".shard-00001.pt.live.tmp"
    other = threading.Thread(target=lambda: GraphCache(tmp_path / "c").build(list(range(6)), make, ids=cache.ids))
    with cache._build_lock():  # a build in another process holds the lock and is writing
        in_flight.write_bytes(b"being written")
        other.start()
        time.sleep(0.3)
        assert in_flight.exists()  # the second build waits instead of deleting it
    other.join()
    assert not in_flight.exists()  # once the first build is gone, it was an orphan
