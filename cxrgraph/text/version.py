"""The report parser's version: a fingerprint of its rules, so caches of parsed reports follow edits.

Anything that stores what the parser produced (report graphs, text features computed from the
parsed sentences and mentions) keys itself on :func:`parser_version`. The fingerprint covers the
parser's own modules, the ontology and the rule tables it reads (``cxrgraph/data``), so editing a
trigger list or a synonym changes it and a stale cache is never served.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

__all__ = ["parser_version"]

_TEXT_DIR = Path(__file__).resolve().parent
_DATA_DIR = _TEXT_DIR.parent / "data"


@lru_cache(maxsize=4)
def parser_version(backend: str = "rules") -> str:
    """``"<backend>-<12 hex digits>"``: changes whenever a rule, a cue table or the ontology changes.

    Args:
        backend: Parser backend (``"rules"`` or ``"stanza"``); part of the version because the
            backends attach relations differently.
    """
    digest = hashlib.sha256(backend.encode())
    files = sorted(_TEXT_DIR.glob("*.py")) + sorted(p for p in _DATA_DIR.rglob("*") if p.is_file())
    for path in files:
        digest.update(path.relative_to(_TEXT_DIR.parent).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{backend}-{digest.hexdigest()[:12]}"
