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
