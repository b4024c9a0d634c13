import json
from pathlib import Path

import networkx as nx
import pytest
import yaml

from cxrgraph.ontology import OntologyError, UnknownConceptError, get_ontology, load_ontology, normalize_term

DATA = Path(__file__).resolve().parents[2] / "data"

IMAGENOME_REGIONS = [
    "right lung", "right upper lung zone", "right mid lung zone", "right lower lung zone",
    "right hilar structures", "right apical zone", "right costophrenic angle", "right hemidiaphragm",
    "left lung", "left upper lung zone", "left mid lung zone", "left lower lung zone",
    "left hilar structures", "left apical zone", "left costophrenic angle", "left hemidiaphragm",
    "trachea", "spine", "right clavicle", "left clavicle", "aortic arch", "mediastinum",
    "upper mediastinum", "svc", "cardiac silhouette", "cavoatrial junction", "right atrium", "carina",
    "abdomen",
]  # fmt: skip

# Chest ImaGenome attribute labels (FORMATS.md) that a radiograph can show
IMAGENOME_FINDINGS = [
    "lung opacity", "airspace opacity", "consolidation", "infiltration", "atelectasis",
    "linear/patchy atelectasis", "lobar/segmental collapse", "pulmonary edema/hazy opacity",
    "vascular congestion", "vascular redistribution", "increased reticular markings/ild pattern",
    "pleural effusion", "costophrenic angle blunting", "pleural/parenchymal scarring", "bronchiectasis",
    "enlarged cardiac silhouette", "mediastinal displacement", "mediastinal widening", "enlarged hilum",
    "tortuous aorta", "vascular calcification", "pneumomediastinum", "pneumothorax", "hydropneumothorax",
    "lung lesion", "mass/nodule (not otherwise specified)", "multiple masses/nodules", "calcified nodule",
    "superior mediastinal mass/enlargement", "rib fracture", "clavicle fracture", "spinal fracture",
    "hyperaeration", "cyst/bullae", "elevated hemidiaphragm", "diaphragmatic eventration (benign)",
    "sub-diaphragmatic air", "subcutaneous air", "hernia", "scoliosis", "spinal degenerative changes",
    "shoulder osteoarthritis", "bone lesion", "pneumonia", "fluid overload/heart failure",
    "copd/emphysema", "granulomatous disease", "interstitial lung disease", "goiter", "lung cancer",
    "aspiration", "alveolar hemorrhage", "pericardial effusion", "low lung volumes", "rotated", "artifact",
    "breast/nipple shadows", "skin fold", "chest tube", "mediastinal drain", "pigtail catheter",
    "endotracheal tube", "tracheostomy tube", "picc", "ij line", "chest port", "subclavian line",
    "swan-ganz catheter", "intra-aortic balloon pump", "enteric tube", "sternotomy wires", "cabg grafts",
    "aortic graft/repair", "prosthetic valve", "cardiac pacer and wires",
]  # fmt: skip

CHEXPERT14 = [
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
    "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax", "Support Devices",
]  # fmt: skip
CHESTXRAY14 = [
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
    "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
]  # fmt: skip


@pytest.fixture(scope="module")
def onto():
    return get_ontology()


def test_regions_are_the_29_chest_imagenome_regions_in_fixed_order(onto):
    assert onto.region_names == tuple(IMAGENOME_REGIONS)
    assert [r.index for r in onto.regions] == list(range(29))


def test_names_are_unique(onto):
    assert len(set(onto.region_names)) == 29
    assert len(set(onto.finding_names)) == onto.num_findings


def test_every_synonym_names_one_concept(onto):
    # the loader raises on a clash; here check the tables it built are consistent with the records
    for key, idx in onto.finding_synonyms().items():
        f = onto.findings[idx]
        assert key == f.name or key in f.synonyms
    for key, idx in onto.region_synonyms().items():
        r = onto.regions[idx]
        assert key == r.name or key in r.synonyms


def test_finding_vocabulary_covers_chest_imagenome(onto):
    missing = [name for name in IMAGENOME_FINDINGS if not onto.has_finding(name)]
    assert not missing
    assert onto.num_findings >= len(IMAGENOME_FINDINGS)
    assert {f.category for f in onto.findings} == {
        "anatomicalfinding",
        "disease",
        "technicalassessment",
        "tubesandlines",
        "device",
    }


