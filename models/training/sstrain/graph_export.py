"""One PyTorch module -> one ONNX graph with named, dynamic axes and float16 weights, returning the
manifest entry (file, inputs, outputs) that the server reads."""
from __future__ import annotations

from pathlib import Path

import torch

from .codec.export import OPSET, fp16_weights


def export_graph(model, args, path: Path, inputs: dict, outputs: dict, fp16: bool) -> dict:
    dyn = {s["name"]: {i: d for i, d in enumerate(s["shape"]) if isinstance(d, str)}
           for s in list(inputs.values()) + list(outputs.values())}
    # not under no_grad: with gradients possible, torch's TransformerEncoderLayer skips its fused
    # inference kernel, which has no ONNX export
    torch.onnx.export(model, args, str(path), opset_version=OPSET, input_names=[s["name"] for s in inputs.values()],
                      output_names=[s["name"] for s in outputs.values()], dynamic_axes={k: v for k, v in dyn.items() if v},
                      do_constant_folding=True)
    if fp16:
        fp16_weights(path)
    return {"file": path.name, "inputs": inputs, "outputs": outputs}
