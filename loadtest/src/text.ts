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

/**
 * When the client finished sending `chunkText` (a chunk the server cut from the text sent so far, as its
 * chunk_metrics reports it): the send time of the first token that reaches the chunk's end. `sent` is the
 * text sent so far, `sentAt` each token's end offset in it and its send time, in order.
 */
export function textSentAt(sent: string, sentAt: readonly { end: number; at: number }[], chunkText: string): number | null {
  const t = chunkText.trim();
  const from = t.length > 0 ? sent.indexOf(t) : -1;
  return sentAtOffset(sentAt, from < 0 ? sent.length : from + t.length);
}

/** The send time of the first token reaching offset `end` of the text sent (the last one's if none does). */
export function sentAtOffset(sentAt: readonly { end: number; at: number }[], end: number): number | null {
  if (sentAt.length === 0) return null;
  for (const s of sentAt) if (s.end >= end) return s.at;
  return sentAt[sentAt.length - 1].at;
}

/**
 * Where the server's first chunk ends in the text sent, from its `words` event (which comes before its
 * audio, so also for a turn cancelled before the chunk's chunk_metrics): past its last word and the marks
 * written onto it ("you?" ends after the "?"). Null without words.
 */
export function chunkEndFromWords(sent: string, words: readonly { word: string; char_offset: number }[]): number | null {
  if (words.length === 0) return null;
  const last = words.reduce((a, w) => (w.char_offset > a.char_offset ? w : a));
  let end = last.char_offset + last.word.length;
  while (end < sent.length && !/\s/.test(sent[end])) end++;
  return end;
}
