"""Small helpers shared by every layer (no torch import at module level)."""

from cxrgraph.utils.atomic import (
    atomic_savefig,
    atomic_torch_save,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)

__all__ = [
    "atomic_savefig",
    "atomic_torch_save",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
]