def test_hierarchy_is_a_tree_under_the_chest_root(onto):
    g = nx.DiGraph()
    g.add_node("chest")
    for r in onto.regions:
        g.add_edge(r.parent or "chest", r.name)
    assert nx.is_arborescence(g)
    assert {r.name for r in onto.children("right lung")} == {
        "right upper lung zone",
        "right mid lung zone",
        "right lower lung zone",
        "right hilar structures",
    }
    assert [a.name for a in onto.ancestors("right apical zone")] == ["right upper lung zone", "right lung"]
    assert "left costophrenic angle" in {d.name for d in onto.descendants("left lung")}


def test_adjacency_is_symmetric_and_not_part_of(onto):
    pairs = set(onto.adjacent_pairs())
    assert all((b, a) in pairs for a, b in pairs)
    assert all(a != b for a, b in pairs)
    part_of = set(onto.part_of_pairs())
    assert not ({(a, b) for a, b in pairs} & (part_of | {(p, c) for c, p in part_of}))


def test_default_regions_and_mapping_targets_exist(onto):
    for f in onto.findings:
        assert f.default_regions, f.name
        assert all(onto.has_region(n) for n in f.default_regions)
    assert onto.default_regions("cardiomegaly")[0].name == "cardiac silhouette"
    for vocab, labels in (("chexpert14", CHEXPERT14), ("chestxray14", CHESTXRAY14)):
        assert set(onto.vocabulary(vocab)) == set(labels)
        for label in labels:
            for f in onto.findings_for(vocab, label):
                assert onto.has_finding(f.name)
    devices = onto.findings_for("chexpert14", "Support Devices")
    assert {f.category for f in devices} == {"tubesandlines", "device"}
    assert onto.labels_for("chestxray14", "pleural effusion") == ("Effusion",)
    assert onto.findings_for("imagenome", "lung opacity")[0].name == "lung opacity"
    assert onto.radgraph_labels["OBS-DA"] == ("finding", "absent")
    assert onto.radgraph_labels["Observation::uncertain"] == ("finding", "uncertain")


@pytest.mark.parametrize(
    ("phrase", "region"),
    [
        ("left base", "left lower lung zone"),
        ("Retrocardiac", "left lower lung zone"),
        ("right apex", "right apical zone"),
        ("RUL", "right upper lung zone"),
        ("lingula", "left mid lung zone"),
        ("aortic knob", "aortic arch"),
        ("heart", "cardiac silhouette"),
        ("  Left   Costophrenic  Angle ", "left costophrenic angle"),
    ],
)
def test_region_synonyms(onto, phrase, region):
    assert onto.region(phrase).name == region


@pytest.mark.parametrize(
    ("phrase", "finding"),
    [
        ("enlarged cardiac silhouette", "enlarged cardiac silhouette"),
        ("cardiomegaly", "enlarged cardiac silhouette"),
        ("blunting of the costophrenic angle", "costophrenic angle blunting"),
        ("effusion", "pleural effusion"),
        ("ETT", "endotracheal tube"),
        ("Dobhoff", "feeding tube"),
        ("orogastric tube", "enteric tube"),
        ("emphysema", "emphysema"),
        ("COPD", "copd/emphysema"),
        ("granuloma", "granuloma"),
        ("old granulomatous disease", "granulomatous disease"),
        ("bibasilar atelectasis", "atelectasis"),
    ],
)
def test_finding_synonyms(onto, phrase, finding):
    assert onto.finding(phrase).name == finding


def test_sided_terms_combine_with_a_side(onto):
    assert onto.sided_region("bases", "left").name == "left lower lung zone"
    assert onto.sided_region("apices", "right").name == "right apical zone"
    assert onto.sided_region("costophrenic angles", "right").name == "right costophrenic angle"
    with pytest.raises(ValueError, match="side"):
        onto.sided_region("base", "bilateral")


def test_unknown_names_raise_with_suggestions(onto):
    with pytest.raises(UnknownConceptError) as err:
        onto.finding("pnemothorax")
    assert "pneumothorax" in str(err.value)
    assert "unknown finding 'pnemothorax'" in str(err.value)
    with pytest.raises(UnknownConceptError, match="did you mean 'left lung'"):
        onto.region("left lunj")
    with pytest.raises(UnknownConceptError, match="region index"):
        onto.region(29)
    with pytest.raises(UnknownConceptError, match="existence label"):
        onto.label_index("existence", "probable")
    with pytest.raises(TypeError, match="name, synonym or index"):
        onto.finding(3.5)


