"""Spiking MLP: LIF -> fc1 -> BN -> LIF -> fc2 -> BN. Shapes: [T, B, N, D] -> [T, B, N, D]."""

from __future__ import annotations

from torch import Tensor, nn

from smolmamba.neurons import LIF


class SpikingMLP(nn.Module):
    """Both linear layers see spikes only (accumulate-only on neuromorphic hardware)."""

    profile_label, profile_inner_label = "mlp", "mlp"

    def __init__(self, dim: int, hidden: int, lif_kwargs: dict):
        super().__init__()
        self.in_lif = LIF(**lif_kwargs)
        self.fc1 = nn.Linear(dim, hidden, bias=False)
        self.norm1 = nn.BatchNorm1d(hidden)
        self.hidden_lif = LIF(**lif_kwargs)
        self.fc2 = nn.Linear(hidden, dim, bias=False)
        self.norm2 = nn.BatchNorm1d(dim)

    def forward(self, x: Tensor) -> Tensor:
        t, b, n, _ = x.shape
        h = self.norm1(self.fc1(self.in_lif(x)).flatten(0, 2)).view(t, b, n, -1)  # (T, B, N, hidden)
        return self.norm2(self.fc2(self.hidden_lif(h)).flatten(0, 2)).view(t, b, n, -1)
