/** Word error rate against a reference text, after the normalization ASR scoring needs. */
import { normalizeText } from "../pipeline/text/normalize.js";

/** Spellings pocketsphinx writes for words the text front end expands (mr -> mister), folded on both sides. */
const WORD_FOLDS: Record<string, string[]> = {
  mr: ["mister"], mrs: ["missus"], dr: ["doctor"], jr: ["junior"], sr: ["senior"], vs: ["versus"],
  prof: ["professor"], etc: ["et", "cetera"], etcetera: ["et", "cetera"],
};

/**
 * The words of a reference text or of a pocketsphinx hypothesis, compared as pocketsphinx writes them:
 * lowercase ASCII; accents dropped (café → cafe); typographic apostrophes folded and quotes at word edges
 * dropped (don’t → don't, 'yes' → yes); other punctuation dropped; pocketsphinx alternates like "and(2)"
 * folded (a "(3)" standing alone in a reference stays a word). Every text is first read as the server reads
 * it (42 → forty two, Mr. → Mister: the recognizer only ever writes words), whether or not it has digits, and
 * abbreviations the recognizer may write are folded to the same words (mr → mister), so both sides compare alike.
 */
export function normalizeWords(text: string): string[] {
  const folded = text.replace(/([A-Za-z'])\(\d+\)/g, "$1");
  return normalizeText(folded)
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .toLowerCase()
    .replace(/[^a-z0-9' ]+/g, " ")
    .split(/\s+/)
    .map((w) => w.replace(/^'+|'+$/g, ""))
    .filter((w) => w)
    .flatMap((w) => WORD_FOLDS[w] ?? [w]);
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
