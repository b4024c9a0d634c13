from __future__ import annotations

import pytest

from cxrgraph.text.sections import normalize_section_name, sections_from_fields, select_sections, split_sections

MIMIC = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with cough  // eval for pneumonia

 COMPARISON:  Chest radiograph from ___.

 FINDINGS:
 The left basilar opacity has increased since the prior study.  No pneumothorax.

 IMPRESSION:
 Increased left basilar opacity, possibly pneumonia.
"""


def test_mimic_headers_and_offsets():
    secs = split_sections(MIMIC)
    names = [s.name for s in secs]
    assert names == ["examination", "indication", "comparison", "findings", "impression"]
    for s in secs:
        assert MIMIC[s.start : s.end] == s.text
    chosen = select_sections(secs)
    assert [s.name for s in chosen] == ["findings", "impression"]
    assert chosen[0].text.startswith("The left basilar opacity")


def test_header_variants_normalise():
    assert normalize_section_name("FINDINGS AND IMPRESSION") == "impression"
    assert normalize_section_name("Conclusion") == "impression"
    assert normalize_section_name("COMPARISONS") == "comparison"
    secs = split_sections("CONCLUSION: No acute cardiopulmonary process.")
    assert [s.name for s in secs] == ["impression"]


def test_free_text_and_fallback_to_last_section():
    secs = split_sections("The heart is normal in size. Lungs are clear.")
    assert [s.name for s in secs] == ["text"]
    assert select_sections(secs)[0].text.startswith("The heart")
    # neither findings nor impression: the last non-administrative section is used
    secs = split_sections("INDICATION: cough\n\nNOTE: Mild cardiomegaly.")
    assert [s.name for s in select_sections(secs)] == ["note"]


def test_only_headers_gives_nothing_to_parse():
    assert select_sections(split_sections("FINDINGS:\n\nIMPRESSION:\n")) == []


def test_openi_fields():
    # CXR1000 (OpenI dev split)
    fields = {
        "COMPARISON": "XXXX PA and lateral chest radiographs",
        "FINDINGS": "No pleural effusion or pneumothorax. No acute bone abnormality.",
        "IMPRESSION": None,
    }
    secs = sections_from_fields(fields)
    assert [s.name for s in secs] == ["comparison", "findings"]
    assert [s.name for s in select_sections(fields)] == ["findings"]
    with pytest.raises(TypeError, match="FINDINGS"):
        sections_from_fields({"FINDINGS": b"bytes"})


def test_wrong_type():
    with pytest.raises(TypeError):
        split_sections(None)


def test_a_byte_order_mark_keeps_the_first_section():
    text = "\ufeffFINDINGS: No effusion.\n\nIMPRESSION: Normal chest."
    secs = split_sections(text)
    assert [s.name for s in secs] == ["findings", "impression"]
    assert secs[0].text == "No effusion." and text[secs[0].start : secs[0].end] == secs[0].text
    assert split_sections("\ufeff\ufeff  No effusion.")[0].text == "No effusion."


@pytest.mark.parametrize(
    "sub",
    ["LUNGS:", "HEART:", "NOTE:", "PA AND LATERAL:", "BONES/SOFT TISSUES:", "E.g. LUNGS:."],
)
def test_capitalised_sub_headings_stay_inside_their_section(sub):
    text = f"INDICATION: Cough.\nFINDINGS: Heart size is normal. {sub} No effusion.\nIMPRESSION: Normal."
    secs = split_sections(text)
    assert [s.name for s in secs] == ["indication", "findings", "impression"]
    assert "No effusion." in secs[1].text and sub.split(":")[0] in secs[1].text


def test_a_capitalised_header_after_an_administrative_section_still_starts_one():
    # the body of a report whose sections are not named: it is the section parsed by default
    secs = split_sections("INDICATION: Cough.\nPA AND LATERAL CHEST: Mild cardiomegaly.\nLUNGS: Clear.")
    assert [s.name for s in secs] == ["indication", "pa and lateral chest"]
    assert [s.text for s in select_sections(secs)] == ["Mild cardiomegaly.\nLUNGS: Clear."]


def test_section_names_are_checked():
    from cxrgraph.text.sections import check_section_names

    assert check_section_names(["Findings", "conclusion"]) == ("findings", "impression")
    assert check_section_names(None) is None
    with pytest.raises(ValueError, match="'findngs'; did you mean 'findings'"):
        check_section_names(["findngs"])
    with pytest.raises(TypeError, match=r"write sections=\['findings'\]"):
        check_section_names("findings")
    with pytest.raises(TypeError, match="must be str"):
        check_section_names([1])
