import json
import subprocess
import sys

import cxrgraph


def _modules_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_cxrgraph_is_lazy():
    mods = _modules_after("import cxrgraph")
    assert not {"torch", "lightning", "pytorch_lightning", "stanza"} & mods


def test_graph_layer_never_imports_lightning_or_stanza():
    mods = _modules_after("import cxrgraph.graph")
    assert "torch_geometric" in mods
    assert not {"lightning", "pytorch_lightning", "stanza"} & mods


def test_lazy_attributes_resolve():
    assert cxrgraph.get_ontology().num_regions == 29
    assert cxrgraph.ClinicalGraph.__name__ == "ClinicalGraph"
    assert "graph" in dir(cxrgraph)


def test_every_listed_subpackage_resolves_without_being_imported_first():
    script = (
        "import cxrgraph, importlib\n"
        "subs = [n for n in cxrgraph.__all__ if not n.startswith('_') and n.islower() and '_' not in n]\n"
        "for n in subs:\n"
        "    assert importlib.util.find_spec(f'cxrgraph.{n}') is not None, n\n"
        "import cxrgraph as c\n"
        "assert c.models.GraphAlignModel.__name__ == 'GraphAlignModel'\n"
        "print('ok', len(subs))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "metrics" not in cxrgraph.__all__  # metrics live in cxrgraph.eval and cxrgraph.temporal


def test_public_names_resolve_and_show_in_dir():
    import importlib

    for pkg in ("cxrgraph", "cxrgraph.datasets", "cxrgraph.image", "cxrgraph.train", "cxrgraph.temporal"):
        module = importlib.import_module(pkg)
        assert set(module.__all__) - {"__version__"} <= set(dir(module)), pkg
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{pkg}.{name}"
    try:
        cxrgraph.no_such_thing  # noqa: B018
    except AttributeError as err:
        assert "no_such_thing" in str(err)
    else:
        raise AssertionError("an unknown attribute must raise AttributeError")
