"""Report text -> :class:`ReportGraph`: sections, sentences, mentions, modifiers, attachment.

Stages, each its own module: :mod:`~cxrgraph.text.sections`, :mod:`~cxrgraph.text.sentences`,
:mod:`~cxrgraph.text.mentions`, :mod:`~cxrgraph.text.modifiers`,
:mod:`~cxrgraph.text.relations`; :mod:`~cxrgraph.text.rules` reads one sentence with them (and
caches the reading by sentence text); :mod:`~cxrgraph.text.parser` strings them together.
"""

from __future__ import annotations

from cxrgraph.text.parser import BACKENDS, assertion, parse_report, parse_reports
from cxrgraph.text.report_graph import ReportGraph, ReportMention, ReportTriplet
from cxrgraph.text.rules import sentence_cache_info, set_sentence_cache_size

__all__ = [
    "BACKENDS",
    "ReportGraph",
    "ReportMention",
    "ReportTriplet",
    "assertion",
    "parse_report",
    "parse_reports",
    "sentence_cache_info",
    "set_sentence_cache_size",
]
