"""Recover a text-to-semantic training checkpoint from an exported model set (t2s_duration.onnx,
t2s_tokens.onnx and training.json's `t2s` entry), so the committed models can be trained further on a
machine that never had their checkpoint.

    cd models/training && /usr/bin/python3 -m sstrain.t2s.from_onnx --model-dir ../../models/default \
        --out ../../runs/t2s-onnx/init.ckpt

The export folds constants, so some weights are stored transposed, split (attention's q/k/v) or sliced
(the segment embeddings) under generated names; `sstrain.onnx_recover` matches them by value. The
weights come back as the float16 values that were shipped. The result is checked: the recovered model, exported again, must give the committed graphs' initializers bit for bit.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from ..onnx_recover import randomize, recover_state, recovery_cli, same_initializers
from .export import export_t2s
from .model import DurationModel, T2SConfig, TokenModel

FILES = {"duration": "t2s_duration.onnx", "tokens": "t2s_tokens.onnx"}


def recover(model_dir: Path) -> dict:
    info = json.loads((model_dir / "training.json").read_text())["t2s"]
    cfg = T2SConfig(**info["config"])
    probe = {"duration": randomize(DurationModel(cfg)), "tokens": randomize(TokenModel(cfg))}
    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "probe.ckpt"
        torch.save({"duration": probe["duration"].state_dict(), "tokens": probe["tokens"].state_dict(),
                    "step": 0, "config": cfg.to_dict()}, ck)
        export_t2s(ck, Path(tmp), fp16=False)
        states = {part: recover_state(probe[part], Path(tmp) / file, model_dir / file) for part, file in FILES.items()}
    return {"duration": states["duration"], "tokens": states["tokens"], "step": int(info["step"]),
            "config": cfg.to_dict(), "recovered_from": str(model_dir)}


def check(ck: dict, model_dir: Path) -> int:
    """Export the recovered weights again (float16, as shipped) and compare every initializer with the
    committed graphs': -> how many were compared; raises on the first that differs."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recovered.ckpt"
        torch.save(ck, path)
        export_t2s(path, Path(tmp), fp16=True)
        return sum(same_initializers(Path(tmp) / file, model_dir / file) for file in FILES.values())


def main(argv=None) -> None:
    recovery_cli(__doc__, recover, check, argv)


if __name__ == "__main__":
    main()
