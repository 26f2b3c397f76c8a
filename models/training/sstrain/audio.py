"""Audio front ends shared by training and export: STFT as a fixed convolution (ONNX-exportable),
mel filterbank, and random-crop access to the packed corpus."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


def hann(n: int) -> torch.Tensor:
    return 0.5 - 0.5 * torch.cos(2 * math.pi * torch.arange(n) / n)  # periodic


def dft_basis(n_fft: int) -> torch.Tensor:
    """Windowed forward DFT rows [2*bins, 1, n_fft] (real then imaginary), float32.

    The phase index k*n is reduced modulo n_fft in integers before the float32 trigonometry: unreduced,
    angles of up to ~3,200 rad are off by ~2e-4, enough to move 5 % of level-1 codes (and half of level 8's)
    away from the codes torch.stft gives the same audio in training. In an ONNX export these are graph ops
    (folded at load), so the basis costs the file nothing."""
    bins = n_fft // 2 + 1
    phase = (torch.arange(bins, dtype=torch.int64)[:, None] * torch.arange(n_fft, dtype=torch.int64)) % n_fft
    ang = (2 * math.pi / n_fft) * phase.float()
    w = hann(n_fft)
    return torch.cat([torch.cos(ang) * w, -torch.sin(ang) * w], 0)[:, None, :]


class ConvSTFT(nn.Module):
    """Real/imag STFT with fixed framing: torch.stft (FFT) in training, a fixed Conv1d with the same
    windowed DFT basis in an ONNX export (ONNX has no STFT op)."""

    def __init__(self, n_fft: int, hop: int, center_pad: bool = True):
        super().__init__()
        self.n_fft, self.hop, self.center_pad = n_fft, hop, center_pad

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio [B, S] -> (real, imag) each [B, bins, frames]; frames = S // hop when S is a multiple of hop."""
        x = audio[:, None, :]
        if self.center_pad:
            p = (self.n_fft - self.hop) // 2
            x = F.pad(x, (p, p + (self.n_fft - self.hop) % 2))
        bins = self.n_fft // 2 + 1
        if not torch.onnx.is_in_onnx_export():
            # same frames, window and sign convention as the conv basis, via FFT (much cheaper to train with)
            s = torch.stft(x[:, 0], self.n_fft, self.hop, window=hann(self.n_fft).to(x.device), center=False,
                           return_complex=True)
            return s.real, s.imag
        y = F.conv1d(x, dft_basis(self.n_fft), stride=self.hop)
        return y[:, :bins], y[:, bins:]


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """Slaney-style triangular filters on the HTK mel scale, [n_mels, bins]."""
    fmax = fmax or sr / 2
    to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    to_hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)
    mels = np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2)
    hz = to_hz(mels)
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    fb = np.zeros((n_mels, len(freqs)), dtype=np.float32)
    for i in range(n_mels):
        lo, c, hi = hz[i], hz[i + 1], hz[i + 2]
        up = (freqs - lo) / max(c - lo, 1e-6)
        down = (hi - freqs) / max(hi - c, 1e-6)
        fb[i] = np.maximum(0, np.minimum(up, down)) * (2.0 / (hi - lo))
    return torch.from_numpy(fb)


class LogMel(nn.Module):
    def __init__(self, sr: int, n_fft: int, hop: int, n_mels: int):
        super().__init__()
        self.stft = ConvSTFT(n_fft, hop)
        self.register_buffer("fb", mel_filterbank(sr, n_fft, n_mels), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        re, im = self.stft(audio)
        mag = torch.sqrt(re * re + im * im + 1e-9)
        return torch.log(torch.clamp(torch.matmul(self.fb, mag), min=1e-5))


@dataclass
class Utt:
    id: str
    speaker_id: int
    base_voice: str
    text: str
    offset: int
    length: int
    phones: list
    speaker: str = ""


class PackedCorpus:
    """One split of the packed corpus: int16 samples in one file + JSONL index."""

    def __init__(self, root: str | Path, split: str):
        root = Path(root)
        self.pcm = np.memmap(root / f"{split}.pcm", dtype=np.int16, mode="r")
        self.utts = [Utt(**{k: d[k] for k in ("id", "speaker_id", "base_voice", "text", "offset", "length", "phones")},
                         speaker=d.get("speaker", ""))
                     for d in map(json.loads, open(root / f"{split}.jsonl"))]
        if not self.utts:
            raise ValueError(f"empty split {split} in {root}")

    def audio(self, u: Utt) -> np.ndarray:
        return np.asarray(self.pcm[u.offset:u.offset + u.length], dtype=np.float32) / 32768.0

    def share_weights(self, speakers: set[str], share: float) -> np.ndarray:
        """Per-utterance sampling probabilities giving `share` of the draws to the utterances of `speakers`
        (uniformly among them) and the rest to the others."""
        mine = np.array([u.speaker in speakers for u in self.utts])
        if not 0 < mine.sum() < len(mine):
            raise ValueError(f"speakers {sorted(speakers)} hold {mine.sum()} of {len(mine)} utterances: nothing to reweight")
        return np.where(mine, share / mine.sum(), (1 - share) / (~mine).sum())

    def random_crops(self, rng: np.random.Generator, batch: int, samples: int, weights: np.ndarray | None = None) -> torch.Tensor:
        """Random crops of random utterances (uniform, or drawn with `weights` from share_weights)."""
        out = np.zeros((batch, samples), dtype=np.float32)
        for b in range(batch):
            u = self.utts[rng.integers(len(self.utts)) if weights is None else rng.choice(len(self.utts), p=weights)]
            if u.length <= samples:
                out[b, :u.length] = self.audio(u)
            else:
                s = int(rng.integers(u.length - samples))
                out[b] = np.asarray(self.pcm[u.offset + s:u.offset + s + samples], dtype=np.float32) / 32768.0
        return torch.from_numpy(out)
