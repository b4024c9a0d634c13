"""The phantom reports' words: region and finding phrases, severity and change words, fixed sentences.

Data only; the grammar engine is :mod:`cxrgraph.datasets.phantom.grammar` and the sentence
builders :mod:`cxrgraph.datasets.phantom.sentences`. Region and finding words are ontology
synonyms, severity words ontology severity cues and change words ontology change cues (the
tests check this), so a parser that knows the ontology can read the reports back.
"""

from __future__ import annotations

from cxrgraph.datasets.phantom.findings import DEVICE_FINDINGS
from cxrgraph.datasets.phantom.grammar import Alt, Node

__all__ = [
    "REGION_NOUNS",
    "REGION_ADJECTIVES",
    "FINDING_NOUNS",
    "COUNTABLE",
    "SEVERITY_WORDS",
    "SEVERITY_STYLE",
    "CHANGE_WORDS",
    "SINCE",
    "HEDGE_PRE",
    "HEDGE_POST",
    "INTERPRETATIONS",
    "CAUSE_NOUNS",
    "NEGATIVES",
    "NEGATIVE_GROUPS",
    "FILLERS",
    "FILLERS_NORMAL_HEART",
    "NORMAL_IMPRESSION",
    "REASONS",
]

#: region phrases usable after "the" ("in the right lower lobe"); every one is an ontology synonym
REGION_NOUNS: dict[str, tuple[str, ...]] = {}
#: region phrases usable before a finding noun ("right basilar opacity")
REGION_ADJECTIVES: dict[str, tuple[str, ...]] = {}
for _s in ("right", "left"):
    REGION_NOUNS[f"{_s} upper lung zone"] = tuple(
        f"{_s} {w}" for w in ("upper lung zone", "upper lobe", "upper lung", "upper zone", "upper lung field")
    )
    REGION_NOUNS[f"{_s} mid lung zone"] = tuple(
        f"{_s} {w}" for w in ("mid lung zone", "midlung", "mid lung", "mid zone", "mid lung field")
    ) + (("lingula",) if _s == "left" else ("right middle lobe",))
    REGION_NOUNS[f"{_s} lower lung zone"] = tuple(
        f"{_s} {w}" for w in ("lower lung zone", "lower lobe", "lung base", "base", "lower lung", "lower zone")
    )
    REGION_NOUNS[f"{_s} lung"] = (f"{_s} lung", f"{_s} hemithorax")
    REGION_NOUNS[f"{_s} costophrenic angle"] = tuple(
        f"{_s} {w}" for w in ("costophrenic angle", "costophrenic sulcus", "costophrenic recess")
    )
    REGION_ADJECTIVES[f"{_s} upper lung zone"] = (f"{_s} upper lobe", f"{_s} upper lung", f"{_s} upper zone")
    REGION_ADJECTIVES[f"{_s} mid lung zone"] = (f"{_s} midlung", f"{_s} mid lung") + (
        ("lingular",) if _s == "left" else ()
    )
    REGION_ADJECTIVES[f"{_s} lower lung zone"] = (f"{_s} basilar", f"{_s} basal", f"{_s} lower lobe") + (
        ("retrocardiac",) if _s == "left" else ()
    )
REGION_NOUNS["svc"] = ("svc", "superior vena cava", "mid svc", "lower svc")

#: finding nouns per phantom finding (ontology synonyms), and whether they take "a"
FINDING_NOUNS: dict[str, tuple[str, ...]] = {
    "lung opacity": ("opacity", "opacification", "parenchymal opacity", "pulmonary opacity", "airspace disease"),
    "consolidation": ("consolidation", "consolidative opacity", "airspace consolidation"),
    "atelectasis": ("atelectasis", "subsegmental atelectasis", "atelectatic change"),
    "mass/nodule (not otherwise specified)": ("nodular opacity", "nodular density", "rounded opacity"),
    "pleural effusion": ("pleural effusion", "effusion"),
    "pneumothorax": ("pneumothorax",),
    "pulmonary edema/hazy opacity": ("pulmonary edema", "interstitial edema", "edema", "interstitial pulmonary edema"),
    "enlarged cardiac silhouette": ("cardiomegaly", "enlargement of the cardiac silhouette", "cardiac enlargement"),
    "endotracheal tube": ("endotracheal tube", "et tube"),
    "enteric tube": ("enteric tube", "orogastric tube", "gastric tube", "og tube", "gastrostomy tube"),
    "picc": ("right picc", "picc line", "right-sided picc", "right arm picc", "peripherally inserted central catheter"),
    "ij line": (
        "internal jugular catheter",
        "ij catheter",
        "internal jugular central venous catheter",
        "ij central line",
    ),
    "chest tube": ("chest tube", "pleural drain", "thoracostomy tube"),
    "cardiac pacer and wires": ("pacemaker", "dual-chamber pacemaker", "pacer", "pacemaker/icd"),
}
#: findings that take "a"
COUNTABLE = {"mass/nodule (not otherwise specified)", "pleural effusion", "pneumothorax"}
COUNTABLE |= set(DEVICE_FINDINGS)

