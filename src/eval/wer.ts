/** Word error rate against a reference text, after the normalization ASR scoring needs. */

/** Lowercase, digits left alone, punctuation dropped, pocketsphinx alternates like "and(2)" folded. */
export function normalizeWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/\(\d+\)/g, "")
    .replace(/[^a-z0-9' ]+/g, " ")
    .split(/\s+/)
    .filter((w) => w && w !== "'");
}

/** Levenshtein distance over words: substitutions + deletions + insertions. */
export function wordErrors(ref: string[], hyp: string[]): number {
  let prev = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const cur = [i];
    for (let j = 1; j <= hyp.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[hyp.length];
}

/** Corpus-level WER (total errors / total reference words), in percent. */
export function corpusWer(pairs: { ref: string; hyp: string }[]): number {
  let errors = 0;
  let words = 0;
  for (const p of pairs) {
    const r = normalizeWords(p.ref);
    errors += wordErrors(r, normalizeWords(p.hyp));
    words += r.length;
  }
  return words ? (100 * errors) / words : 0;
}
