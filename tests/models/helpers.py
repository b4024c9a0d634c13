"""Small phantom studies and model configs shared by the model, training and CLI tests."""

from __future__ import annotations

from functools import lru_cache

from cxrgraph.models import LOSS_NAMES, AlignSample, GraphAlignConfig

ALL_LOSSES = dict.fromkeys(LOSS_NAMES, 1.0)


@lru_cache(maxsize=4)
def _samples(num_patients: int, size: int, seed: int) -> tuple[AlignSample, ...]:
    from cxrgraph.datasets import phantom_samples

    return tuple(phantom_samples(num_patients, size, seed, (2, 2)))


def phantom_studies(num_patients: int = 3, size: int = 64, seed: int = 0) -> list[AlignSample]:
    """``2 * num_patients`` phantom studies (synthetic), rendered once per session."""
    return list(_samples(num_patients, size, seed))


def tiny_config(**changes) -> GraphAlignConfig:
    """A model small enough for CPU tests (64 px, 32 channels, frozen text transformer)."""
    values = {"image_size": 64, "channels": 32, "freeze_text": True, "max_length": 32, "decoder_heads": 4}
    values.update(changes)
    return GraphAlignConfig(**values)
