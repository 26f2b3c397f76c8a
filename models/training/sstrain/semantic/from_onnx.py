"""Recover a semantic tokenizer checkpoint (tokenizer.pt) from an exported model set (`semantic_tokenizer.onnx`
and training.json's `semantic` entry), so token sets can be rebuilt with PyTorch alone (`sstrain.tokens
--semantic`) on a machine that never had the checkpoint and has no onnxruntime for Python.

    cd models/training && /usr/bin/python3 -m sstrain.semantic.from_onnx --model-dir ../../models/default \\
        --out ../../runs/semantic-onnx/tokenizer.pt

Weights are matched by value (`sstrain.onnx_recover`) and come back as the float16 values shipped; exported
again, the recovered tokenizer must give the committed graph's initializers bit for bit. The speaker head
(adversarial training only) is not in the graph: it comes back as zeros and is never used by tokenization.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from ..onnx_recover import randomize, recover_state, recovery_cli, same_initializers
from .export import export_tokenizer
from .model import PHONES, PhoneNet, SemanticConfig, Tokenizer

FILE = "semantic_tokenizer.onnx"


def _probe(cfg: SemanticConfig) -> Tokenizer:
    """A tokenizer of this shape with distinct random weights and centroids, without the speaker head."""
    net = PhoneNet(cfg)
    del net.speaker_head
    dim = len(PHONES) if cfg.unit_feature == "posterior" else cfg.dim
    return randomize(Tokenizer(net, torch.randn(cfg.units, dim)))


def _checkpoint(state: dict, cfg: SemanticConfig, step: int, model_dir: Path) -> dict:
    """tokenizer.pt's layout (sstrain.semantic.train): the phone net's state, the centroids, config, step."""
    net = {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}
    for k, v in PhoneNet(cfg).state_dict().items():
        if k.startswith("speaker_head."):
            net[k] = torch.zeros_like(v)
    return {"model": net, "centroids": state["centroids"], "config": cfg.to_dict(), "step": step,
            "recovered_from": str(model_dir)}


def recover(model_dir: Path) -> dict:
    manifest = json.loads((model_dir / "model.json").read_text())
    if float(manifest["semantic"].get("switch_penalty", 0.0)) > 0:
        raise SystemExit(f"{model_dir}: a tokenizer with a switch penalty (distances output) is not supported")
    info = json.loads((model_dir / "training.json").read_text())["semantic"]
    cfg = SemanticConfig(**info["config"])
    probe = _probe(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        export_tokenizer(probe, Path(tmp) / FILE, fp16=False)
        state = recover_state(probe, Path(tmp) / FILE, model_dir / FILE)
    return _checkpoint(state, cfg, int(info["step"]), model_dir)


def check(ck: dict, model_dir: Path) -> int:
    """Export the recovered tokenizer again (float16, as shipped) and compare every initializer with the
    committed graph's: -> how many were compared; raises on the first that differs."""
    net = PhoneNet(SemanticConfig(**ck["config"]))
    net.load_state_dict(ck["model"])
    with tempfile.TemporaryDirectory() as tmp:
        export_tokenizer(Tokenizer(net, ck["centroids"]).eval(), Path(tmp) / FILE, fp16=True)
        return same_initializers(Path(tmp) / FILE, model_dir / FILE)


def main(argv=None) -> None:
    recovery_cli(__doc__, recover, check, argv)


if __name__ == "__main__":
    main()