def test_label_sets_and_codes(onto):
    assert onto.labels["existence"] == ("absent", "present", "uncertain")
    assert onto.labels["progression"] == ("improved", "no change", "worsened")
    assert onto.label_index("severity", "Moderate") == 2
    assert onto.label_name("change", 3) == "improved"
    assert onto.progression_of_change("new") == onto.label_index("progression", "worsened")
    assert onto.progression_of_change("resolved") == onto.label_index("progression", "improved")
    assert onto.progression_of_change("unspecified") == -1
    assert onto.relation("located_at").edge_type == ("finding", "located_at", "anatomy")


def test_declared_fingerprint_matches_data(onto):
    # reordering regions, findings or label sets must come with a new declared version + fingerprint
    assert onto.declared_fingerprint == onto.fingerprint, (
        f"data/ontology.yaml fingerprint is stale: set it to {onto.fingerprint} and bump the version"
    )
    assert onto.version == f"{onto.declared_version}+{onto.fingerprint}"


def _copy_data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "mappings").mkdir(parents=True)
    for p in DATA.glob("*.yaml"):
        (root / p.name).write_text(p.read_text())
    for p in (DATA / "mappings").glob("*.csv"):
        (root / "mappings" / p.name).write_text(p.read_text())
    return root


def test_version_changes_when_the_order_changes(tmp_path):
    base = load_ontology()
    root = _copy_data(tmp_path)
    doc = yaml.safe_load((root / "findings.yaml").read_text())
    doc["findings"][0], doc["findings"][1] = doc["findings"][1], doc["findings"][0]
    (root / "findings.yaml").write_text(yaml.safe_dump(doc))
    swapped = load_ontology(root)
    assert swapped.version != base.version
    assert swapped.finding_names[0] == base.finding_names[1]


