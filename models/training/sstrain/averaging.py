"""The weighted mean of several checkpoints' weights (stochastic weight averaging of one lineage).

Warm-restart end points of one model lie in one basin; their mean often generalises better than any of
them, and on the CPU, where neighbouring checkpoints read several WER points apart on small sets, it also
averages away some of that checkpoint-to-checkpoint noise.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch


def average_states(states: list[dict], weights: list[float]) -> dict:
    """Weighted mean of float tensors; integer buffers (if any) are taken from the first state."""
    keys = list(states[0])
    for s in states[1:]:
        if list(s) != keys:
            raise ValueError("checkpoints do not share one architecture")
    total = sum(weights)
    out = {}
    for k in keys:
        t0 = states[0][k]
        if not torch.is_floating_point(t0):
            out[k] = t0.clone()
            continue
        acc = torch.zeros_like(t0, dtype=torch.float64)
        for s, w in zip(states, weights):
            acc += s[k].to(torch.float64) * (w / total)
        out[k] = acc.to(t0.dtype)
    return out


def parse_weights(spec: str | None, n: int) -> list[float]:
    """--weights "1,1,2" -> one non-negative weight per checkpoint, not all zero (default: equal)."""
    if n < 2:
        raise SystemExit("need at least two checkpoints")
    weights = [float(x) for x in spec.split(",")] if spec else [1.0] * n
    if len(weights) != n or min(weights) < 0 or sum(weights) <= 0:
        raise SystemExit("--weights: one non-negative weight per checkpoint, not all zero")
    return weights


def load_lineage(paths: list[str]) -> list[dict]:
    """The checkpoints, on the CPU; one config for all (only one lineage's weights can be averaged)."""
    cks = [torch.load(p, map_location="cpu") for p in paths]
    if len({json.dumps(ck["config"], sort_keys=True) for ck in cks}) != 1:
        raise SystemExit("checkpoints have different configs; only one lineage can be averaged")
    return cks


def add_average_args(ap) -> None:
    """The options every averaging command takes."""
    ap.add_argument("--ckpt", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", default=None, help="comma-separated, one per checkpoint (default: equal)")


def averaged_checkpoint(paths: list[str], cks: list[dict], weights: list[float], parts: tuple[str, ...] = ("model",)) -> dict:
    """A checkpoint without optimizer state: each of `parts` (state dicts) averaged over `cks` (loaded from
    `paths`), the latest step, their config."""
    return {**{p: average_states([ck[p] for ck in cks], weights) for p in parts},
            "step": max(int(ck["step"]) for ck in cks), "config": cks[0]["config"],
            "averaged_from": [str(p) for p in paths], "weights": weights}


def save_checkpoint(ck: dict, out: str | Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, out)
    print(f"wrote {out} (mean of {len(ck['averaged_from'])}, weights {ck['weights']})", flush=True)


def write_average(paths: list[str], spec: str | None, out: str | Path, parts: tuple[str, ...] = ("model",)) -> None:
    """Average the checkpoints at `paths` (weights from --weights' `spec`) and save the result at `out`."""
    weights = parse_weights(spec, len(paths))
    save_checkpoint(averaged_checkpoint(paths, load_lineage(paths), weights, parts), out)
