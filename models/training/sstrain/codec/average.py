"""Average the weights of several codec checkpoints of one run (stochastic weight averaging).

On the CPU, neighbouring decoder checkpoints of one fine-tune read several slt WER points apart on the
30 dev sentences while their validation log-mel loss keeps falling (BENCHMARKS "Session 50"); their mean is
one candidate that does not depend on where the run happened to stop. The result has no optimizer state;
`sstrain.codec.asr_check` reads it and `sstrain.codec.export` exports it like any checkpoint.

    python -m sstrain.codec.average --ckpt A.pt B.pt [C.ckpt] --out runs/codec-avg/avg.pt [--weights 1,1,1]
"""
from __future__ import annotations

import argparse

from ..averaging import add_average_args, write_average


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_average_args(ap)
    a = ap.parse_args(argv)
    write_average(a.ckpt, a.weights, a.out)


if __name__ == "__main__":
    main()