def test_inconsistent_data_is_rejected_with_the_culprit_named(tmp_path):
    root = _copy_data(tmp_path)
    doc = yaml.safe_load((root / "findings.yaml").read_text())
    doc["findings"][0]["default_regions"] = ["left lungg"]
    (root / "findings.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(OntologyError, match=r"lung opacity.*left lungg"):
        load_ontology(root)

    root2 = _copy_data(tmp_path / "b")
    doc = yaml.safe_load((root2 / "findings.yaml").read_text())
    doc["findings"][1]["synonyms"].append("pneumothorax")
    (root2 / "findings.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(OntologyError, match="'pneumothorax' names both"):
        load_ontology(root2)


def test_normalize_term():
    assert normalize_term("  Left\tBASE  ") == "left base"


def test_ontology_import_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, cxrgraph.ontology as o; o.get_ontology(); print(json.dumps('torch' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", "import json;" + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) is False


def test_existence_cues_are_data_and_checked(tmp_path, onto):
    # the parser's negation and uncertainty triggers live in labels.yaml beside the other cues
    assert "no evidence of" in onto.existence_cues["negation_before"]
    assert "cannot be excluded" in onto.existence_cues["uncertainty_after"]
    # coordinators join alternatives and never decide: they are not listed as triggers
    assert not {"or", "versus", "vs", "either"} & {w for v in onto.existence_cues.values() for w in v}
    cases = [
        (lambda c: c["negation_before"].append("no evidence of"), r"negation_before lists \['no evidence of'\]"),
        (lambda c: c.pop("affirm"), r"lacks \['affirm'\]"),
        (lambda c: c.__setitem__("negation_sideways", ["no"]), r"unknown lists \['negation_sideways'\]"),
        (lambda c: c["pseudo"].append("no evidence of"), r"\['no evidence of'\] both in pseudo"),
    ]
    for k, (edit, message) in enumerate(cases):
        root = _copy_data(tmp_path / str(k))
        doc = yaml.safe_load((root / "labels.yaml").read_text())
        edit(doc["existence_cues"])
        (root / "labels.yaml").write_text(yaml.safe_dump(doc))
        with pytest.raises(OntologyError, match=message):
            load_ontology(root)


# findings reports name often that Chest ImaGenome folds into a broader one: (finding, parent, a report phrase)
KINDS = [
    ("granuloma", "calcified nodule", "calcified granuloma"),
    ("hiatal hernia", "hernia", "hiatus hernia"),
    ("emphysema", "copd/emphysema", "emphysematous changes"),
    ("infection", "pneumonia", "infectious process"),
    ("central venous catheter", "ij line", "central line"),
    ("dialysis catheter", "ij line", "hemodialysis catheter"),
    ("defibrillator", "cardiac pacer and wires", "AICD"),
    ("loop recorder", "cardiac pacer and wires", "implantable loop recorder"),
    ("nasogastric tube", "enteric tube", "NG tube"),
    ("feeding tube", "enteric tube", "Dobhoff tube"),
    ("surgical clips", "cabg grafts", "surgical clips"),
    ("volume loss", "atelectasis", "loss of lung volume"),
    ("hazy opacity", "pulmonary edema/hazy opacity", "haziness"),
]


@pytest.mark.parametrize(("finding", "parent", "phrase"), KINDS)
def test_new_kinds_keep_their_chest_imagenome_parent(onto, finding, parent, phrase):
    f = onto.finding(phrase)
    assert f.name == finding and f.parent == parent
    assert onto.finding_parent(finding).name == parent and onto.finding_root(finding).name == parent
    assert f in onto.finding_children(parent)
    # the Chest ImaGenome attribute of the kind is its parent's
    assert onto.labels_for("imagenome", finding) == (parent,)
    assert onto.finding_roots[f.index] == onto.finding_index(parent)
    # appended after the original 80 findings: existing indices keep their meaning
    assert f.index >= len(IMAGENOME_FINDINGS) + 5


def test_new_kinds_map_to_the_labels_their_vocabularies_count(onto):
    # ChestX-ray14 (NegBio / MeSH) counts emphysema, not COPD; a hiatal hernia is a hernia
    assert onto.labels_for("chestxray14", "emphysema") == ("Emphysema",)
    assert onto.labels_for("chestxray14", "copd/emphysema") == ()
    assert onto.labels_for("chestxray14", "hiatal hernia") == ("Hernia",)
    assert onto.labels_for("chestxray14", "infection") == ()
    assert onto.labels_for("chestxray14", "granuloma") == ()
    # CheXpert's labeller counts an infection as pneumonia; every device kind is a support device
    assert onto.labels_for("chexpert14", "infection") == ("Pneumonia",)
    for name in ("central venous catheter", "dialysis catheter", "defibrillator", "loop recorder", "nasogastric tube"):
        assert onto.labels_for("chexpert14", name) == ("Support Devices",)
    assert onto.labels_for("chexpert14", "surgical clips") == ("Support Devices",)
    # a finding of Chest ImaGenome's own level maps to itself
    assert onto.labels_for("imagenome", "calcified nodule") == ("calcified nodule",)
    assert onto.finding("mass/nodule (not otherwise specified)").either_of == ("mass", "nodule")
    # edema and atelectasis are counted, not the haze or the volume loss that may come with them
    assert onto.labels_for("chestxray14", "hazy opacity") == onto.labels_for("chestxray14", "volume loss") == ()
    # cystic fibrosis is not pulmonary fibrosis, and not a Chest ImaGenome finding
    cf = onto.finding("cystic fibrosis")
    assert cf.parent is None and onto.labels_for("chestxray14", cf.name) == onto.labels_for("imagenome", cf.name) == ()


def test_bad_parents_and_alternatives_are_rejected(tmp_path):
    def edited(k, change):
        root = _copy_data(tmp_path / str(k))
        doc = yaml.safe_load((root / "findings.yaml").read_text())
        change({f["name"]: f for f in doc["findings"]})
        (root / "findings.yaml").write_text(yaml.safe_dump(doc))
        return root

    with pytest.raises(OntologyError, match="'granuloma': parent 'calcified nodul' is not a finding"):
        load_ontology(edited(0, lambda f: f["granuloma"].update(parent="calcified nodul")))
    with pytest.raises(OntologyError, match="parent 'granuloma' has a parent itself"):
        load_ontology(edited(1, lambda f: f["hiatal hernia"].update(parent="granuloma")))
    with pytest.raises(OntologyError, match="either_of names 'nodul'"):
        load_ontology(
            edited(2, lambda f: f["mass/nodule (not otherwise specified)"].update(either_of=["mass", "nodul"]))
        )
