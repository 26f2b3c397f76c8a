"""Recover a codec training checkpoint from an exported model set (codec_encoder.onnx, codec_decoder.onnx and
codec_training.json), so a committed codec can be fine-tuned on a machine that never had its checkpoint.

    cd models/training && /usr/bin/python3 -m sstrain.codec.from_onnx --model-dir ../../models/default \
        --out ../../runs/codec-onnx/init.ckpt

The export keeps parameter names (no constant folding), so every weight maps back by name; the weights
come back as the float16 values that were shipped. The codebooks' EMA statistics are not exported: they
are rebuilt as "every code seen once", which only matters if the encoder is trained again (fine-tunes
here freeze it).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from .export import stored_initializers
from .model import Codec, CodecConfig

_EMA_ONLY = ("embed_sum", "count", "initialised")


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """Initializers by their PyTorch name (the export wrapper's 'm.' prefix removed), as float32."""
    return {name[2:]: arr.astype(np.float32) for name, arr in stored_initializers(path).items() if name.startswith("m.")}


def recover(model_dir: Path) -> dict:
    info = json.loads((model_dir / "codec_training.json").read_text())
    cfg = CodecConfig(**info["config"])
    model = Codec(cfg)
    decoder = onnx_weights(model_dir / "codec_decoder.onnx")
    for book in range(cfg.levels):
        # the decoder's extra all-zero row (export.add_absent_rows: the absent code) is not a trained code
        k = f"quantizer.books.{book}.embed"
        if k in decoder and decoder[k].shape[0] == cfg.codebook_size + 1:
            if np.any(decoder[k][-1]):
                raise RuntimeError(f"{model_dir}: {k}'s row {cfg.codebook_size} (the absent code) is not zero")
            decoder[k] = decoder[k][:-1]
    weights = {**onnx_weights(model_dir / "codec_encoder.onnx"), **decoder}
    state = model.state_dict()
    unknown = sorted(set(weights) - set(state))
    missing = sorted(k for k in state if k not in weights and not k.endswith(_EMA_ONLY))
    if unknown or missing:
        raise RuntimeError(f"{model_dir}: graphs do not match the config: unknown {unknown[:5]}, missing {missing[:5]}")
    for k, v in weights.items():
        if tuple(state[k].shape) != v.shape:
            raise RuntimeError(f"{k}: shape {v.shape} in the graph, {tuple(state[k].shape)} in the config")
        state[k] = torch.from_numpy(v)
    for book in range(cfg.levels):
        p = f"quantizer.books.{book}."
        state[p + "count"] = torch.ones_like(state[p + "count"])
        state[p + "embed_sum"] = state[p + "embed"].clone()
        state[p + "initialised"] = torch.tensor(True)
    model.load_state_dict(state)
    return {"model": model.state_dict(), "step": int(info["step"]), "config": cfg.to_dict(),
            "recovered_from": str(model_dir)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--out", required=True, help="checkpoint to write (use with sstrain.codec.train --init-from)")
    a = ap.parse_args(argv)
    ck = recover(Path(a.model_dir))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, a.out)
    n = sum(v.numel() for v in ck["model"].values())
    print(json.dumps({"out": a.out, "step": ck["step"], "tensors": len(ck["model"]), "values": n}))


if __name__ == "__main__":
    main()
