"""Stop a run whose loss is no longer finite, naming the step and the loss terms at fault."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = ["TrainingDiverged", "check_finite_loss"]


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite; the message names the step and the loss terms."""


def check_finite_loss(loss: Tensor, terms: Mapping[str, Tensor], step: int, run: str) -> None:
    """Raise :class:`TrainingDiverged` when ``loss`` is not finite.

    Args:
        loss: The total loss of the step.
        terms: The (unweighted) loss terms it was summed from.
        step: The optimiser step (``trainer.global_step``).
        run: What is training, for the message (``"pretraining"``).
    """
    if bool(torch.isfinite(loss.detach()).all()):
        return
    bad = [f"{name}={float(v.detach().float().mean()):.4g}" for name, v in terms.items() if not torch.isfinite(v).all()]
    which = ", ".join(bad) if bad else "none of the terms (their weighted sum overflowed)"
    raise TrainingDiverged(
        f"{run} stopped at step {step}: the loss is {float(loss.detach().float()):.4g}; non-finite loss terms: "
        f"{which}. Lower the learning rate, clip gradients (trainer.gradient_clip_val) or check the inputs."
    )
