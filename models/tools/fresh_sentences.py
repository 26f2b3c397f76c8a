"""Sentences no model has seen: drawn from the corpus's own text sources (State of the Union prose and
fortunes, filtered as `sstrain.corpus` filters them) but in none of the corpus's splits and not in
`../shared/eval/`. Every model here trains on the train split and is tuned on valid, dev or the test
split's sentences, so a set drawn this way is held out from all of them, and a fresh one can be drawn
(another --seed) when a set has been looked at too often.

    cd models/training && /usr/bin/python3 ../tools/fresh_sentences.py --corpus ../../data/corpus \
        --text-src ../../data/text-src --count 200 --seed 36 --out ../../runs/sets/u200.txt

Without the corpus on disk, `--plan-hours 21` (and `--plan-seed`, the corpus's --seed) plans it again as
`sstrain.corpus` does (train_all.sh's settings) and leaves out every sentence that plan gives a voice.
"""
import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from sstrain.corpus import FORTUNES, load_sentences, plan_corpus, sentence_key, speakers  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--corpus", help="sstrain.corpus output (train/valid/test.jsonl)")
    where.add_argument("--plan-hours", type=float, help="no corpus on disk: plan it again with this --hours")
    ap.add_argument("--plan-seed", type=int, default=1, help="with --plan-hours: the corpus's --seed")
    ap.add_argument("--text-src", required=True, help="the corpus's text cache (data/text-src, filled by sstrain.corpus)")
    ap.add_argument("--eval-dir", default=str(Path(__file__).resolve().parents[3] / "shared" / "eval"),
                    help="sentence files held out everywhere (default ../shared/eval)")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--min-words", type=int, default=6)
    ap.add_argument("--max-words", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exclude", nargs="*", default=[],
                    help="sentence files to leave out too (sets drawn before: draws with different seeds can overlap)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    def keys(path: Path) -> set[str]:
        return {sentence_key(line) for line in path.read_text().splitlines() if line.strip()}

    held_out: set[str] = set().union(*(keys(p) for p in sorted(Path(a.eval_dir).glob("*.txt"))))
    # what sstrain.corpus draws from (its shuffle depends on the order, so the held-out lines are left out the same way)
    sentences = load_sentences(Path(a.text_src), held_out, FORTUNES)
    used = set(held_out)
    for p in a.exclude:
        used |= keys(Path(p))
    if a.corpus:
        for split in ("train", "valid", "test"):
            with open(Path(a.corpus) / f"{split}.jsonl") as f:
                used.update(sentence_key(json.loads(line)["text"]) for line in f if line.strip())
    else:
        # the corpus's defaults: valid/test sentences, shared fraction
        plan = plan_corpus(sentences, speakers(), a.plan_seed, a.plan_hours, 150, 150, 0.1)
        used.update(sentence_key(s) for _, _, s, _ in plan)
    fresh = [s for s in sentences
             if sentence_key(s) not in used and a.min_words <= len(s.split()) <= a.max_words]
    if len(fresh) < a.count:
        raise SystemExit(f"only {len(fresh)} unseen sentences of {a.min_words}-{a.max_words} words")
    random.Random(a.seed).shuffle(fresh)
    picked = fresh[:a.count]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(picked) + "\n")
    print(f"{len(fresh)} unseen sentences; wrote {len(picked)} ({sum(len(s.split()) for s in picked)} words) to {a.out}")


if __name__ == "__main__":
    main()
