"""Pathology-level cross-modal alignment and patch-correlation exploration (PLACE)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cxrgraph.align.base import AlignmentLoss, AlignTargets
from cxrgraph.align.infonce import LogitScale, node_info_nce
from cxrgraph.nn.outputs import GraphEmbeddings
from cxrgraph.ontology import get_ontology

__all__ = ["PathologyObservationExtractor", "PathologyAlignment", "PatchCorrelationLoss"]


class PathologyObservationExtractor(nn.Module):
    r"""Learned pathology queries attending over patch tokens (PLACE's visual pathology
    observation extractor): ``Q`` queries → ``[B, Q, D]`` visual pathology observations.

    .. math:: o_q = \mathrm{LN}\big(p_q + \mathrm{MHA}(p_q, X, X)\big) + \mathrm{FFN}(\cdot)

    Args:
        channels: ``D``.
        num_pathologies: ``Q`` (default: the ontology's number of findings).
        heads: Attention heads.
    """

    def __init__(self, channels: int, num_pathologies: int | None = None, heads: int = 4) -> None:
        super().__init__()
        self.channels = channels
        if num_pathologies is None:
            num_pathologies = get_ontology().num_findings
        self.num_pathologies = num_pathologies
        self.heads = heads
        self.queries = nn.Parameter(torch.empty(num_pathologies, channels))
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(channels)
        self.ffn = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))
        self.norm2 = nn.LayerNorm(channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.queries, std=1.0 / math.sqrt(self.channels))
        self.attn._reset_parameters()
        for m in (self.norm1, self.norm2, self.ffn[0], self.ffn[2]):
            m.reset_parameters()

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, num_pathologies={self.num_pathologies})"

    def forward(self, patches: Tensor, patch_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Observations ``[B, Q, D]`` and attention ``[B, Q, P]`` over ``patches`` ``[B, P, D]``."""
        q = self.queries.expand(patches.size(0), -1, -1)
        pad = None if patch_mask is None else ~patch_mask.bool()
        ctx, weights = self.attn(q, patches, patches, key_padding_mask=pad, need_weights=True)
        h = self.norm1(q + ctx)
        return self.norm2(h + self.ffn(h)), weights


class PathologyAlignment(AlignmentLoss):
    r"""Pathology-level cross-modal alignment (PCMA of PLACE; Wang et al., "Improving Medical
    Visual Representation Learning with Pathological-level Cross-Modal Alignment and
    Correlation Exploration", 2025).

    Visual pathology observations :math:`o_{ik}` (:class:`PathologyObservationExtractor`) are
    aligned with the report's pathology representations :math:`t_{ik}` (text finding nodes).
    PLACE pairs queries with report pathologies without labels; here the shared ontology makes
    query :math:`k` and finding node :math:`k` the same concept, so the pairing is by index.
    Per-pathology InfoNCE across the batch, over the pathologies the report mentions
    (:func:`~cxrgraph.align.infonce.node_info_nce`):

    .. math::
        \mathcal{L} = \frac{1}{|V|}\sum_{(i,k)\in V} -\tfrac12\Big[
            \log\frac{e^{s\langle o_{ik},t_{ik}\rangle}}{\sum_{j} e^{s\langle o_{ik},t_{jk}\rangle}}
          + \log\frac{e^{s\langle t_{ik},o_{ik}\rangle}}{\sum_{j} e^{s\langle t_{ik},o_{jk}\rangle}}\Big].

    Args:
        channels: ``D``.
        num_pathologies: ``K`` (default: the ontology's number of findings).
        heads: Attention heads of the extractor.
        init_temperature: Initial temperature.

    Shapes:
        - **input:** patch tokens ``[B, P, D]``, text pathology ``[B, K, D]``, mention mask ``[B, K]``
        - **output:** scalar
    """

    def __init__(
        self,
        channels: int,
        num_pathologies: int | None = None,
        heads: int = 4,
        init_temperature: float = 0.07,
    ) -> None:
        super().__init__()
        self.extractor = PathologyObservationExtractor(channels, num_pathologies, heads)
        self.logit_scale = LogitScale(init_temperature)

    def align(
        self, image: GraphEmbeddings, text: GraphEmbeddings, targets: AlignTargets, epoch: int | None = None
    ) -> Tensor:
        return self(image.tokens, text.finding, text.finding_mask)

    def forward(self, patches: Tensor, text_pathology: Tensor, mention_mask: Tensor | None = None) -> Tensor:
        if text_pathology.size(1) != self.extractor.num_pathologies or text_pathology.size(0) != patches.size(0):
            raise ValueError(
                f"text_pathology: expected [{patches.size(0)}, {self.extractor.num_pathologies}, D], "
                f"got {list(text_pathology.shape)}"
            )
        obs, _ = self.extractor(patches)
        return node_info_nce(obs, text_pathology, mention_mask, self.logit_scale())


class PatchCorrelationLoss(AlignmentLoss):
    r"""Report-conditioned patch-correlation prediction (PLACE's correlation exploration proxy task).

    The model must tell which image patches are alike from what the report says. Patch
    queries carry only their position (:math:`q_p`, no image content), read the report's
    sentence embeddings by cross-attention and predict the patches' correlation matrix; the
    target is the correlation of the (detached) patch tokens:

    .. math::
        \hat z_p = \mathrm{LN}\big(q_p + \mathrm{MHA}(q_p, T, T)\big),\quad
        \hat C = \hat z \hat z^\top,\quad
        C = \bar x \bar x^\top,\quad
        \mathcal{L} = \frac{1}{BP^2}\sum_{i}\|\hat C_i - C_i\|_F^2,

    with :math:`\bar x` the patch tokens centred over patches and L2-normalised (so
    :math:`C` is a Pearson-style correlation) and :math:`\hat z` L2-normalised. The image side
    gets gradients through the target only if ``detach_target=False``.

    Args:
        channels: ``D``.
        num_patches: ``P`` (learned position queries).
        heads: Attention heads.
        detach_target: Stop gradients into the target correlation.

    Shapes:
        - **input:** patch tokens ``[B, P, D]``, sentences ``[B, S, D]``, optional sentence mask ``[B, S]``
        - **output:** scalar
    """

    def __init__(self, channels: int, num_patches: int, heads: int = 4, detach_target: bool = True) -> None:
        super().__init__()
        self.channels = channels
        self.num_patches = num_patches
        self.detach_target = detach_target
        self.position = nn.Parameter(torch.empty(num_patches, channels))
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.norm = nn.LayerNorm(channels)
        self.head = nn.Sequential(nn.Linear(channels, channels), nn.GELU(), nn.Linear(channels, channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.position, std=1.0)
        self.attn._reset_parameters()
        self.norm.reset_parameters()
        self.head[0].reset_parameters()
        self.head[2].reset_parameters()

    def predict(self, sentences: Tensor, sentence_mask: Tensor | None = None) -> Tensor:
        """Predicted correlation ``[B, P, P]`` from the report alone."""
        q = self.position.expand(sentences.size(0), -1, -1)
        pad = None
        if sentence_mask is not None:
            pad = ~sentence_mask.bool()
            # a report with no sentence attends to a zero vector instead of nothing
            empty = pad.all(1)
            if empty.any():
                pad = pad.clone()
                pad[empty, 0] = False
        ctx, _ = self.attn(q, sentences, sentences, key_padding_mask=pad, need_weights=False)
        z = F.normalize(self.head(self.norm(q + ctx)), dim=-1)
        return z @ z.transpose(1, 2)

    @staticmethod
    def target(patches: Tensor) -> Tensor:
        """Correlation ``[B, P, P]`` of the patch tokens."""
        x = F.normalize(patches - patches.mean(1, keepdim=True), dim=-1)
        return x @ x.transpose(1, 2)

    def align(
        self, image: GraphEmbeddings, text: GraphEmbeddings, targets: AlignTargets, epoch: int | None = None
    ) -> Tensor:
        return self(image.tokens, text.tokens, text.token_mask)

    def forward(self, patches: Tensor, sentences: Tensor, sentence_mask: Tensor | None = None) -> Tensor:
        if patches.size(1) != self.num_patches:
            raise ValueError(f"patches: expected {self.num_patches} patches, got {list(patches.shape)}")
        target = self.target(patches.detach() if self.detach_target else patches)
        return (self.predict(sentences, sentence_mask) - target).pow(2).mean()
