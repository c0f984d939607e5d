"""Hierarchical Multi-Task Transformer (paper B.13).

A ViT encoder's pooled features feed heads evaluated in a causal label order; each head also
sees learned embeddings of the classes chosen by all earlier heads. Training uses teacher
forcing (``targets``, the true classes); inference chains the argmax of the earlier heads, so
the exported graph is plain ArgMax + Gather.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from engines.zoo.blocks import backbone_features, check_heads, pooled_width, with_embedding


def causal_order(heads: Mapping[str, int], order: Sequence[str]) -> dict[str, int]:
    """``heads`` re-ordered: labels named in ``order`` first (in that order), then the rest."""
    known = [label for label in order if label in heads]
    rest = [label for label in heads if label not in order]
    return {label: heads[label] for label in [*known, *rest]}


class HierarchicalMultiTaskTransformer(nn.Module):
    """ViT features + heads conditioned on the previous heads' choices.

    Args:
        heads: label -> number of classes; re-ordered by ``order`` (see ``head_names``).
        backbone: timm ViT name (``vit_base_patch16_224``).
        backbone_kwargs: timm overrides.
        order: the causal label order.
        embed_dim: size of each chosen-class embedding.
        dropout: dropout inside each head.
        embedding: also return the pooled ViT features and early-block statistics.
    """

    def __init__(
        self,
        heads: Mapping[str, int],
        backbone: str = "vit_base_patch16_224",
        backbone_kwargs: dict | None = None,
        order: Sequence[str] = (),
        embed_dim: int = 64,
        dropout: float = 0.1,
        embedding: bool = False,
    ) -> None:
        super().__init__()
        import timm

        heads = causal_order(check_heads(heads), order)
        self.head_names = tuple(heads)
        self.embedding = embedding
        self.backbone = timm.create_model(
            backbone, pretrained=False, num_classes=0, **(backbone_kwargs or {})
        )
        width = pooled_width(self.backbone)
        # The last head's choice conditions nothing, so it has no embedding.
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, embed_dim) for n in list(heads.values())[:-1]
        )
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Linear(width + index * embed_dim, width),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(width, n),
            )
            for index, n in enumerate(heads.values())
        )

    def forward(
        self,
        image: torch.Tensor,
        shape: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Logits per head in ``head_names`` order.

        Args:
            image: [B, 3, H, W].
            shape: ignored (uniform IPP signature).
            targets: optional [B, n_heads] int64 true classes in ``head_names`` order (teacher
                forcing); without it each head is conditioned on the earlier argmax.
        """
        features, style = backbone_features(self.backbone, image, self.embedding)
        context = [features]
        outputs = []
        for index, head in enumerate(self.heads):
            logits = head(torch.cat(context, dim=1))
            outputs.append(logits)
            if index < len(self.embeddings):
                chosen = targets[:, index] if targets is not None else logits.argmax(dim=1)
                context.append(self.embeddings[index](chosen))
        return with_embedding(tuple(outputs), features, style, self.embedding)
