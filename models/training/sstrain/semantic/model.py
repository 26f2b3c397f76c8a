"""Semantic tokenizer: a small phone classifier over log-mel frames at 25 Hz, whose hidden features
are clustered by k-means into units. Trained on flite's phone alignments with a gradient-reversed
speaker head, so the units say what is said and as little as possible about who says it."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ..audio import LogMel

# flite's US English phone set (cmu_us_*), in a fixed order; 'pau' is silence.
PHONES = ["pau", "aa", "ae", "ah", "ao", "aw", "ax", "ay", "b", "ch", "d", "dh", "eh", "er", "ey", "f", "g", "hh",
          "ih", "iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s", "sh", "t", "th", "uh", "uw", "v",
          "w", "y", "z", "zh"]


@dataclass
class SemanticConfig:
    sample_rate: int = 16000
    hop: int = 640                 # 25 units/s
    n_fft: int = 1024
    mels: int = 80
    dim: int = 256
    conv_layers: int = 4
    attn_layers: int = 2
    heads: int = 4
    units: int = 512
    speakers: int = 16
    feature_layer: int = -1        # hidden features fed to k-means (last block)
    # what k-means clusters: "hidden" (the last block's features, unit length) or "posterior" (sqrt of the phone
    # posteriors: unit length, Euclidean distance is the Hellinger distance between posteriors, so a unit stays
    # within what the classifier decides rather than within whatever else the hidden layer keeps)
    unit_feature: str = "hidden"

    def to_dict(self) -> dict:
        return asdict(self)


class ConvBlock(nn.Module):
    def __init__(self, d: int, k: int = 5):
        super().__init__()
        self.dw = nn.Conv1d(d, d, k, padding=k // 2, groups=d)
        self.norm = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, D]
        y = self.dw(x.transpose(1, 2)).transpose(1, 2)
        return x + self.ff(self.norm(y))


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.scale * g, None


class PhoneNet(nn.Module):
    def __init__(self, c: SemanticConfig):
        super().__init__()
        self.cfg = c
        # mel at 50 Hz (hop/2), then a stride-2 conv to 25 Hz
        self.mel = LogMel(c.sample_rate, c.n_fft, c.hop // 2, c.mels)
        self.inp = nn.Conv1d(c.mels, c.dim, 4, stride=2, padding=1)
        self.convs = nn.ModuleList([ConvBlock(c.dim) for _ in range(c.conv_layers)])
        self.attn = nn.ModuleList([nn.TransformerEncoderLayer(c.dim, c.heads, 2 * c.dim, 0.1, activation="gelu",
                                                              batch_first=True, norm_first=True)
                                   for _ in range(c.attn_layers)])
        self.norm = nn.LayerNorm(c.dim)
        self.phone_head = nn.Linear(c.dim, len(PHONES))
        self.speaker_head = nn.Sequential(nn.Linear(c.dim, c.dim), nn.GELU(), nn.Linear(c.dim, c.speakers))

    def features(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """audio [B, S] (S a multiple of hop) -> features [B, S/hop, D].

        lengths [B]: real frames (S/hop units) of rows zero-padded at the end (training crops of short
        utterances). The padding then leaves the real frames as an unpadded utterance gives them (as
        tokenization sees every utterance): the per-utterance mean is over real frames only, and the
        convolutions and attention see past the end what they see at an utterance's end (zeros, masked keys).
        Without lengths (export, tokenization) every frame is real: the graph is unchanged."""
        m = self.mel(audio)                                   # [B, mels, 2T]
        keep = None
        if lengths is None:
            m = m - m.mean(dim=2, keepdim=True)               # per-utterance mean: removes channel/speaker tilt
        else:
            T = audio.shape[1] // self.cfg.hop
            keep = torch.arange(T, device=m.device)[None] < lengths.to(m.device)[:, None]               # [B, T]
            mk = (torch.arange(m.shape[2], device=m.device)[None] < 2 * lengths.to(m.device)[:, None])[:, None].to(m.dtype)
            m = (m - (m * mk).sum(2, keepdim=True) / mk.sum(2, keepdim=True).clamp(min=1)) * mk
        x = F.gelu(self.inp(m))                               # [B, D, T]
        if x.requires_grad and not torch.jit.is_tracing():
            # Debian's torch 1.13 gets GELU's gradient wrong (garbage, up to 1e30) when the incoming gradient is
            # laid out unlike its input, as the transposed one here is: hand it a contiguous one
            x.register_hook(lambda g: g.contiguous())
        x = x.transpose(1, 2)                                 # [B, T, D]
        for b in self.convs:
            x = b(x if keep is None else x * keep[..., None].to(x.dtype))
        for a in self.attn:
            x = a(x, src_key_padding_mask=None if keep is None else ~keep)
        return self.norm(x)

    def forward(self, audio: torch.Tensor, reverse: float = 1.0, lengths: torch.Tensor | None = None):
        h = self.features(audio, lengths)
        return h, self.phone_head(h), self.speaker_head(GradReverse.apply(h, reverse))

    def unit_features(self, h: torch.Tensor) -> torch.Tensor:
        """features [B, T, D] -> the unit-length vectors k-means clusters [B, T, D'] (`SemanticConfig.unit_feature`)."""
        if self.cfg.unit_feature == "posterior":
            return torch.sqrt(torch.softmax(self.phone_head(h), dim=-1))
        if self.cfg.unit_feature != "hidden":
            raise ValueError(f"unknown unit_feature {self.cfg.unit_feature!r}")
        return F.normalize(h, dim=-1)


class Tokenizer(nn.Module):
    """Exported graph: audio -> nearest k-means centroid of each frame's features."""

    def __init__(self, net: PhoneNet, centroids: torch.Tensor):
        super().__init__()
        self.net = net
        self.register_buffer("centroids", centroids)

    def distances(self, h: torch.Tensor) -> torch.Tensor:
        """unit features [..., D'] -> squared distances to every centroid [..., units]."""
        return (h * h).sum(-1, keepdim=True) - 2 * h @ self.centroids.t() + (self.centroids ** 2).sum(-1)

    def assign(self, h: torch.Tensor) -> torch.Tensor:
        """unit features [..., D'] -> the nearest centroid of each."""
        return self.distances(h).argmin(-1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.assign(self.net.unit_features(self.net.features(audio)))


class TokenizerWithDistances(nn.Module):
    """Exported graph when units are decoded with a switch penalty: audio -> (nearest centroid of each frame,
    squared distances to every centroid). The caller runs units_with_switch_penalty over the distances."""

    def __init__(self, tok: Tokenizer):
        super().__init__()
        self.tok = tok

    def forward(self, audio: torch.Tensor):
        d = self.tok.distances(self.tok.net.unit_features(self.tok.net.features(audio)))
        return d.argmin(-1), d


def units_with_switch_penalty(d: np.ndarray, penalty: float) -> np.ndarray:
    """The unit path minimising the summed distances d [T, units] plus `penalty` per change of unit (Viterbi;
    the penalty is the same for every change, so a unit's best predecessor is itself or the frame's cheapest
    unit). Ties keep the unit and the last frame takes the lowest index, as the server's TypeScript does
    (src/pipeline/semantic/units-of-audio.ts). Frame-to-frame flicker between neighbouring units goes;
    changes that a phone makes stay."""
    d = np.asarray(d, dtype=np.float64)
    T, K = d.shape
    units = np.zeros(T, np.int64)
    if T == 0:
        return units
    cost, back, keep = d[0].copy(), np.zeros((T, K), np.int64), np.arange(K)
    for t in range(1, T):
        j = int(cost.argmin())
        move = cost[j] + penalty
        take = move < cost
        back[t] = np.where(take, j, keep)
        cost = np.where(take, move, cost) + d[t]
    units[-1] = int(cost.argmin())
    for t in range(T - 1, 0, -1):
        units[t - 1] = back[t, units[t]]
    return units
