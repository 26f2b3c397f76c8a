"""Non-autoregressive text-to-semantic models (the Spear-TTS stage, duration based):

- DurationModel: phonemes (+ prompt phonemes and semantic tokens) -> log frames per phoneme.
- TokenModel: phonemes expanded to frames (+ position inside the phoneme) -> semantic unit per frame,
  with the prompt's semantic tokens as a prefix (voice prompt and the previous chunk of the stream),
  so chunk-wise generation continues what came before.

Both are bidirectional transformers over [prompt ; target]; batch 1 at serving, padded in training."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class T2SConfig:
    symbols: int = 77
    units: int = 512
    dur_dim: int = 128
    dur_layers: int = 2
    tok_dim: int = 192
    tok_layers: int = 3
    heads: int = 4
    dropout: float = 0.1
    duration_offset: float = 0.1   # frames = exp(log_duration) - offset (silent symbols have 0 frames)

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """positions [..., L] float -> [..., L, dim]"""
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float32, device=positions.device) * (-math.log(10000.0) / half))
    a = positions.unsqueeze(-1) * freq
    return torch.cat([torch.sin(a), torch.cos(a)], -1)


def encoder(d: int, layers: int, heads: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(d, heads, 4 * d, dropout, activation="gelu", batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class DurationModel(nn.Module):
    def __init__(self, c: T2SConfig):
        super().__init__()
        d = c.dur_dim
        self.ph = nn.Embedding(c.symbols, d)
        self.seg = nn.Embedding(2, d)
        self.rate = nn.Linear(1, d)
        self.enc = encoder(d, c.dur_layers, c.heads, c.dropout)
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, 1)
        self.d = d

    def forward(self, phonemes, prompt_phonemes, prompt_semantic, pad_mask=None, frames_len=None):
        """phonemes [B,N], prompt_phonemes [B,P], prompt_semantic [B,F] -> log durations [B,N].
        Training pads the prompt on the left and the target on the right (pad id 0; pad_mask [B,P+N],
        True = pad) and passes the true prompt frame counts `frames_len` [B]."""
        B, N = phonemes.shape
        P = prompt_phonemes.shape[1]
        prompt_len = (prompt_phonemes != 0).sum(1).float()
        if frames_len is None:  # serving: batch 1, nothing padded
            frames_len = (prompt_semantic[:, :1] * 0).sum(1).float() + prompt_semantic.shape[1]
        rate = torch.log((frames_len.float() + 1) / (prompt_len + 1))[:, None, None]
        x = torch.cat([self.ph(prompt_phonemes) + self.seg.weight[0], self.ph(phonemes) + self.seg.weight[1]], 1)
        # positions relative to the first target phoneme: left padding of the prompt changes nothing
        pos = (torch.arange(P + N, device=x.device, dtype=torch.float32) - P)[None].expand(B, -1) + 1000.0
        x = x + sinusoid(pos, self.d) + self.rate(rate)
        h = self.enc(x, src_key_padding_mask=pad_mask)
        return self.out(self.norm(h[:, P:])).squeeze(-1)


class TokenModel(nn.Module):
    def __init__(self, c: T2SConfig):
        super().__init__()
        d = c.tok_dim
        self.ph = nn.Embedding(c.symbols, d)
        self.sem = nn.Embedding(c.units, d)
        self.seg = nn.Embedding(2, d)
        self.inph = nn.Sequential(nn.Linear(1, d), nn.GELU(), nn.Linear(d, d))
        self.enc = encoder(d, c.tok_layers, c.heads, c.dropout)
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, c.units)
        self.d = d

    def forward(self, frame_phonemes, frame_position, prompt_phonemes, prompt_semantic, pad_mask=None):
        """frame_phonemes [B,T], frame_position [B,T] (0..1 inside the phoneme), prompt_phonemes [B,P],
        prompt_semantic [B,F] -> logits [B,T,units]. The prompt's phonemes enter as a mean (its frames
        carry the detail)."""
        B, T = frame_phonemes.shape
        F_ = prompt_semantic.shape[1]
        keep = (prompt_phonemes != 0).float().unsqueeze(-1)
        pp = (self.ph(prompt_phonemes) * keep).sum(1, keepdim=True) / keep.sum(1, keepdim=True).clamp(min=1)
        tgt = self.ph(frame_phonemes) + self.inph(frame_position.unsqueeze(-1)) + self.seg.weight[1]
        x = torch.cat([self.sem(prompt_semantic) + self.seg.weight[0], tgt], 1) + pp
        # positions count back from the first target frame, so the prompt's length does not shift the target
        pos = (torch.arange(F_ + T, device=x.device, dtype=torch.float32) - F_)[None].expand(B, -1) + 1000.0
        x = x + sinusoid(pos, self.d)
        h = self.enc(x, src_key_padding_mask=pad_mask)
        return self.out(self.norm(h[:, F_:]))
