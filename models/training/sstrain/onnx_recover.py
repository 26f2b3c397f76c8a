"""Recovering trained weights from an exported graph, by value: a module with random (distinct)
weights is exported the same way, each of its graph's initializers is matched to the parameter piece it
came from (stored as is, transposed, split like attention's packed q/k/v, or an embedding row used as a
constant), and the shipped graph's initializer of the same name is put back there. Used by the
`from_onnx` tools of the stages whose checkpoints a machine may not have.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .codec.export import stored_initializers


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
    if param.ndim == 1:   # a vector broadcast by the graph, stored with unit axes ([1, D, 1])
        yield ("flat", None), param
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
            flat = arr.reshape(-1)
            hit = next((how for how, form in _pieces(p)
                        if (form.shape == arr.shape and np.array_equal(form, arr))
                        or (how[0] == "flat" and arr.ndim > 1 and form.shape == flat.shape and np.array_equal(form, flat))), None)
            if hit is not None:
                out[name] = (pname, hit)
                break
    return out


def put_back(state: dict, pname: str, how: tuple, value: np.ndarray, covered: dict) -> None:
    kind, arg = how
    t = state[pname]
    v = torch.from_numpy(value.astype(np.float32))
    mask = covered.setdefault(pname, torch.zeros(t.shape, dtype=torch.bool))
    if kind == "flat":
        t.copy_(v.reshape(t.shape)); mask[...] = True
    elif kind == "same":
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


def randomize(module: torch.nn.Module) -> torch.nn.Module:
    """Distinct values everywhere (fresh layers are copies; biases start at zero), so matching by value is unambiguous."""
    torch.manual_seed(0)
    with torch.no_grad():
        for v in module.parameters():
            v.normal_()
    return module.eval()


def paired_names(mine: dict, shipped: dict) -> dict[str, str]:
    """Initializer name in `mine` -> the same initializer's name in `shipped`. Named ones pair by name; the
    exporter's generated names (`onnx::Op_N`) depend on how many nodes the tracer made before them, which
    differs between exports of the same module, so those pair in order of appearance, shape for shape."""
    generated = lambda n: n.startswith("onnx::")
    named_a = {n for n in mine if not generated(n)}
    named_b = {n for n in shipped if not generated(n)}
    if named_a != named_b:
        raise RuntimeError(f"initializer names differ: {sorted(named_a ^ named_b)[:5]}")
    pairs = {n: n for n in named_a}
    gen_a = [n for n in mine if generated(n)]
    gen_b = [n for n in shipped if generated(n)]
    if len(gen_a) != len(gen_b):
        raise RuntimeError(f"{len(gen_a)} generated initializers against {len(gen_b)}")
    for a, b in zip(gen_a, gen_b):
        if mine[a].shape != shipped[b].shape:
            raise RuntimeError(f"generated initializers {a} {mine[a].shape} and {b} {shipped[b].shape} do not pair")
        pairs[a] = b
    return pairs


def recover_state(probe: torch.nn.Module, probe_graph: Path, shipped_graph: Path) -> dict:
    """`probe` (randomized, exported in float32 to `probe_graph`) -> its state dict with every float
    parameter taken from `shipped_graph`; raises if a parameter is not fully found there."""
    maps = derivations(probe, probe_graph)
    state = {k: v.clone() for k, v in probe.state_dict().items()}
    shipped = stored_initializers(shipped_graph)
    names = paired_names(stored_initializers(probe_graph), shipped)
    covered: dict = {}
    for name, (pname, how) in maps.items():
        if name not in names:
            raise RuntimeError(f"{shipped_graph.name}: no initializer {name}; was it exported by another torch version?")
        put_back(state, pname, how, shipped[names[name]], covered)
    missing = [k for k, v in state.items() if v.dtype == torch.float32 and not bool(covered.get(k, torch.zeros(1, dtype=torch.bool)).all())]
    if missing:
        raise RuntimeError(f"{shipped_graph.name}: parameters not found in the graph: {missing}")
    return state


def same_initializers(mine: Path, shipped: Path) -> int:
    """Every initializer of `mine` equals its pair in `shipped` (paired_names; dtypes, values) -> how many; raises on the
    first that differs."""
    a, b = stored_initializers(mine), stored_initializers(shipped)
    names = paired_names(a, b)
    for name, arr in a.items():
        other = b[names[name]]
        if arr.dtype != other.dtype or not np.array_equal(arr, other):
            raise RuntimeError(f"{shipped.name}: {names[name]} differs after recovery")
    return len(b)


def recovery_cli(doc: str, recover: Callable[[Path], dict], check: Callable[[dict, Path], int], argv=None) -> None:
    """The `from_onnx` tools' command line: --model-dir, --out; recover, check bit for bit, save."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    ck = recover(Path(a.model_dir))
    compared = check(ck, Path(a.model_dir))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, out)
    print(json.dumps({"recovered_step": ck["step"], "initializers_identical": compared, "out": str(out)}))
