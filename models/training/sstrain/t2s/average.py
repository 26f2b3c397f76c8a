"""Average the weights of several text-to-semantic checkpoints of one lineage (stochastic weight averaging).

On the CPU, successive warm-restart cycles of text to semantic read several held-out WER points apart while
their validation loss keeps falling (BENCHMARKS "Session 35"); their mean is one candidate that does not
depend on where a cycle happened to stop. The result has no optimizer state; export it with
`sstrain.t2s.export` like any checkpoint.

    python -m sstrain.t2s.average --ckpt A.ckpt B.ckpt [C.ckpt] --out runs/t2s-avg/last.ckpt [--weights 1,1,1]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..averaging import average_states, load_lineage, parse_weights


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", default=None, help="comma-separated, one per checkpoint (default: equal)")
    a = ap.parse_args(argv)
    weights = parse_weights(a.weights, len(a.ckpt))
    cks = load_lineage(a.ckpt)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"duration": average_states([ck["duration"] for ck in cks], weights),
                "tokens": average_states([ck["tokens"] for ck in cks], weights),
                "step": max(int(ck["step"]) for ck in cks), "config": cks[0]["config"],
                "averaged_from": [str(p) for p in a.ckpt], "weights": weights}, out)
    print(f"wrote {out} (mean of {len(cks)}, weights {weights})", flush=True)


if __name__ == "__main__":
    main()
