"""Average the weights of several text-to-semantic checkpoints of one lineage (stochastic weight averaging).

On the CPU, successive warm-restart cycles of text to semantic read several held-out WER points apart while
their validation loss keeps falling (BENCHMARKS "Session 35"); their mean is one candidate that does not
depend on where a cycle happened to stop. The result has no optimizer state; export it with
`sstrain.t2s.export` like any checkpoint.

    python -m sstrain.t2s.average --ckpt A.ckpt B.ckpt [C.ckpt] --out runs/t2s-avg/last.ckpt [--weights 1,1,1]
"""
from __future__ import annotations

import argparse

from ..averaging import add_average_args, write_average


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_average_args(ap)
    a = ap.parse_args(argv)
    write_average(a.ckpt, a.weights, a.out, ("duration", "tokens"))


if __name__ == "__main__":
    main()
