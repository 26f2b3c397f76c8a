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
    # trained with the window's tail (its unmasked frames after the voice prompt) attending only to the
    # prompt and itself: serving then computes the tail's states once per window, like the prompt's
    isolated_tail: bool = False
    # with isolated_tail: the tail's last frames stay with the new frames (attending to all, in their
    # convolution and normalisation segment), so the new frames do not start cold at the join
    tail_overlap: int = 0
    # > 0: each frame's conditioning id is unit + semantic_vocab * phone, phone 0 = none (voice prompts,
    # uploads, ground-truth-unit evaluation) and 1.. the text front end's symbol id + 1 (the symbol text
    # to semantic gave the frame). One input id keeps the serving contract and every cache unchanged.
    phone_vocab: int = 0
    # one more semantic row, id semantic_vocab: "no unit given". Trained on (train --semantic-drop) as the
    # frames being generated without their units, so serving can run the unconditional pass of
    # classifier-free guidance on the units (decoding.semantic_guidance)
    semantic_null: bool = False

    @property
    def mask_id(self) -> int:
        return self.codebook

    @property
    def null_semantic_id(self) -> int:
        if not self.semantic_null:
            raise ValueError("this model has no null semantic id (semantic_null is off)")
        if self.phone_vocab:
            raise ValueError("semantic_null with phone_vocab is not supported")
        return self.semantic_vocab

    def to_dict(self) -> dict:
        return asdict(self)


