"""The codec's frame-rate comb: how much more power a resynthesis has at multiples of the code frame
rate (50 Hz) than halfway between them, in dB (the original flite audio reads about 0). A decoder that
predicts every frame's phase on its own pulls harmonics onto multiples of the frame rate and fills
the valleys between them with a buzz; the spectral losses barely see it, pocketsphinx hears it.

    cd models/training && /usr/bin/python3 -m sstrain.codec.frame_comb --ckpt ../../runs/codec-onnx/init.ckpt \\
        --sentences ../../../shared/eval/dev-sentences.txt --png /tmp/comb.png

`--png` also draws the first sentence's spectrogram (0-4 kHz, slt unless --png-voice): the original on
top, then each checkpoint's resynthesis; comb lines show as horizontal stripes, also in the pauses.
"""
from __future__ import annotations

import argparse
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from ..soundstorm.ablate import BASE
from ..tokens import load_codec
from .asr_check import flite, resynth


def comb_db(y: np.ndarray, frame_rate: float = 50.0, sr: int = 16000, n_fft: int = 8192, top_hz: float = 4000) -> float:
    """Mean power at k x frame_rate (k >= 2) over the power halfway between, in dB."""
    s = torch.stft(torch.from_numpy(y), n_fft, n_fft // 4, window=torch.hann_window(n_fft), return_complex=True)
    p = (s.abs() ** 2).mean(1).numpy()
    per_bin = sr / n_fft

    def around(hz: float) -> float:
        b = int(round(hz / per_bin))
        return float(p[b - 1:b + 2].mean())

    ks = range(2, int(top_hz / frame_rate))
    on = np.mean([around(k * frame_rate) for k in ks])
    off = np.mean([around((k + 0.5) * frame_rate) for k in ks])
    return float(10 * np.log10(on / off))


def write_png(path: str, img: np.ndarray) -> None:
    """Grayscale 8-bit PNG, written directly (no plotting library on the training machine)."""
    h, w = img.shape
    raw = b"".join(b"\x00" + img[i].tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def spectrogram_rows(signals: list[np.ndarray], top_bin: int = 257, floor_db: float = 70.0) -> np.ndarray:
    """Log spectrograms (1024-point, hop 64, 0 .. top_bin) stacked top to bottom, white = loud, 8-bit."""
    specs = [20 * np.log10(torch.stft(torch.from_numpy(y), 1024, 64, window=torch.hann_window(1024),
                                      return_complex=True).abs().numpy()[:top_bin][::-1] + 1e-5) for y in signals]
    width = min(s.shape[1] for s in specs)
    hi = max(float(s.max()) for s in specs)
    sep = np.full((3, width), 0.5)
    rows = []
    for s in specs:
        rows += [np.clip((s[:, :width] - hi + floor_db) / floor_db, 0, 1), sep]
    return (255 * np.concatenate(rows[:-1])).astype(np.uint8)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True, nargs="+", help="one or more codec checkpoints")
    ap.add_argument("--sentences", required=True)
    ap.add_argument("--n", type=int, default=6, help="sentences per voice")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--png", help="also draw the first sentence's spectrograms here")
    ap.add_argument("--png-voice", default="slt")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    sents = [s.strip() for s in Path(a.sentences).read_text().splitlines() if s.strip()][:a.n]
    codecs = [load_codec(c) for c in a.ckpt]
    print("comb dB  voice  original  " + "  ".join(a.ckpt), flush=True)
    drawn = None
    for voice in BASE + ((a.png_voice,) if a.png and a.png_voice not in BASE else ()):
        # per sentence: the original, then each checkpoint's resynthesis
        signals = [[x] + [resynth(c, x, "q8") for c in codecs] for x in (flite(s, voice) for s in sents)]
        if voice == a.png_voice:
            drawn = signals[0]
        row = np.mean([[comb_db(y) for y in per] for per in signals], axis=0)
        print(f"{voice:>14}  " + "  ".join(f"{r:6.2f}" for r in row), flush=True)
    if a.png:
        write_png(a.png, spectrogram_rows(drawn))
        print(f"spectrograms of {sents[0]!r} ({a.png_voice}) -> {a.png}", flush=True)


if __name__ == "__main__":
    main()
