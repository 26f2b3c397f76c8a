"""Codec configuration and the builder that turns it into an encoder, quantizer and decoder."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .modules import Decoder, Encoder
from .quantizer import QuantizerResult, ResidualVQ


@dataclass
class CodecConfig:
    sample_rate: int = 16000
    hop: int = 320                 # 50 frames/s
    levels: int = 8
    codebook_size: int = 1024
    latent: int = 128
    enc_n_fft: int = 1024
    enc_mels: int = 80
    enc_dim: int = 192
    enc_hidden: int = 576
    enc_layers: int = 4
    enc_kernel: int = 5
    dec_dim: int = 256
    dec_hidden: int = 768
    dec_layers: int = 8
    dec_kernel: int = 5
    dec_right: int = 1
    dec_lookahead_layers: int = 2
    dec_n_fft: int = 640
    dec_upsample: int = 1          # iSTFT head frames per code frame (2: hop 160, 4x overlap)
    # training
    batch: int = 12
    crop_frames: int = 48
    lr: float = 1e-3
    warmup: int = 500
    steps: int = 60000
    mel_weight: float = 15.0
    stft_weight: float = 1.0
    # phase-advance loss (losses.PhaseAdvanceLoss): harmonics coherent from frame to frame; 0 = off
    phase_weight: float = 0.0
    # phone-posterior loss (losses.PhonePosteriorLoss, needs --phone-net): what a frozen phone classifier hears; 0 = off
    phone_weight: float = 0.0
    # recognizer-feature losses (losses.RecognizerFeatureLoss): 25 ms / 10 ms log-mel frame by frame, and its
    # per-band temporal statistics (variance, mean |deltas|) over speech; 0 = off
    asr_feature_weight: float = 0.0
    asr_stats_weight: float = 0.0
    commit_weight: float = 1.0
    ema_decay: float = 0.99
    # a code is restarted when its EMA usage falls below this share of the expected usage (batch x
    # crop_frames / codebook_size vectors per step)
    dead_fraction: float = 0.05
    dead_threshold: float = 0.5    # legacy absolute threshold, in the configs of older checkpoints; ignored
    # share of training batches quantized with a random number of levels (1..levels), in the first phase and
    # with --freeze-encoder alike, so that fewer levels still decode
    quantizer_dropout: float = 1.0
    init_batches: int = 16
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class Codec(nn.Module):
    def __init__(self, c: CodecConfig):
        super().__init__()
        self.cfg = c
        self.encoder = Encoder(c.sample_rate, c.hop, c.enc_n_fft, c.enc_mels, c.enc_dim, c.enc_hidden, c.enc_layers,
                               c.enc_kernel, c.latent)
        self.quantizer = ResidualVQ(c.levels, c.codebook_size, c.latent, c.ema_decay, c.dead_fraction, c.quantizer_dropout)
        self.decoder = Decoder(c.latent, c.dec_dim, c.dec_hidden, c.dec_layers, c.dec_kernel, c.dec_right,
                               c.dec_lookahead_layers, c.dec_n_fft, c.hop, c.dec_upsample)

    def forward(self, audio: torch.Tensor, n_levels: int | None = None) -> tuple[torch.Tensor, QuantizerResult]:
        z = self.encoder(audio)
        q = self.quantizer(z, n_levels)
        return self.decoder(q.quantized), q

    @torch.no_grad()
    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        return self.quantizer(self.encoder(audio), self.cfg.levels).codes

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.quantizer.decode_codes(codes))