def rotary_tables(T: int, dh: int, device, offset: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [B|1, 1, T, dh/2] of the rotary position embedding; positions start at offset [B]
    (default 0), so frames after a cached voice prompt get the positions they would have had in one
    long sequence. Computed once per forward and shared by every block's queries and keys."""
    half = dh // 2
    inv = torch.exp(torch.arange(half, dtype=torch.float32, device=device) * (-math.log(10000.0) / half))
    pos = torch.arange(T, dtype=torch.float32, device=device)[None, :]
    if offset is not None:
        pos = pos + offset.to(torch.float32)[:, None]
    ang = (pos[..., None] * inv)[:, None]                              # [B|1, 1, T, half]
    return torch.cos(ang), torch.sin(ang)


def rotary(x: torch.Tensor, tables: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Rotary position embedding on [B, H, T, Dh] with rotary_tables' cos, sin."""
    cos, sin = tables
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


def attention_bias(allowed: torch.Tensor) -> torch.Tensor:
    """allowed [B, T|1, keys] (True = may attend) -> additive bias [B, 1, T|1, keys]: 0 or -1e4. Built once
    per forward and added to every block's scores (an Add broadcast over heads is several times cheaper
    in onnxruntime than a Where per block; a masked key's weight underflows to 0 either way)."""
    return ((allowed.to(torch.float32) - 1.0) * 1e4)[:, None]


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.drop = dropout

    def forward(self, x, bias, rope, past=None):
        """bias [B, 1, T|1, keys] (attention_bias); rope: rotary_tables of this sequence; past: (k, v)
        [B,H,P,Dh] of a cached prompt, put before this sequence's own keys. -> (output, (k, v) of this
        sequence after rotary)."""
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)
        q, k = rotary(q, rope), rotary(k, rope)
        ka, va = (k, v) if past is None else (torch.cat([past[0], k], 2), torch.cat([past[1], v], 2))
        s = torch.matmul(q, ka.transpose(-1, -2)) / math.sqrt(self.dh)
        s = s + bias
        a = torch.softmax(s, -1)
        if self.training and self.drop:
            a = F.dropout(a, self.drop)
        return self.out(torch.matmul(a, va).transpose(1, 2).reshape(B, T, D)), (k, v)


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

    def forward(self, x, segments):
        """segments: boolean masks [B,T], disjoint. The convolution and its GroupNorm(1) statistics stay
        inside each segment, so padded frames never leak in (batching is exact) and an isolated voice
        prompt is computed the same whether or not frames follow it (its states can be cached)."""
        y = F.glu(self.pw1(self.norm(x)), dim=-1).transpose(1, 2)      # [B,D,T]
        out = torch.zeros_like(y)
        for seg in segments:
            m = seg.to(y.dtype)[:, None, :]
            z = self.dw(y * m)
            out = out + self._masked_norm(z, m) * m
        return self.drop(self.pw2(F.silu(out).transpose(1, 2)))

    def _masked_norm(self, y, m):
        n = (m.sum((1, 2), keepdim=True) * y.shape[1]).clamp(min=1.0)
        mean = (y * m).sum((1, 2), keepdim=True) / n
        var = (((y - mean) * m) ** 2).sum((1, 2), keepdim=True) / n
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

    @torch.no_grad()
    def zero_residual_branches(self) -> None:
        """Zero the last layer of every residual branch: the block then only re-normalises its input."""
        for layer in (self.ff1.net[4], self.attn.out, self.conv.pw2, self.ff2.net[4]):
            layer.weight.zero_()
            layer.bias.zero_()

    def forward(self, x, bias, rope, segments, past=None):
        x = x + 0.5 * self.ff1(x)
        a, kv = self.attn(self.attn_norm(x), bias, rope, past)
        x = x + a
        x = x + self.conv(x, segments)
        x = x + 0.5 * self.ff2(x)
        return self.norm(x), kv


class SoundStorm(nn.Module):
    def __init__(self, c: SoundStormConfig):
        super().__init__()
        self.cfg = c
        self.sem = nn.Embedding(c.semantic_vocab + int(c.semantic_null), c.dim)
        if c.phone_vocab:
            # zero rows: a model given phones starts exactly where it was without them; row 0 (none) stays zero
            self.phone = nn.Embedding(c.phone_vocab, c.dim, padding_idx=0)
            nn.init.zeros_(self.phone.weight)
        # one table for all levels: level q's token k lives at row q * (codebook + 1) + k (mask = codebook)
        self.ac = nn.Embedding(c.levels * (c.codebook + 1), c.dim)
        self.blocks = nn.ModuleList([ConformerBlock(c) for _ in range(c.layers)])
        self.heads_w = nn.Parameter(torch.randn(c.levels, c.dim, c.codebook) * (1 / math.sqrt(c.dim)))
        self.heads_b = nn.Parameter(torch.zeros(c.levels, c.codebook))
        self.register_buffer("level_offsets", torch.arange(c.levels) * (c.codebook + 1), persistent=False)

    def embed(self, semantic, acoustic):
        ac = self.ac(acoustic + self.level_offsets).sum(2)
        if not self.cfg.phone_vocab:
            return self.sem(semantic) + ac
        V = self.cfg.semantic_vocab
        return self.sem(torch.remainder(semantic, V)) + self.phone(torch.div(semantic, V, rounding_mode="floor")) + ac

    def hidden(self, semantic, acoustic, pad_mask=None, prefix=None, tail_end=None):
        """Training form. semantic [B,T], acoustic [B,T,Q] (mask id = codebook), pad_mask [B,T] (True =
        padding), prefix [B]: each row's first prefix frames are a voice prompt that attends only to
        itself (0 = none); tail_end [B] (with prefix): frames [prefix, tail_end) are a tail that attends
        only to the prompt and itself. Segments see their own and earlier segments; convolution and
        its normalisation stay inside each -> [B,T,D]"""
        B, T = semantic.shape
        valid = torch.ones(B, T, dtype=torch.bool, device=semantic.device) if pad_mask is None else ~pad_mask
        if prefix is None:
            allowed, segments = valid[:, None, :], [valid]
        else:
            t = torch.arange(T, device=semantic.device)[None, :]
            seg = (t >= prefix[:, None]).long()                                      # [B,T] 0 prompt, 1 rest
            if tail_end is not None:
                seg = seg + (t >= tail_end[:, None]).long()                          # 0 prompt, 1 tail, 2 new
            allowed = valid[:, None, :] & (seg[:, None, :] <= seg[:, :, None])
            segments = [valid & (seg == i) for i in range(int(seg.max()) + 1)]
        x = self.embed(semantic, acoustic)
        bias, rope = attention_bias(allowed), rotary_tables(T, self.cfg.dim // self.cfg.heads, semantic.device)
        for b in self.blocks:
            x, _ = b(x, bias, rope, segments)
        return x

    def isolated_tail_end(self, prefix, tail_end):
        """Where the isolated part of each row's tail ends (for hidden's tail_end), as served: the
        tail's last tail_overlap frames go with the new ones; None when the tail is not isolated."""
        if not self.cfg.isolated_tail:
            return None
        return torch.clamp(torch.as_tensor(tail_end) - self.cfg.tail_overlap, min=0).maximum(torch.as_tensor(prefix))

    def forward(self, semantic, acoustic, level, lengths, prompt_k, prompt_v, prompt_lengths):
        """One serving pass over a batch of windows, after each row's cached voice prompt.
        semantic [B,T], acoustic [B,T,Q]; level [B] (0-based) the level each row predicts; lengths [B]
        valid frames of each right-padded row; prompt_k/prompt_v [L,B,H,P,Dh] every layer's keys and
        values of each row's voice prompt (right-padded), prompt_lengths [B] (0 = no prompt).
        -> logits [B,T,codebook] of each row's level, and k, v [L,B,H,T,Dh] of these frames: run on a
        voice prompt alone (prompt_lengths 0) they are that prompt's cache."""
        B, T = semantic.shape
        valid = torch.arange(T, device=semantic.device)[None, :] < lengths[:, None]
        keys_ok = torch.arange(prompt_k.shape[3], device=semantic.device)[None, :] < prompt_lengths[:, None]
        allowed = torch.cat([keys_ok, valid], 1)[:, None, :]
        x = self.embed(semantic, acoustic)
        bias, rope = attention_bias(allowed), rotary_tables(T, self.cfg.dim // self.cfg.heads, semantic.device, prompt_lengths)
        ks, vs = [], []
        for i, b in enumerate(self.blocks):
            x, (k, v) = b(x, bias, rope, [valid], (prompt_k[i], prompt_v[i]))
            ks.append(k)
            vs.append(v)
        logits = torch.matmul(x, self.heads_w[level]) + self.heads_b[level][:, None]
        return logits, torch.stack(ks), torch.stack(vs)

    def prompt_cache(self, semantic, acoustic):
        """Keys and values [L,1,H,P,Dh] of one voice prompt (semantic [P], acoustic [P,Q])."""
        c = self.cfg
        empty = torch.zeros(c.layers, 1, c.heads, 1, c.dim // c.heads)
        _, k, v = self(semantic[None], acoustic[None], torch.zeros(1, dtype=torch.long),
                       torch.tensor([semantic.shape[0]]), empty, empty, torch.zeros(1, dtype=torch.long))
        return k, v

    def logits_at(self, h, level: torch.Tensor) -> torch.Tensor:
        """Training: per-example level [B] -> logits [B,T,K]."""
        return torch.einsum("btd,bdk->btk", h, self.heads_w[level]) + self.heads_b[level][:, None]
