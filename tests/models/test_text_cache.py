import dataclasses
import logging

import pytest
import torch

from cxrgraph.models import (
    GraphAlignModel,
    ReportTextFeatures,
    TextFeatureCache,
    TextFeatureError,
    attach_text_features,
    collate_align,
    encode_report_features,
    text_encoder_key,
)
from cxrgraph.text import version

from .helpers import phantom_studies, tiny_config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GraphAlignModel(tiny_config()).eval()


def _fresh(studies):
    """Copies without features (the phantom studies are shared by the whole test session)."""
    return [dataclasses.replace(s, text_features=None) for s in studies]


def _counting(encoder):
    calls = []

    def encode(chunk):
        calls.append(len(chunk))
        return encode_report_features(encoder, chunk)

    return encode, calls


def test_stored_features_give_the_same_text_graph(model):
    studies = _fresh(phantom_studies()[:4])
    plain = collate_align(studies)
    assert plain.text_features is None
    attach_text_features(studies, model.text_encoder)
    stored = collate_align(studies)
    assert stored.sentence_features.size(0) == sum(len(s) for s in stored.sentences)
    assert stored.mention_features.size(0) == stored.mentions.size(0)
    a = model.encode_text(
        plain.sentences, plain.region_sentence_mask, plain.mentions, plain.existence, plain.located_at
    )
    b = model.encode_text(
        stored.sentences,
        stored.region_sentence_mask,
        stored.mentions,
        stored.existence,
        stored.located_at,
        features=stored.text_features,
    )
    # stored in float16: equal to that precision
    for name in ("anatomy", "finding", "summary", "tokens"):
        assert torch.allclose(getattr(a, name), getattr(b, name), atol=5e-3), name


def test_cache_hit_miss_and_keys(model, tmp_path, monkeypatch):
    studies = phantom_studies()
    reports, ids = [s.report for s in studies], [s.study_id for s in studies]
    encode, calls = _counting(model.text_encoder)
    cache = TextFeatureCache.for_encoder(tmp_path, model.text_encoder, shard_size=4)
    assert cache.build(reports, ids, encode) == len(reports)  # miss: everything encoded
    assert cache.build(reports, ids, encode) == 0  # hit: nothing encoded again
    assert sum(calls) == len(reports)
    again = TextFeatureCache.for_encoder(tmp_path, model.text_encoder, shard_size=4)
    assert again.build(reports, ids, encode) == 0  # a new process reads what is on disk
    direct = encode_report_features(model.text_encoder, reports[2:3])[0]
    assert torch.equal(again.get(2, ids[2]).sentences, direct.sentences)
    with pytest.raises(TextFeatureError, match="holds report"):
        again.get(2, ids[3])

    # another parser version: another key, so a miss (never a stale hit)
    monkeypatch.setattr(version, "parser_version", lambda backend="rules": f"{backend}-000000000000")
    edited = TextFeatureCache.for_encoder(tmp_path, model.text_encoder, shard_size=4)
    assert edited.directory != cache.directory
    assert edited.build(reports, ids, encode) == len(reports)
    monkeypatch.undo()

    # another encoder (a different token limit changes the features): another key
    longer = GraphAlignModel(tiny_config(max_length=40)).text_encoder
    assert text_encoder_key(longer) != text_encoder_key(model.text_encoder)
    assert TextFeatureCache.for_encoder(tmp_path, longer).directory != cache.directory


def test_parser_version_follows_the_rules(tmp_path, monkeypatch):
    import shutil

    text_dir = tmp_path / "text"
    shutil.copytree(version._TEXT_DIR, text_dir, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(version, "_TEXT_DIR", text_dir)
    monkeypatch.setattr(version, "_DATA_DIR", tmp_path / "data")
    version.parser_version.cache_clear()
    before = version.parser_version("rules")
    assert before.startswith("rules-") and version.parser_version("stanza") != before
    (text_dir / "modifiers.py").write_text((text_dir / "modifiers.py").read_text() + "\n# an edited rule\n")
    version.parser_version.cache_clear()
    assert version.parser_version("rules") != before
    monkeypatch.undo()
    version.parser_version.cache_clear()


def test_corrupt_shard_is_reported_and_rebuilt(model, tmp_path, caplog):
    studies = phantom_studies()
    reports, ids = [s.report for s in studies], [s.study_id for s in studies]
    encode, _ = _counting(model.text_encoder)
    cache = TextFeatureCache.for_encoder(tmp_path, model.text_encoder, shard_size=4)
    cache.build(reports, ids, encode)
    shard = cache.directory / "shard-00001.pt"
    shard.write_bytes(shard.read_bytes()[:100])  # truncated
    fresh = TextFeatureCache.for_encoder(tmp_path, model.text_encoder, shard_size=4)
    with pytest.raises(TextFeatureError, match=r"shard-00001\.pt"):
        fresh.get(5)
    with caplog.at_level(logging.WARNING):
        assert fresh.build(reports, ids, encode) == len(reports) - 4  # only the bad shard
    assert "shard-00001.pt" in caplog.text and "re-encoding" in caplog.text
    assert fresh.get(5, ids[5]).mentions.dtype == torch.float16
    assert not list(cache.directory.glob("*.tmp")) and not list(cache.directory.glob(".*"))


def test_attach_stores_and_collate_checks_the_report(model, tmp_path):
    studies = _fresh(phantom_studies()[:4])
    cache = attach_text_features(studies, model.text_encoder, tmp_path)
    assert cache is not None and len(cache) == 4
    assert all(s.text_features is not None for s in studies)
    f = studies[1].text_features
    studies[1].text_features = ReportTextFeatures(f.sentences[:-1], f.mentions)  # features of another parse
    with pytest.raises(ValueError, match=f"study {studies[1].study_id}: stored text features"):
        collate_align(studies)
