"""Discriminators for adversarial decoder training, sized for a 2-core CPU.

A decoder trained on spectral losses alone predicts each 20 ms frame's phase on its own; where
neighbouring frames disagree, overlap-add cancels harmonics. That hurts most where harmonics are
densest in time, high voices. Two critics look at exactly that:
- periods (2, 3, 5, 7, 11): the waveform folded at a period, 2-D convs along the fold see whether
  samples one period apart behave like real periodic speech;
- resolutions (STFT 1024/512/256): log-magnitude images, convs across time and frequency see
  smeared or cancelled harmonics.
Least-squares GAN losses plus feature matching (L1 between the critics' hidden activations).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def _score(convs: nn.ModuleList, out: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """-> (per-patch scores flattened, each hidden layer's activations for feature matching)"""
    feats = []
    for c in convs:
        x = F.leaky_relu(c(x), 0.1)
        feats.append(x)
    return out(x).flatten(1), feats


class PeriodCritic(nn.Module):
    def __init__(self, period: int, channels=(16, 32, 64, 128)):
        super().__init__()
        self.period = period
        chans = (1,) + tuple(channels)
        self.convs = nn.ModuleList([nn.utils.weight_norm(nn.Conv2d(a, b, (5, 1), (3, 1), (2, 0)))
                                    for a, b in zip(chans[:-1], chans[1:])])
        self.convs.append(nn.utils.weight_norm(nn.Conv2d(chans[-1], chans[-1], (5, 1), 1, (2, 0))))
        self.out = nn.utils.weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, (1, 0)))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:  # y [B, S]
        p = self.period
        y = F.pad(y, (0, (-y.shape[1]) % p), mode="reflect")
        return _score(self.convs, self.out, y.reshape(y.shape[0], 1, -1, p))


class ResolutionCritic(nn.Module):
    def __init__(self, n_fft: int, channels: int = 16):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        c = channels
        self.convs = nn.ModuleList([
            nn.utils.weight_norm(nn.Conv2d(1, c, (3, 9), (1, 2), (1, 4))),
            nn.utils.weight_norm(nn.Conv2d(c, c, (3, 9), (1, 2), (1, 4))),
            nn.utils.weight_norm(nn.Conv2d(c, c, (3, 9), (1, 2), (1, 4))),
            nn.utils.weight_norm(nn.Conv2d(c, c, (3, 3), (1, 1), (1, 1))),
        ])
        self.out = nn.utils.weight_norm(nn.Conv2d(c, 1, (3, 3), 1, (1, 1)))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        s = torch.stft(y, self.n_fft, self.n_fft // 4, window=self.window, center=True, return_complex=True)
        return _score(self.convs, self.out, torch.log(s.real ** 2 + s.imag ** 2 + 1e-6).transpose(1, 2)[:, None])


class Critics(nn.Module):
    def __init__(self, periods=(2, 3, 5, 7, 11), resolutions=(1024, 512, 256)):
        super().__init__()
        self.critics = nn.ModuleList([PeriodCritic(p) for p in periods] + [ResolutionCritic(n) for n in resolutions])

    def forward(self, y: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        return [c(y) for c in self.critics]


def critic_loss(real: list, fake: list) -> torch.Tensor:
    """Least squares: real scores toward 1, generated toward 0."""
    return sum(((1 - r) ** 2).mean() + (f ** 2).mean() for (r, _), (f, _) in zip(real, fake)) / len(real)


def generator_losses(real: list, fake: list) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (adversarial: generated scores toward 1, feature matching: L1 of hidden activations)."""
    adv = sum(((1 - f) ** 2).mean() for f, _ in fake) / len(fake)
    fm = sum(sum((a - b.detach()).abs().mean() for a, b in zip(ff, rf)) / len(ff)
             for (_, ff), (_, rf) in zip(fake, real)) / len(fake)
    return adv, fm