#: attributive severity words per style (ontology severity cues)
SEVERITY_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "density": {
        "mild": ("mild", "minimal", "slight", "subtle", "faint"),
        "moderate": ("moderate",),
        "severe": ("severe", "extensive", "marked", "dense"),
    },
    "size": {
        "mild": ("small", "trace", "tiny", "minimal"),
        "moderate": ("moderate", "moderate-sized", "medium-sized"),
        "severe": ("large", "large-sized", "massive"),
    },
    "grade": {"mild": ("mild",), "moderate": ("moderate",), "severe": ("severe", "marked")},
}
#: which severity style each finding takes (default ``"density"``)
SEVERITY_STYLE = {"pleural effusion": "size", "pneumothorax": "size", "enlarged cardiac silhouette": "grade"}

#: the change words of the comparison sentences (ontology change cues), by where they stand:
#: ``before`` the lesion's noun phrase ("increased right basilar opacity"), ``lead`` the sentence
#: ("interval increase in the ..."), ``after`` it ("... has increased since the prior study");
#: ``after_previous`` follows "the previously seen ...", and the ``device_*`` entries are used for
#: support devices. :func:`~cxrgraph.datasets.phantom.sentences.lesion_sentence` builds every
#: comparison sentence from these words and no others.
CHANGE_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "new": {
        "before": ("new",),
        "lead": ("interval development of",),
        "after": ("has developed", "is now seen", "has appeared"),
    },
    "worsened": {
        "after": ("has increased", "has worsened", "has progressed"),
        "lead": ("interval increase in the",),
        "before": ("increased",),
    },
    "improved": {
        "after": ("has decreased", "has improved"),
        "lead": ("interval improvement in the",),
        "before": ("decreased", "improved"),
    },
    "no change": {
        "before": ("unchanged", "stable", "persistent"),
        "after": ("is unchanged", "is stable", "is again seen", "remains"),
        "device_after": ("is unchanged in position", "remains in place", "is stable in position"),
        "device_lead": ("unchanged position of the",),
    },
    "resolved": {
        "after_previous": ("has resolved", "has cleared", "is no longer seen"),
        "lead": ("interval resolution of the",),
        "after": ("has resolved", "is no longer seen"),
        "device_after": ("has been removed",),
        "device_lead": ("interval removal of the",),
    },
}

SINCE = Alt(
    "",
    "since the prior study",
    "since the prior radiograph",
    "compared to the prior exam",
    "compared with the previous radiograph",
    "from the prior examination",
)
HEDGE_PRE = ("possible", "questionable")
HEDGE_POST = ("cannot be excluded", "is possible", "cannot be ruled out")


#: causes a report may hedge an opacity with ("may represent pneumonia"), and their words
INTERPRETATIONS: dict[str, tuple[str, ...]] = {
    "lung opacity": ("pneumonia", "atelectasis", "aspiration"),
    "consolidation": ("pneumonia", "aspiration"),
}
CAUSE_NOUNS = {
    "pneumonia": ("pneumonia", "pneumonitis", "bronchopneumonia"),
    "atelectasis": ("atelectasis",),
    "aspiration": ("aspiration",),
}


# pertinent negatives: grammar plus the findings each states as absent
NEGATIVES: dict[str, Node] = {
    "pneumothorax": Alt(
        "no pneumothorax", "there is no pneumothorax", "no pneumothorax is seen", "no evidence of pneumothorax"
    ),
    "pleural effusion": Alt(
        "no pleural effusion", "no pleural effusions", "there is no pleural effusion", "no evidence of pleural effusion"
    ),
    "consolidation": Alt("no focal consolidation", "there is no focal consolidation", "no consolidation is seen"),
    "pulmonary edema/hazy opacity": Alt(
        "no pulmonary edema", "there is no pulmonary edema", "no evidence of pulmonary edema"
    ),
    "enlarged cardiac silhouette": Alt(
        "no cardiomegaly", "no enlargement of the cardiac silhouette", "there is no cardiomegaly"
    ),
}
NEGATIVE_GROUPS: dict[tuple[str, ...], Node] = {
    ("pleural effusion", "pneumothorax"): Alt(
        "no pleural effusion or pneumothorax",
        "there is no pleural effusion or pneumothorax",
        "no pneumothorax or pleural effusion",
    ),
    ("consolidation", "pleural effusion", "pneumothorax"): Alt(
        "no focal consolidation, pleural effusion, or pneumothorax",
        "there is no focal consolidation, pleural effusion or pneumothorax",
    ),
}
FILLERS_NORMAL_HEART = Alt(
    "heart size is normal",
    "the cardiomediastinal silhouette is within normal limits",
    "the cardiac and mediastinal contours are normal",
)
FILLERS = Alt(
    "the lungs are otherwise clear",
    "hilar contours are unremarkable",
    "osseous structures are unremarkable",
    "the visualized upper abdomen is unremarkable",
)
NORMAL_IMPRESSION = Alt(
    "no acute cardiopulmonary process",
    "no acute cardiopulmonary abnormality",
    "no acute intrathoracic process",
    "normal chest radiograph",
)
REASONS = (
    "shortness of breath",
    "cough",
    "fever",
    "chest pain",
    "hypoxia",
    "dyspnea",
    "tachypnea",
    "weakness",
    "altered mental status",
    "leukocytosis",
    "preoperative evaluation",
    "follow-up",
)
