"""Intelligibility of a codec checkpoint, in PyTorch, without exporting it: flite audio of the dev
sentences and held-out (test split) corpus utterances of the base voices, resynthesized and transcribed
with pocketsphinx; word error rate per voice against the original audio's. For choosing between
decoder checkpoints during training; the acceptance numbers come from `soundstorm eval codec` (ONNX, Node).

Variants: `q8` (all 8 levels, as served), `latent` (the encoder's latent, unquantized: what the decoder
could do with perfect codes, separating quantization loss from decoder loss).

    cd models/training && /usr/bin/python3 -m sstrain.codec.asr_check --ckpt ../../runs/codec-dec/last.ckpt \\
        --corpus ../../data/corpus --sentences ../../../shared/eval/dev-sentences.txt --json /tmp/asr.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import torch

from ..audio import PackedCorpus
from ..soundstorm.ablate import BASE, transcribe, wer
from ..tokens import load_codec
from .model import Codec


def flite(text: str, voice: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", f"{tmp}/a.wav"], check=True)
        with wave.open(f"{tmp}/a.wav") as w:
            assert w.getframerate() == 16000, f"flite {voice}: {w.getframerate()} Hz"
            return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0


@torch.no_grad()
def resynth(codec: Codec, pcm: np.ndarray, variant: str) -> np.ndarray:
    hop = codec.cfg.hop
    x = np.zeros(-(-len(pcm) // hop) * hop, np.float32)
    x[:len(pcm)] = pcm
    z = codec.encoder(torch.from_numpy(x)[None])
    lat = z if variant == "latent" else codec.quantizer(z, codec.cfg.levels).quantized
    return codec.decoder(lat)[0, :len(pcm)].numpy()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True, nargs="+", help="one or more codec checkpoints")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--sentences", required=True)
    ap.add_argument("--heldout", type=int, default=30, help="test-split utterances per base voice (0: none)")
    ap.add_argument("--variants", default="q8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--voices", default=",".join(BASE), help="base voices to score (a quick look at one voice: --voices slt)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    voices = [v for v in a.voices.split(",") if v]
    if unknown := set(voices) - set(BASE):
        ap.error(f"--voices: not base voices: {sorted(unknown)}")
    torch.set_num_threads(a.threads)
    sets: dict[str, list[tuple[str, str, np.ndarray]]] = {"dev": []}
    for voice in voices:
        for s in Path(a.sentences).read_text().splitlines():
            if s.strip():
                sets["dev"].append((voice, s.strip(), flite(s.strip(), voice)))
    if a.heldout:
        test = PackedCorpus(a.corpus, "test")
        per: dict[str, int] = {}
        sets["heldout"] = []
        for u in test.utts:
            if u.id.endswith("_" + u.base_voice) and u.base_voice in voices and per.get(u.base_voice, 0) < a.heldout:
                per[u.base_voice] = per.get(u.base_voice, 0) + 1
                sets["heldout"].append((u.base_voice, u.text, test.audio(u)))
    report: dict = {}
    for name, items in sets.items():
        refs = [t for _, t, _ in items]
        hyps = {"original": transcribe([p for _, _, p in items])}
        for ck in a.ckpt:
            codec = load_codec(ck)
            for v in a.variants.split(","):
                hyps[f"{ck}:{v}"] = transcribe([resynth(codec, p, v) for _, _, p in items])
        report[name] = {}
        for key, h in hyps.items():
            report[name][key] = {voice: wer([r for (vv, _, _), r in zip(items, refs) if vv == voice],
                                            [x for (vv, _, _), x in zip(items, h) if vv == voice]) for voice in voices}
            print(name, key, json.dumps(report[name][key]), flush=True)
        report[name]["_hyps"] = {k: h for k, h in hyps.items()}
        report[name]["_refs"] = refs
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
