"""Reconstruction losses: multi-resolution STFT (spectral convergence + log magnitude) and log-mel L1.
They use torch.stft (FFT): much cheaper to train with than the conv STFT the exported encoder uses."""
from __future__ import annotations

import torch
from torch import nn

from ..audio import mel_filterbank


def _stft(y: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """A window shorter than n_fft is centred in each frame (zero-padded FFT)."""
    return torch.stft(y, n_fft, hop, win_length=window.shape[-1], window=window, center=True, return_complex=True)


def _mag(y: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    s = _stft(y, n_fft, hop, window)
    return torch.sqrt(s.real ** 2 + s.imag ** 2 + 1e-7)


class _Resolutions(nn.Module):
    """A loss over several (n_fft, hop) STFT resolutions: one Hann window buffer per size."""

    def __init__(self, resolutions):
        super().__init__()
        self.res = list(resolutions)
        for n, _ in self.res:
            self.register_buffer(f"w{n}", torch.hann_window(n), persistent=False)

    def each(self):
        """(n_fft, hop, window) per resolution."""
        return [(n, h, getattr(self, f"w{n}")) for n, h in self.res]


class MultiResolutionSTFTLoss(_Resolutions):
    def __init__(self, resolutions=((512, 128), (1024, 256), (256, 64))):
        super().__init__(resolutions)

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = y.new_zeros(())
        for n, h, w in self.each():
            m1, m2 = _mag(y_hat, n, h, w), _mag(y, n, h, w)
            sc = torch.norm(m2 - m1) / torch.norm(m2).clamp(min=1e-5)
            lm = (torch.log(m1) - torch.log(m2)).abs().mean()
            loss = loss + sc + lm
        return loss / len(self.res)


class MelLoss(nn.Module):
    def __init__(self, sr: int, n_fft: int = 1024, hop: int = 160, n_mels: int = 80, win: int | None = None,
                 fmin: float = 0.0, fmax: float | None = None):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(win or n_fft), persistent=False)
        self.register_buffer("fb", mel_filterbank(sr, n_fft, n_mels, fmin, fmax), persistent=False)

    def logmel(self, y: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.clamp(torch.matmul(self.fb, _mag(y, self.n_fft, self.hop, self.window)), min=1e-5))

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.logmel(y_hat) - self.logmel(y)).abs().mean()


