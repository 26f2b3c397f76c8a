"""Recover a text-to-semantic training checkpoint from an exported model set (t2s_duration.onnx,
t2s_tokens.onnx and training.json's `t2s` entry), so the committed models can be trained further on a
machine that never had their checkpoint.

    cd models/training && /usr/bin/python3 -m sstrain.t2s.from_onnx --model-dir ../../models/default \
        --out ../../runs/t2s-onnx/init.ckpt

The export folds constants, so some weights are stored transposed, split (attention's q/k/v) or sliced
(the segment embeddings) under generated names. Rather than guess those rules, a model with random
weights is exported the same way and every one of its initializers is matched, by value, to the
parameter piece it came from; the committed graph's initializers of the same name are then put back
there. The weights come back as the float16 values that were shipped. The result is checked: the
recovered model, exported again, must give the committed graphs' initializers bit for bit.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..codec.export import stored_initializers
from .export import export_t2s
from .model import DurationModel, T2SConfig, TokenModel


def _pieces(param: np.ndarray):
    """The forms the exporter may store a parameter in: (how, array); `how` says how to put it back."""
    yield ("same", None), param
    if param.ndim == 2:
        yield ("T", None), param.T
        if param.shape[0] % 3 == 0:   # attention's packed q/k/v projection, split by the exporter
            n = param.shape[0] // 3
            for i in range(3):
                yield ("chunkT", (i, n)), param[i * n:(i + 1) * n].T
                yield ("chunk", (i, n)), param[i * n:(i + 1) * n]
        for i in range(param.shape[0]):   # an embedding row used as a constant (segment embeddings)
            yield ("row", i), param[i]
    if param.ndim == 1 and param.shape[0] % 3 == 0:   # its bias, split the same way
        n = param.shape[0] // 3
        for i in range(3):
            yield ("chunk", (i, n)), param[i * n:(i + 1) * n]


def derivations(module: torch.nn.Module, graph: Path) -> dict[str, tuple[str, tuple]]:
    """Graph initializer name -> (parameter name, how it was derived) for a module with random weights
    exported to `graph` in float32."""
    params = {k: v.detach().numpy() for k, v in module.state_dict().items() if v.dtype == torch.float32}
    out = {}
    for name, arr in stored_initializers(graph).items():
        if arr.dtype != np.float32:
            continue
        for pname, p in params.items():
            hit = next((how for how, form in _pieces(p) if form.shape == arr.shape and np.array_equal(form, arr)), None)
            if hit is not None:
                out[name] = (pname, hit)
                break
    return out


def put_back(state: dict, pname: str, how: tuple, value: np.ndarray, covered: dict) -> None:
    kind, arg = how
    t = state[pname]
    v = torch.from_numpy(value.astype(np.float32))
    mask = covered.setdefault(pname, torch.zeros(t.shape, dtype=torch.bool))
    if kind == "same":
        t.copy_(v); mask[...] = True
    elif kind == "T":
        t.copy_(v.T); mask[...] = True
    elif kind == "chunkT":
        i, n = arg
        t[i * n:(i + 1) * n] = v.T; mask[i * n:(i + 1) * n] = True
    elif kind == "chunk":
        i, n = arg
        t[i * n:(i + 1) * n] = v; mask[i * n:(i + 1) * n] = True
    elif kind == "row":
        t[arg] = v; mask[arg] = True


def recover(model_dir: Path) -> dict:
    info = json.loads((model_dir / "training.json").read_text())["t2s"]
    cfg = T2SConfig(**info["config"])
    torch.manual_seed(0)
    probe = {"duration": DurationModel(cfg).eval(), "tokens": TokenModel(cfg).eval()}
    with torch.no_grad():   # distinct values everywhere (fresh layers are copies; biases start at zero)
        for m in probe.values():
            for v in m.parameters():
                v.normal_()
    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "probe.ckpt"
        torch.save({"duration": probe["duration"].state_dict(), "tokens": probe["tokens"].state_dict(),
                    "step": 0, "config": cfg.to_dict()}, ck)
        export_t2s(ck, Path(tmp), fp16=False)
        maps = {"duration": derivations(probe["duration"], Path(tmp) / "t2s_duration.onnx"),
                "tokens": derivations(probe["tokens"], Path(tmp) / "t2s_tokens.onnx")}
    states = {}
    for part, file in (("duration", "t2s_duration.onnx"), ("tokens", "t2s_tokens.onnx")):
        state = {k: v.clone() for k, v in probe[part].state_dict().items()}
        shipped = stored_initializers(model_dir / file)
        covered: dict = {}
        for name, (pname, how) in maps[part].items():
            if name not in shipped:
                raise RuntimeError(f"{file}: no initializer {name}; was it exported by another torch version?")
            put_back(state, pname, how, shipped[name], covered)
        missing = [k for k, v in state.items() if v.dtype == torch.float32 and not bool(covered.get(k, torch.zeros(1, dtype=torch.bool)).all())]
        if missing:
            raise RuntimeError(f"{file}: parameters not found in the graph: {missing}")
        states[part] = state
    return {"duration": states["duration"], "tokens": states["tokens"], "step": int(info["step"]),
            "config": cfg.to_dict(), "recovered_from": str(model_dir)}


def check(ck: dict, model_dir: Path) -> int:
    """Export the recovered weights again (float16, as shipped) and compare every initializer with the
    committed graphs': -> how many were compared; raises on the first that differs."""
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recovered.ckpt"
        torch.save(ck, path)
        export_t2s(path, Path(tmp), fp16=True)
        for file in ("t2s_duration.onnx", "t2s_tokens.onnx"):
            mine, shipped = stored_initializers(Path(tmp) / file), stored_initializers(model_dir / file)
            if set(mine) != set(shipped):
                raise RuntimeError(f"{file}: initializer names differ: {sorted(set(mine) ^ set(shipped))[:5]}")
            for name, arr in shipped.items():
                if arr.dtype != mine[name].dtype or not np.array_equal(arr, mine[name]):
                    raise RuntimeError(f"{file}: {name} differs after recovery")
                n += 1
    return n


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    ck = recover(Path(a.model_dir))
    compared = check(ck, Path(a.model_dir))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, out)
    print(json.dumps({"recovered_step": ck["step"], "initializers_identical": compared, "out": str(out)}))


if __name__ == "__main__":
    main()
