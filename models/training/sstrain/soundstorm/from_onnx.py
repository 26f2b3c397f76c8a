"""Recover a SoundStorm training checkpoint from an exported model set (the float16 `soundstorm.onnx`,
the manifest's reference graph, and training.json's `soundstorm` entry), so the committed model can be
fine-tuned on a machine that never had its checkpoint (`sstrain.soundstorm.train --init-from`).

    cd models/training && /usr/bin/python3 -m sstrain.soundstorm.from_onnx --model-dir ../../models/default \\
        --out ../../runs/soundstorm-onnx/init.ckpt

Weights are matched by value (`sstrain.onnx_recover`) and come back as the float16 values shipped;
the recovered model, exported again, must give the committed graph's initializers bit for bit.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from ..onnx_recover import randomize, recover_state, recovery_cli, same_initializers
from .export import export_soundstorm
from .model import SoundStorm, SoundStormConfig

FILE = "soundstorm.onnx"


def recover(model_dir: Path) -> dict:
    info = json.loads((model_dir / "training.json").read_text())["soundstorm"]
    probe = randomize(SoundStorm(SoundStormConfig(**info["config"])))
    with tempfile.TemporaryDirectory() as tmp:
        export_soundstorm(probe, Path(tmp) / FILE, fp16=False, int8=False)
        state = recover_state(probe, Path(tmp) / FILE, model_dir / FILE)
    return {"model": state, "step": int(info["step"]), "config": probe.cfg.to_dict(), "recovered_from": str(model_dir)}


def check(ck: dict, model_dir: Path) -> int:
    """Export the recovered weights again (float16, as shipped) and compare every initializer with the
    committed graph's: -> how many were compared; raises on the first that differs."""
    model = SoundStorm(SoundStormConfig(**ck["config"]))
    model.load_state_dict(ck["model"])
    with tempfile.TemporaryDirectory() as tmp:
        export_soundstorm(model, Path(tmp) / FILE, fp16=True, int8=False)
        return same_initializers(Path(tmp) / FILE, model_dir / FILE)


def main(argv=None) -> None:
    recovery_cli(__doc__, recover, check, argv)


if __name__ == "__main__":
    main()
