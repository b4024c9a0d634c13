"""The one validation path of typed configs: keys, value types, YAML files and --set overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pytest

from cxrgraph.utils.config import ConfigError, apply_overrides, build, check_types, config_to_dict, read_yaml


@dataclass
class Inner:
    channels: int = 8
    lr: float = 1e-3
    mode: Literal["min", "max"] = "min"
    devices: int | str | list[int] = "auto"
    sizes: tuple[int, int] = (1, 3)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.channels < 1:
            raise ValueError(f"channels: must be >= 1, got {self.channels}")


@dataclass
class Outer:
    RENAMED: ClassVar[dict[str, str]] = {"out": "output_dir"}

    output_dir: str = "runs"
    verbose: bool = False
    inner: Inner = field(default_factory=Inner)
    limit: int | float | None = None


def test_values_are_checked_and_converted():
    cfg = build(Outer, {"inner": {"channels": 4, "lr": 1, "sizes": [2, 4], "devices": [0, 1]}, "limit": 0.5})
    assert cfg.inner.lr == 1.0 and isinstance(cfg.inner.lr, float)
    assert cfg.inner.sizes == (2, 4) and cfg.inner.devices == [0, 1] and cfg.limit == 0.5
    assert build(Outer, {"limit": 3}).limit == 3 and build(Outer, None) == Outer()
    # YAML 1.1 reads 1e-3 as a string: a float field takes it as the number it means
    assert build(Inner, {"lr": "5e-4"}).lr == pytest.approx(5e-4)
    # a dict[str, Any] field is passed on unchecked (nested plug-in specs)
    spec = {"class_path": "mypkg.MyGNN", "init_args": {"hidden": 4}}
    assert build(Inner, {"extra": {"gnn": spec}}).extra["gnn"] == spec
    assert config_to_dict(cfg)["inner"]["sizes"] == [2, 4]


@pytest.mark.parametrize(
    ("values", "message", "key"),
    [
        ({"inner": {"channels": "32"}}, r"inner\.channels: expected an integer, got '32'", "inner.channels"),
        ({"inner": {"lr": "fast"}}, r"inner\.lr: expected a number, got 'fast'", "inner.lr"),
        ({"inner": {"channels": True}}, r"expected an integer, got True", "inner.channels"),
        ({"verbose": "yes"}, r"verbose: expected true or false, got 'yes'", "verbose"),
        ({"inner": {"mode": "avg"}}, r"inner\.mode: expected one of 'min', 'max', got 'avg'", "inner.mode"),
        ({"inner": {"sizes": [1, 2, 3]}}, r"inner\.sizes: expected a list of 2 values", "inner.sizes"),
        ({"inner": {"sizes": [1, "x"]}}, r"inner\.sizes\[1\]: expected an integer", "inner.sizes[1]"),
        ({"inner": 3}, r"inner: expected a mapping", "inner"),
        (
            {"inner": {"chanels": 3}},
            r"inner: unknown key 'chanels' \(did you mean 'channels'\?\); valid keys: channels, ",
            "inner.chanels",
        ),
        ({"out": "x"}, r"out: this key was renamed; call it 'output_dir'", "out"),
        ({"inner": {"channels": 0}}, r"inner: channels: must be >= 1, got 0", "inner"),
        ({"limit": "all"}, r"limit: expected an integer or a number or null, got 'all'", "limit"),
    ],
)
def test_every_problem_names_the_key(values, message, key):
    with pytest.raises(ConfigError, match=message) as info:
        build(Outer, values)
    assert info.value.key == key


def test_check_types_leaves_unknown_keys_and_plugins_to_the_class():
    check_types(Inner, {"channels": 3, "nope": 1, "extra": {"class_path": "x.Y"}})
    with pytest.raises(ConfigError, match=r"model\.channels: expected an integer"):
        check_types(Inner, {"channels": "3"}, "model")


def test_yaml_files_are_named_in_every_error(tmp_path):
    path = tmp_path / "run.yaml"
    with pytest.raises(ConfigError, match=r"run\.yaml: no such config file"):
        read_yaml(path)
    path.write_text("")
    with pytest.raises(ConfigError, match=r"run\.yaml: the file is empty"):
        read_yaml(path)
    path.write_text("# only a comment\n")
    with pytest.raises(ConfigError, match="empty"):
        read_yaml(path)
    path.write_text("inner:\n  channels: 3\n lr: 2\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: not valid YAML \(line 3, column 2\)") as info:
        read_yaml(path)
    assert "<unicode string>" not in str(info.value)
    path.write_bytes(b"inner: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: not UTF-8"):
        read_yaml(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        read_yaml(path)


def test_overrides_set_nested_keys_and_are_checked_like_the_file():
    raw = apply_overrides({"inner": {"channels": 2}}, ["inner.lr=2e-3", "inner.extra.a.b=[1, 2]", "verbose=true"])
    cfg = build(Outer, raw)
    assert cfg.inner.lr == pytest.approx(2e-3) and cfg.inner.extra == {"a": {"b": [1, 2]}} and cfg.verbose
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["inner.lr"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["inner..lr=1"])
    with pytest.raises(ConfigError, match="'inner' is a value, not a section"):
        apply_overrides({"inner": 3}, ["inner.lr=1"])
    with pytest.raises(ConfigError, match="unknown key 'nosuch'"):
        build(Outer, apply_overrides({}, ["nosuch.key=1"]))
