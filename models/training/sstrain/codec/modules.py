"""Encoder and decoder blocks. Every convolution along time is padded asymmetrically (mostly left),
so the decoder's receptive field is bounded and small on the right: streaming decode is exact with
`left_context` frames of history and `right_context` frames of lookahead."""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from ..audio import LogMel, hann


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, hidden: int, kernel: int, right: int, layer_scale: float):
        super().__init__()
        if not 0 <= right < kernel:
            raise ValueError("right padding must be in [0, kernel)")
        self.left, self.right = kernel - 1 - right, right
        self.dw = nn.Conv1d(dim, dim, kernel, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, hidden)
        self.pw2 = nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        y = self.dw(F.pad(x, (self.left, self.right)))
        y = self.norm(y.transpose(1, 2))
        y = self.pw2(F.gelu(self.pw1(y))) * self.gamma
        return x + y.transpose(1, 2)


class Backbone(nn.Module):
    """Input conv + ConvNeXt stack; reports its left/right receptive field in frames."""

    def __init__(self, in_dim: int, dim: int, hidden: int, layers: int, kernel: int, right: int,
                 lookahead_layers: int | None = None):
        super().__init__()
        # the input conv and the first `lookahead_layers` blocks look `right` frames ahead; the rest are causal
        la = layers if lookahead_layers is None else lookahead_layers
        rights = [right] + [right if i < la else 0 for i in range(layers)]
        self.inp_left, self.inp_right = kernel - 1 - rights[0], rights[0]
        self.inp = nn.Conv1d(in_dim, dim, kernel)
        self.norm0 = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList([ConvNeXtBlock(dim, hidden, kernel, r, 1.0 / layers) for r in rights[1:]])
        self.norm = nn.LayerNorm(dim)
        self.left_context = sum(kernel - 1 - r for r in rights)
        self.right_context = sum(rights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, in, T] -> [B, T, dim]
        x = self.inp(F.pad(x, (self.inp_left, self.inp_right)))
        x = self.norm0(x.transpose(1, 2)).transpose(1, 2)
        for b in self.blocks:
            x = b(x)
        return self.norm(x.transpose(1, 2))


class Encoder(nn.Module):
    """Log-mel frames -> latent vectors at the codec frame rate."""

    def __init__(self, sr: int, hop: int, n_fft: int, n_mels: int, dim: int, hidden: int, layers: int,
                 kernel: int, latent: int):
        super().__init__()
        self.mel = LogMel(sr, n_fft, hop, n_mels)
        # the encoder may look ahead freely: it only runs on whole prompts and training audio
        self.backbone = Backbone(n_mels, dim, hidden, layers, kernel, (kernel - 1) // 2)
        self.proj = nn.Linear(dim, latent)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:  # [B, S] -> [B, T, latent]
        return self.proj(self.backbone(self.mel(audio)))


class ISTFTHead(nn.Module):
    """Predicts log-magnitude and phase per frame; the inverse STFT with overlap-add is one fixed
    ConvTranspose1d (windowed inverse-DFT basis), so the whole decoder exports to plain ONNX."""

    def __init__(self, dim: int, n_fft: int, hop: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        bins = n_fft // 2 + 1
        self.out = nn.Linear(dim, 2 * bins)
        self.register_buffer("basis", self.inverse_basis(n_fft), persistent=False)

    @staticmethod
    def inverse_basis(n_fft: int) -> torch.Tensor:
        """Windowed inverse real DFT [2*bins, 1, n_fft]: conv_transpose1d with it is iSTFT + overlap-add."""
        bins = n_fft // 2 + 1
        n = torch.arange(n_fft).float()
        k = torch.arange(bins).float()[:, None]
        scale = torch.cat([torch.full((1, 1), 1.0 / n_fft), torch.full((bins - 2, 1), 2.0 / n_fft), torch.full((1, 1), 1.0 / n_fft)], 0)
        w = hann(n_fft)
        cos_b = torch.cos(2 * math.pi * k * n / n_fft) * scale * w
        sin_b = -torch.sin(2 * math.pi * k * n / n_fft) * scale * w
        return torch.cat([cos_b, sin_b], 0)[:, None, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, dim] -> [B, T*hop]
        bins = self.n_fft // 2 + 1
        h = self.out(x).transpose(1, 2)
        logmag, phase = h[:, :bins], h[:, bins:]
        mag = torch.exp(torch.clamp(logmag, max=6.0))
        spec = torch.cat([mag * torch.cos(phase), mag * torch.sin(phase)], 1)
        # in an ONNX export the basis is computed by graph ops (folded at load) instead of stored
        basis = self.inverse_basis(self.n_fft) if torch.onnx.is_in_onnx_export() else self.basis
        y = F.conv_transpose1d(spec, basis, stride=self.hop)[:, 0]
        trim = (self.n_fft - self.hop) // 2
        T = x.shape[1]
        return y[:, trim:trim + T * self.hop]


class Decoder(nn.Module):
    """RVQ latent -> waveform."""

    def __init__(self, latent: int, dim: int, hidden: int, layers: int, kernel: int, right: int,
                 lookahead_layers: int, n_fft: int, hop: int, upsample: int = 1):
        super().__init__()
        self.backbone = Backbone(latent, dim, hidden, layers, kernel, right, lookahead_layers)
        # upsample > 1: the iSTFT head runs at `upsample` times the code rate (hop / upsample), so its
        # frames overlap 4x instead of 2x and one frame's phase error is averaged with more neighbours
        self.upsample = upsample
        self.up = (nn.ConvTranspose1d(dim, dim, 2 * upsample, stride=upsample, padding=upsample // 2)
                   if upsample > 1 else None)
        self.head = ISTFTHead(dim, n_fft, hop // upsample)
        # iSTFT frames overlap their neighbours by (n_fft - hop') / 2 samples on each side; the
        # transposed convolution reaches one code frame further each way
        ola = math.ceil(((n_fft - hop // upsample) // 2) / hop) + (1 if upsample > 1 else 0)
        self.left_context = self.backbone.left_context + ola
        self.right_context = self.backbone.right_context + ola

    @torch.no_grad()
    def init_upsample_as_repeat(self) -> None:
        """Start the upsampler as 'repeat each frame' and halve the head's magnitudes (overlap-add of
        Hann windows at hop n_fft/4 sums to 2, at n_fft/2 to 1), so a decoder trained without it
        starts close to where it was."""
        if self.up is None:
            return
        u = self.upsample
        self.up.weight.zero_()
        self.up.bias.zero_()
        eye = torch.eye(self.up.weight.shape[0])
        for k in range(u // 2, u // 2 + u):  # the taps that map input frame t onto outputs t*u .. t*u+u-1
            self.up.weight[:, :, k] = eye
        bins = self.head.n_fft // 2 + 1
        self.head.out.bias[:bins] -= math.log(u)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [B, T, latent] -> [B, T*hop]
        h = self.backbone(z.transpose(1, 2))
        if self.up is not None:
            h = self.up(h.transpose(1, 2)).transpose(1, 2)
        return self.head(h)
