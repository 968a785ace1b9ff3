"""Attention for packed rows that never lets one example see another, and whose cost grows with
each example's length rather than the packed row's.

On CUDA that is PyTorch's `flex_attention`: transformers builds a block-sparse document mask from
the packed rows' position ids. FlexAttention has no backward pass on CPU, so there training uses
`varlen_sdpa`, registered here: plain causal `scaled_dot_product_attention` run once per example,
with the boundaries the padding-free collator passes (`cu_seq_lens_q`) or, failing that, where the
position ids restart. Padded (unpacked) batches fall through to the ordinary `sdpa` path.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

VARLEN = "varlen_sdpa"


def kernel_for(device: str) -> str:
    """The document-masked kernel for a device."""
    return "flex_attention" if device == "cuda" else VARLEN


def boundaries(position_ids: torch.Tensor) -> list[list[int]]:
    """Per row, the offsets where each packed example starts, and the row's end."""
    starts = torch.diff(position_ids, prepend=position_ids[:, :1], dim=-1) != 1
    starts[:, 0] = True
    return [row.nonzero().flatten().tolist() + [position_ids.shape[1]] for row in starts]


def varlen_sdpa(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                value: torch.Tensor, attention_mask: torch.Tensor | None, dropout: float = 0.0,
                scaling: float | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    cu = kwargs.get("cu_seq_lens_q")
    position_ids = kwargs.get("position_ids")
    if attention_mask is not None or (cu is None and position_ids is None) or query.shape[2] == 1:
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling, **kwargs)
    if cu is not None and query.shape[0] == 1:
        rows = [cu.tolist()]
    else:
        rows = boundaries(position_ids.expand(query.shape[0], -1))
    gqa = getattr(module, "num_key_value_groups", 1) > 1
    out = []
    for b, cuts in enumerate(rows):
        for s, e in pairwise(cuts):
            out.append(F.scaled_dot_product_attention(
                query[b:b + 1, :, s:e], key[b:b + 1, :, s:e], value[b:b + 1, :, s:e],
                dropout_p=dropout, scale=scaling, is_causal=True, enable_gqa=gqa))
    merged = torch.cat(out, dim=2).view(len(rows), *query.shape[1:3], -1)
    return merged.transpose(1, 2).contiguous(), None


def _varlen_mask(*args, attention_mask: torch.Tensor | None = None, **kwargs):
    """No mask for packed or single rows (the kernel knows the examples); padding keeps sdpa's."""
    if attention_mask is None:
        return None
    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


AttentionInterface.register(VARLEN, varlen_sdpa)
AttentionMaskInterface.register(VARLEN, _varlen_mask)