class RecognizerFeatureLoss(nn.Module):
    """What a speech recognizer's front end sees (log-mel over 25 ms windows every 10 ms, 40 bands over
    133-6855 Hz: pocketsphinx's defaults), in two parts:

    - `frames`: L1 between the two feature sequences, frame by frame. The training mel loss looks through
      64 ms windows and cannot see the temporal detail these resolve.
    - `stats`: L1 between per-band statistics over the speech frames of each crop (the target's frames
      well above the floor): standard deviation, mean |first difference| and mean |second difference|
      over time. Frame-wise losses pull an uncertain decoder towards smooth averages; these statistics
      (global variance, as statistical parametric synthesis called it) can only be met by keeping the
      target's temporal contrast. flite's audio with its magnitudes smeared over ~40 ms loses as many of
      slt's words as the codec does."""

    def __init__(self, sr: int, speech_above: float = 4.0):
        super().__init__()
        self.mel = MelLoss(sr, n_fft=512, hop=160, n_mels=40, win=400, fmin=133.0, fmax=6855.0)
        self.speech_above = speech_above

    def features(self, y: torch.Tensor) -> torch.Tensor:
        """[B, bands, frames] log-mel."""
        return self.mel.logmel(y)

    @staticmethod
    def _masked_mean(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Mean over time of x [B, bands, T] where m [B, 1, T]; [B, bands]."""
        return (x * m).sum(-1) / m.sum(-1).clamp(min=1.0)

    def stats(self, f: torch.Tensor, speech: torch.Tensor) -> list[torch.Tensor]:
        mean = self._masked_mean(f, speech)
        std = torch.sqrt(self._masked_mean((f - mean[..., None]) ** 2, speech) + 1e-6)
        d1, m1 = f[..., 1:] - f[..., :-1], speech[..., 1:] * speech[..., :-1]
        d2, m2 = d1[..., 1:] - d1[..., :-1], m1[..., 1:] * m1[..., :-1]
        return [std, self._masked_mean(d1.abs(), m1), self._masked_mean(d2.abs(), m2)]

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(frames, stats) losses."""
        a, b = self.features(y_hat), self.features(y)
        frames = (a - b).abs().mean()
        with torch.no_grad():
            level = b.mean(1, keepdim=True)
            speech = (level > level.amax(-1, keepdim=True) - self.speech_above).float()  # within ~35 dB of the crop's loudest
        stats = sum((sa - sb).abs().mean() for sa, sb in zip(self.stats(a, speech), self.stats(b, speech)))
        return frames, stats


class PhaseAdvanceLoss(_Resolutions):
    """How far each STFT bin's phase advance from one frame to the next strays from the original's,
    weighted by the original's magnitude in both frames. Harmonics whose phase does not advance
    coherently across frames cancel in the overlap-add (dense-harmonic voices such as slt lose
    words that way) while every single frame's magnitude can still look right to the spectral
    losses. The advance is well defined where the phase itself is not: it ignores any constant
    phase offset per bin, which the codes cannot determine. 0 (equal advances) .. 4 (opposite)."""

    def __init__(self, resolutions=((1024, 256), (512, 128))):
        super().__init__(resolutions)

    @staticmethod
    def _advance(y: torch.Tensor, n: int, h: int, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = _stft(y, n, h, w)
        a = s[..., 1:] * torch.conj(s[..., :-1])
        mag = torch.sqrt(a.real ** 2 + a.imag ** 2 + 1e-9)
        return torch.view_as_real(a) / mag[..., None], mag

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = y.new_zeros(())
        for n, h, w in self.each():
            u_hat, _ = self._advance(y_hat, n, h, w)
            with torch.no_grad():
                u, weight = self._advance(y, n, h, w)
                weight = torch.sqrt(weight)            # the geometric mean of the two frames' magnitudes
                weight = weight / weight.sum().clamp(min=1e-9)
            loss = loss + (weight * ((u_hat - u) ** 2).sum(-1)).sum()
        return loss / len(self.res)


class PhonePosteriorLoss(nn.Module):
    """What a frozen phone classifier (the semantic tokenizer's phone net, trained on flite's alignments)
    hears differently in the decoded audio: KL divergence of its phone posteriors, original against
    decoded, plus L1 between its normalised hidden features. The spectral losses weigh every bin of
    every frame alike, so a decoder can lower them while blurring the short cues that tell one phone from
    another (codec words are lost mid-phrase on vowel/consonant confusions); this loss weighs what a
    recogniser uses. The net stays in eval mode and frozen: only the decoder learns from it."""

    def __init__(self, ckpt_path: str, feature_weight: float = 1.0):
        super().__init__()
        from ..semantic.model import PhoneNet, SemanticConfig   # codec training without it never imports it
        ck = torch.load(ckpt_path, map_location="cpu")
        self.net = PhoneNet(SemanticConfig(**ck["config"]))
        self.net.load_state_dict(ck["model"])
        self.net.eval().requires_grad_(False)   # eval mode for good: no dropout, the same features every step
        self.hop = self.net.cfg.hop
        self.feature_weight = feature_weight

    def _phones(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net.features(y)
        return h, torch.log_softmax(self.net.phone_head(h), dim=-1)

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n = (y.shape[-1] // self.hop) * self.hop
        if n == 0:
            return y.new_zeros(())
        with torch.no_grad():
            h, logp = self._phones(y[..., :n])
        h_hat, logp_hat = self._phones(y_hat[..., :n])
        kl = (logp.exp() * (logp - logp_hat)).sum(-1).mean()
        return kl + self.feature_weight * (h_hat - h).abs().mean()
