/** Text for load tests: paragraphs from a file, replayed as LLM-like tokens at a given pace. */
import { readFileSync } from "node:fs";

export function loadParagraphs(path: string): string[] {
  const paras = readFileSync(path, "utf8").split(/\n\s*\n|\n/).map((p) => p.replace(/\s+/g, " ").trim()).filter((p) => p.length > 0);
  if (paras.length === 0) throw new Error(`no text in ${path}`);
  return paras;
}

/** Split like an LLM tokenizer roughly would: words with their trailing space, long words in two. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\S+\s*/g)) {
    const w = m[0];
    if (w.trim().length > 7) {
      const cut = Math.ceil(w.trim().length / 2);
      out.push(w.slice(0, cut), w.slice(cut));
    } else {
      out.push(w);
    }
  }
  return out;
}

/** Index of the token that completes the first phrase (ends with , . ; : ! ?), or the last token. */
export function firstPhraseEnd(tokens: string[]): number {
  let seenWord = false;
  for (let i = 0; i < tokens.length; i++) {
    if (/[A-Za-z0-9]/.test(tokens[i])) seenWord = true;
    if (seenWord && /[,.;:!?]["')\]]*\s*$/.test(tokens[i])) return i;
  }
  return tokens.length - 1;
}
