"""SoundStorm (Borsos et al., 2023): a bidirectional Conformer over codec frames. Each frame's input is
the sum of the embeddings of its semantic token and of all its RVQ tokens (masked cells use a mask id),
so the sequence is as long as the number of frames. Rotary positions; one output head per level,
chosen by the `level` input so an exported pass returns only that level's logits."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class SoundStormConfig:
    semantic_vocab: int = 512
    levels: int = 8
    codebook: int = 1024
    dim: int = 256
    layers: int = 6
    heads: int = 4
    ff_mult: int = 2          # each of the two half-step (macaron) feed-forwards
    conv_kernel: int = 5
    dropout: float = 0.1

    @property
    def mask_id(self) -> int:
        return self.codebook

    def to_dict(self) -> dict:
        return asdict(self)


def rotary(x: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding on [B, H, T, Dh] (pairs of channels rotated by position-dependent angles)."""
    T, Dh = x.shape[-2], x.shape[-1]
    half = Dh // 2
    inv = torch.exp(torch.arange(half, dtype=torch.float32, device=x.device) * (-math.log(10000.0) / half))
    ang = torch.arange(T, dtype=torch.float32, device=x.device)[:, None] * inv[None]
    cos, sin = torch.cos(ang), torch.sin(ang)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.drop = dropout

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)
        q, k = rotary(q), rotary(k)
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh)
        if pad_mask is not None:
            s = s.masked_fill(pad_mask[:, None, None, :], -1e4)
        a = torch.softmax(s, -1)
        if self.training and self.drop:
            a = F.dropout(a, self.drop)
        return self.out(torch.matmul(a, v).transpose(1, 2).reshape(B, T, D))


class FeedForward(nn.Module):
    def __init__(self, d: int, mult: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, mult * d), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(mult * d, d), nn.Dropout(dropout))

    def forward(self, x):
        return self.net(x)


class ConvModule(nn.Module):
    def __init__(self, d: int, k: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.pw1 = nn.Linear(d, 2 * d)
        self.dw = nn.Conv1d(d, d, k, padding=k // 2, groups=d)
        self.bn = nn.GroupNorm(1, d)  # batch-independent (serving runs batch 1)
        self.pw2 = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, pad_mask):
        y = F.glu(self.pw1(self.norm(x)), dim=-1)
        if pad_mask is not None:
            y = y.masked_fill(pad_mask[..., None], 0.0)
        y = self.dw(y.transpose(1, 2))
        y = self.bn(y) if pad_mask is None else self._masked_norm(y, pad_mask)
        return self.drop(self.pw2(F.silu(y).transpose(1, 2)))

    def _masked_norm(self, y, pad_mask):
        """GroupNorm(1) over the valid frames only, so a right-padded row of a batch gets exactly the
        statistics it would get alone (what makes batching across streams exact)."""
        valid = (~pad_mask).to(y.dtype)[:, None, :]                      # [B,1,T]
        n = valid.sum((1, 2), keepdim=True) * y.shape[1]
        mean = (y * valid).sum((1, 2), keepdim=True) / n
        var = (((y - mean) * valid) ** 2).sum((1, 2), keepdim=True) / n
        y = (y - mean) / torch.sqrt(var + self.bn.eps)
        return y * self.bn.weight[None, :, None] + self.bn.bias[None, :, None]


class ConformerBlock(nn.Module):
    def __init__(self, c: SoundStormConfig):
        super().__init__()
        d = c.dim
        self.ff1 = FeedForward(d, c.ff_mult, c.dropout)
        self.attn_norm = nn.LayerNorm(d)
        self.attn = Attention(d, c.heads, c.dropout)
        self.conv = ConvModule(d, c.conv_kernel, c.dropout)
        self.ff2 = FeedForward(d, c.ff_mult, c.dropout)
        self.norm = nn.LayerNorm(d)

    def forward(self, x, pad_mask=None):
        x = x + 0.5 * self.ff1(x)
        x = x + self.attn(self.attn_norm(x), pad_mask)
        x = x + self.conv(x, pad_mask)
        x = x + 0.5 * self.ff2(x)
        return self.norm(x)


class SoundStorm(nn.Module):
    def __init__(self, c: SoundStormConfig):
        super().__init__()
        self.cfg = c
        self.sem = nn.Embedding(c.semantic_vocab, c.dim)
        # one table for all levels: level q's token k lives at row q * (codebook + 1) + k (mask = codebook)
        self.ac = nn.Embedding(c.levels * (c.codebook + 1), c.dim)
        self.blocks = nn.ModuleList([ConformerBlock(c) for _ in range(c.layers)])
        self.heads_w = nn.Parameter(torch.randn(c.levels, c.dim, c.codebook) * (1 / math.sqrt(c.dim)))
        self.heads_b = nn.Parameter(torch.zeros(c.levels, c.codebook))
        self.register_buffer("level_offsets", torch.arange(c.levels) * (c.codebook + 1), persistent=False)

    def hidden(self, semantic, acoustic, pad_mask=None):
        """semantic [B,T], acoustic [B,T,Q] (mask id = codebook) -> [B,T,D]"""
        x = self.sem(semantic) + self.ac(acoustic + self.level_offsets).sum(2)
        for b in self.blocks:
            x = b(x, pad_mask)
        return x

    def forward(self, semantic, acoustic, level, lengths=None):
        """One serving pass over a batch of windows. level [B] int64 (0-based): the level each row
        predicts; lengths [B]: valid frames of each right-padded row (None: all frames valid).
        -> logits [B,T,codebook] of each row's level (rows past their length hold garbage)."""
        pad = None
        if lengths is not None:
            pad = torch.arange(semantic.shape[1], device=semantic.device)[None, :] >= lengths[:, None]
        h = self.hidden(semantic, acoustic, pad)
        return torch.matmul(h, self.heads_w[level]) + self.heads_b[level][:, None]

    def logits_at(self, h, level: torch.Tensor) -> torch.Tensor:
        """Training: per-example level [B] -> logits [B,T,K]."""
        return torch.einsum("btd,bdk->btk", h, self.heads_w[level]) + self.heads_b[level][:, None]
