"""Golden codes for the encoder parity test: what the PyTorch codec (as trained, torch.stft front end) gives
a fixed flite sentence. test/codec-parity.test.ts checks that the exported ONNX encoder gives the same codes
in Node; an export whose front end drifted (a rounded STFT basis moved 5-50 % of the codes) fails it.

    cd models/training && /usr/bin/python3 -m sstrain.codec.golden --model-dir ../../models/default \
        --out ../../test/golden/codec-encoder-default.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .asr_check import flite
from .from_onnx import recover
from .model import Codec, CodecConfig

TEXT = "Open the front door and let the cat come inside, then close it quietly."
VOICES = ("slt", "kal16")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    torch.set_num_threads(2)
    ck = recover(a.model_dir)
    m = Codec(CodecConfig(**ck["config"]))
    m.load_state_dict(ck["model"])
    m.eval()
    hop = m.cfg.hop
    out = {"text": TEXT, "note": "codes [levels][frames] of the PyTorch codec (sstrain.codec.golden)", "voices": {}}
    for v in VOICES:
        x = flite(TEXT, v)
        x = x[: len(x) // hop * hop]
        with torch.no_grad():
            codes = m.encode(torch.from_numpy(x.copy())[None])[0]
        out["voices"][v] = {"samples": len(x), "codes": codes.tolist()}
        print(v, tuple(codes.shape))
    a.out.write_text(json.dumps(out, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
