"""Faster greedy decoding for the Janus language model, on transformers' own extension points.

Three measured changes (docs/benchmarks.md, "Janus-Pro-1B on CPU"):

- :func:`preallocated_cache`: the key/value cache is allocated once for the prompt plus the new
  tokens and grows by writing into it. transformers' ``DynamicCache`` concatenates, copying the
  whole cache of every layer at every step (about 280 MB per token at Janus-Pro-1B's size with
  the 645-token prompt); its ``StaticCache`` avoids the copies but attends over every slot up to
  the maximum length. This one hands attention a view of the filled slots only.
- :func:`use_cpu_decode_attention`: on CPU, one query attending to the cache is two matrix-vector
  products; PyTorch's fused attention kernel is tiled for many queries and was slower there.
  Longer queries (the prompt) still go to SDPA.
- :func:`fuse_projections`: the MLP's gate and up projections read the same input, and so do
  attention's query, key and value projections; in the int8 path each group becomes one
  quantized product (one activation quantization, one pass over larger weights, fewer calls).
  With per-channel weights and one activation scale per call the result is the same, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

CPU_DECODE_ATTENTION = "januscxr_cpu_decode"


class PreallocatedLayer:
    """One layer's keys and values in buffers sized for the whole answer; ``update`` writes in place."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.length = 0
        self._keys: torch.Tensor | None = None
        self._values: torch.Tensor | None = None

    def update(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.length, self.length + keys.shape[-2]
        if self._keys is None or self._values is None:
            self._keys = keys.new_empty((*keys.shape[:2], max(self.capacity, end), keys.shape[-1]))
            self._values = values.new_empty((*values.shape[:2], max(self.capacity, end), values.shape[-1]))
        elif end > self._keys.shape[-2]:  # more tokens than planned: grow once, doubling
            self._keys, self._values = _grow(self._keys, end), _grow(self._values, end)
        self._keys[:, :, start:end].copy_(keys)
        self._values[:, :, start:end].copy_(values)
        self.length = end
        return self._keys[:, :, :end], self._values[:, :, :end]


def _grow(buffer: torch.Tensor, needed: int) -> torch.Tensor:
    size = max(needed, 2 * buffer.shape[-2])
    grown = buffer.new_empty((*buffer.shape[:2], size, buffer.shape[-1]))
    grown[:, :, : buffer.shape[-2]].copy_(buffer)
    return grown


def preallocated_cache(config: Any, capacity: int) -> Any:
    """A transformers ``DynamicCache`` whose layers write into preallocated buffers.

    ``config`` is the language model's config; ``capacity`` the prompt width plus the new tokens.
    """
    from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

    class Layer(DynamicLayer):  # type: ignore[no-untyped-call]
        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self.buffers = PreallocatedLayer(capacity)

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            self.keys, self.values = self.buffers.update(key_states, value_states)
            return self.keys, self.values

    class Preallocated(DynamicCache):
        def __init__(self) -> None:
            Cache.__init__(self, layers=[Layer() for _ in range(int(config.num_hidden_layers))])

    return Preallocated()


def cpu_decode_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: (B, H, Q, D) inputs, (B, Q, H, D) output.

    One new token per row on CPU: scores = K q, softmax, then V^T p. Anything else: SDPA.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if query.shape[2] != 1 or query.device.type != "cpu" or key.shape[1] != query.shape[1] or dropout:
        output: tuple[torch.Tensor, None] = sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
        return output
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = torch.matmul(key, query.transpose(-1, -2)).transpose(-1, -2) * scale  # (B, H, 1, L)
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, float("-inf"))
        else:
            scores = scores + attention_mask
    attended = torch.matmul(scores.softmax(dim=-1), value)  # (B, H, 1, D)
    return attended.transpose(1, 2).contiguous(), None


def use_cpu_decode_attention(model: Any) -> None:
    """Route the language model's attention through :func:`cpu_decode_attention` (vision keeps SDPA)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(CPU_DECODE_ATTENTION, cpu_decode_attention)
    AttentionMaskInterface.register(CPU_DECODE_ATTENTION, sdpa_mask)  # same masks as SDPA
    model.model.language_model.config._attn_implementation = CPU_DECODE_ATTENTION


def stack_linears(linears: list[nn.Linear]) -> nn.Linear:
    """One Linear whose outputs are those of ``linears``, in order (they share their input); a missing bias is zero."""
    first = linears[0]
    weight = torch.cat([linear.weight.detach() for linear in linears])
    stacked = nn.Linear(first.in_features, weight.shape[0], bias=False, device="meta")  # no random init
    stacked.weight = nn.Parameter(weight, requires_grad=first.weight.requires_grad)
    if any(linear.bias is not None for linear in linears):
        bias = [x.bias.detach() if x.bias is not None else weight.new_zeros(x.out_features) for x in linears]
        stacked.bias = nn.Parameter(torch.cat(bias), requires_grad=first.weight.requires_grad)
    return stacked


class GateUpMLP(nn.Module):
    """A LLaMA MLP, ``down(act(gate(x)) * up(x))``, with gate and up stacked in one product."""

    def __init__(self, mlp: Any) -> None:
        super().__init__()
        self.width = int(mlp.gate_proj.out_features)
        self.gate_up: nn.Module = stack_linears([mlp.gate_proj, mlp.up_proj])
        self.down_proj: nn.Module = mlp.down_proj
        self.act_fn: Callable[[torch.Tensor], torch.Tensor] = mlp.act_fn

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(hidden).split(self.width, dim=-1)
        return self.down_proj(self.act_fn(gate) * up)  # type: ignore[no-any-return]


class StackedProjection(nn.Module):
    """Several Linear layers that read the same input, stacked in one; :class:`ProjectionPart` reads a slice.

    The product for the latest input is kept until every part has taken its slice, so the parts
    called one after the other on the same tensor (as transformers' attention calls q, k and v)
    cost one product. A part called on another tensor computes afresh: always the same answer.
    """

    def __init__(self, linears: list[nn.Linear]) -> None:
        super().__init__()
        self.sizes = [int(linear.out_features) for linear in linears]
        self.stacked: nn.Module = stack_linears(linears)
        self._latest: tuple[torch.Tensor, list[torch.Tensor], set[int]] | None = None

    def part(self, index: int, hidden: torch.Tensor) -> torch.Tensor:
        if self._latest is None or self._latest[0] is not hidden or index not in self._latest[2]:
            outputs = list(self.stacked(hidden).split(self.sizes, dim=-1))
            self._latest = (hidden, outputs, set(range(len(self.sizes))))
        _, outputs, waiting = self._latest
        waiting.discard(index)
        if not waiting:
            self._latest = None  # every part served: hold no activations between calls
        return outputs[index]


class ProjectionPart(nn.Module):
    """Stands in for one of the stacked Linear layers."""

    def __init__(self, stack: StackedProjection, index: int) -> None:
        super().__init__()
        self.stack = stack
        self.index = index

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.stack.part(self.index, hidden)


def fuse_projections(model: Any) -> None:
    """In every decoder layer, stack q/k/v and the MLP's gate/up, each into one Linear."""
    for layer in model.model.language_model.layers:
        layer.mlp = GateUpMLP(layer.mlp)
        attention = layer.self_attn
        stack_qkv = StackedProjection([attention.q_proj, attention.k_proj, attention.v_proj])
        for index, name in enumerate(("q_proj", "k_proj", "v_proj")):
            setattr(attention, name, ProjectionPart(stack_qkv, index))
