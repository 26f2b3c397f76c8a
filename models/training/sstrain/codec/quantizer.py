"""Residual vector quantizer with EMA codebooks, k-means initialisation, dead-code restarts and
quantizer dropout (a random number of levels per batch, so fewer levels still decode)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class QuantizerResult:
    quantized: torch.Tensor          # [B, T, D], straight-through
    codes: torch.Tensor              # [B, Q, T] (levels actually used)
    commit_loss: torch.Tensor
    perplexity: list[float]          # per level used


def kmeans(x: torch.Tensor, k: int, iters: int = 10) -> torch.Tensor:
    idx = torch.randperm(x.shape[0], device=x.device)[:k]
    if idx.numel() < k:
        idx = torch.randint(0, x.shape[0], (k,), device=x.device)
    c = x[idx].clone()
    for _ in range(iters):
        a = torch.cdist(x, c).argmin(1)
        s = torch.zeros_like(c).index_add_(0, a, x)
        n = torch.bincount(a, minlength=k).clamp(min=1).unsqueeze(1).float()
        moved = s / n
        empty = torch.bincount(a, minlength=k) == 0
        c = torch.where(empty.unsqueeze(1), c, moved)
    return c


class EMACodebook(nn.Module):
    """dead_fraction: a code is dead (restarted on a random vector of the batch) when its EMA usage per
    update falls below this share of the expected usage, N / size for N vectors per update. (An absolute
    threshold of 0.5 vectors, against an expected 576 / 1024 = 0.56, counted ~40 % of the codes dead and
    restarted them over and over.)"""

    def __init__(self, size: int, dim: int, decay: float, dead_fraction: float):
        super().__init__()
        self.size, self.decay, self.dead_fraction = size, decay, dead_fraction
        self.register_buffer("embed", torch.randn(size, dim) * 0.01)
        self.register_buffer("embed_sum", self.embed.clone())
        self.register_buffer("count", torch.ones(size))
        self.register_buffer("initialised", torch.tensor(False))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:  # x [N, D] -> [N]
        d = (x * x).sum(1, keepdim=True) - 2 * x @ self.embed.t() + (self.embed * self.embed).sum(1)[None]
        return d.argmin(1)

    @torch.no_grad()
    def update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        if not bool(self.initialised):
            c = kmeans(x, self.size)
            self.embed.copy_(c)
            self.embed_sum.copy_(c)
            self.count.fill_(1.0)
            self.initialised.fill_(True)
            return
        onehot_count = torch.bincount(codes, minlength=self.size).float()
        s = torch.zeros_like(self.embed).index_add_(0, codes, x)
        self.count.mul_(self.decay).add_(onehot_count, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(s, alpha=1 - self.decay)
        n = self.count.sum()
        smoothed = (self.count + 1e-5) / (n + self.size * 1e-5) * n
        self.embed.copy_(self.embed_sum / smoothed.unsqueeze(1))
        dead = self.count < self.dead_fraction * x.shape[0] / self.size
        nd = int(dead.sum())
        if nd:
            pick = x[torch.randint(0, x.shape[0], (nd,), device=x.device)]
            self.embed[dead] = pick
            self.embed_sum[dead] = pick
            self.count[dead] = 1.0


class ResidualVQ(nn.Module):
    """dropout: share of training batches quantized with a random number of levels (1..levels, uniform;
    True = 1.0, every batch), so the decoder learns to decode fewer levels."""

    def __init__(self, levels: int, size: int, dim: int, decay: float = 0.99, dead_fraction: float = 0.05,
                 dropout: bool | float = True):
        super().__init__()
        self.levels, self.size, self.dropout = levels, size, float(dropout)
        self.books = nn.ModuleList([EMACodebook(size, dim, decay, dead_fraction) for _ in range(levels)])

    def dropout_levels(self) -> int:
        """The number of levels a training batch is quantized with (quantizer dropout)."""
        p = self.dropout
        if p <= 0 or (p < 1 and float(torch.rand(())) >= p):
            return self.levels
        return int(torch.randint(1, self.levels + 1, ()).item())

    def forward(self, z: torch.Tensor, n_levels: int | None = None) -> QuantizerResult:
        B, T, D = z.shape
        if n_levels is None:
            n_levels = self.dropout_levels() if self.training else self.levels
        residual = z.reshape(-1, D)
        quant = torch.zeros_like(residual)
        codes, perp = [], []
        commit = z.new_zeros(())
        for q in range(n_levels):
            book = self.books[q]
            idx = book.nearest(residual.detach())
            if self.training:
                book.update(residual.detach(), idx)
            chosen = F.embedding(idx, book.embed)
            commit = commit + F.mse_loss(residual, chosen.detach())
            quant = quant + chosen
            residual = residual - chosen.detach()
            codes.append(idx.view(B, T))
            p = torch.bincount(idx, minlength=self.size).float()
            p = p / p.sum()
            perp.append(float(torch.exp(-(p * torch.log(p + 1e-10)).sum())))
        quant = quant.view(B, T, D)
        quantized = z + (quant - z).detach()
        return QuantizerResult(quantized, torch.stack(codes, 1), commit, perp)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, Q, T] -> summed codebook vectors [B, T, D] (levels beyond Q contribute nothing)."""
        out = 0
        for q in range(codes.shape[1]):
            out = out + F.embedding(codes[:, q], self.books[q].embed)
        return out
