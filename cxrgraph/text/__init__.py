"""Report text -> :class:`ReportGraph`: sections, sentences, mentions, modifiers, attachment.

Stages, each its own module: :mod:`~cxrgraph.text.sections`, :mod:`~cxrgraph.text.sentences`,
:mod:`~cxrgraph.text.mentions`, :mod:`~cxrgraph.text.modifiers`,
:mod:`~cxrgraph.text.relations`; :mod:`~cxrgraph.text.rules` reads one sentence with them (and
caches the reading by sentence text); :mod:`~cxrgraph.text.reading` reads a report into plain
Python objects or its JSON row; :mod:`~cxrgraph.text.parser` strings them together into graphs.

Names are resolved on first use: the reading modules never import torch, so a process that only
reads reports to JSON (``cxrgraph parse``) starts in a fraction of a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxrgraph.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from cxrgraph.text.parser import BACKENDS as BACKENDS
    from cxrgraph.text.parser import assertion as assertion
    from cxrgraph.text.parser import parse_report as parse_report
    from cxrgraph.text.parser import parse_reports as parse_reports
    from cxrgraph.text.reading import ReportMention as ReportMention
    from cxrgraph.text.reading import ReportTriplet as ReportTriplet
    from cxrgraph.text.reading import read_report_json as read_report_json
    from cxrgraph.text.report_graph import ReportGraph as ReportGraph
    from cxrgraph.text.rules import sentence_cache_info as sentence_cache_info
    from cxrgraph.text.rules import set_sentence_cache_size as set_sentence_cache_size

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "BACKENDS": "cxrgraph.text.parser",
        "assertion": "cxrgraph.text.parser",
        "parse_report": "cxrgraph.text.parser",
        "parse_reports": "cxrgraph.text.parser",
        "ReportGraph": "cxrgraph.text.report_graph",
        "ReportMention": "cxrgraph.text.reading",
        "ReportTriplet": "cxrgraph.text.reading",
        "read_report_json": "cxrgraph.text.reading",
        "sentence_cache_info": "cxrgraph.text.rules",
        "set_sentence_cache_size": "cxrgraph.text.rules",
    },
    ("parser", "reading", "report_graph", "rules", "sections", "sentences", "mentions", "modifiers", "relations"),
)
