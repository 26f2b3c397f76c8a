/**
 * `soundstorm prepare phonemes --corpus DIR`: phonemizes every distinct sentence of a
 * training corpus with the server's own front end (normalizeText + espeak-ng), so
 * text-to-semantic training sees exactly what serving will feed it. Writes
 * DIR/phonemes.jsonl ({"text", "normalized", "ipa"} per line); resumable.
 */
import { createReadStream, existsSync, appendFileSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { normalizeText } from "../pipeline/text/normalize.js";
import { textToIpa } from "../pipeline/phonemes/g2p.js";

export async function preparePhonemes(corpusDir: string, lang: string, log: (m: string) => void): Promise<number> {
  const out = join(corpusDir, "phonemes.jsonl");
  const done = new Set<string>();
  if (existsSync(out)) {
    for (const line of readFileSync(out, "utf8").split("\n")) if (line) done.add((JSON.parse(line) as { text: string }).text);
  }
  const todo: string[] = [];
  const splits = ["train", "valid", "test"].map((split) => join(corpusDir, `${split}.jsonl`)).filter((f) => existsSync(f));
  if (splits.length === 0) throw new Error(`${corpusDir} holds no corpus (train.jsonl, valid.jsonl or test.jsonl); make one with models/training (see models/README.md)`);
  for (const file of splits) {
    for await (const line of createInterface({ input: createReadStream(file) })) {
      if (!line) continue;
      const text = (JSON.parse(line) as { text: string }).text;
      if (!done.has(text)) { done.add(text); todo.push(text); }
    }
  }
  log(`${todo.length} sentences to phonemize`);
  const t0 = performance.now();
  for (let i = 0; i < todo.length; i++) {
    const normalized = normalizeText(todo[i]);
    const ipa = await textToIpa(normalized, lang);
    appendFileSync(out, JSON.stringify({ text: todo[i], normalized, ipa }) + "\n");
    if ((i + 1) % 500 === 0 || i + 1 === todo.length) {
      const s = (performance.now() - t0) / 1000;
      log(`${i + 1}/${todo.length} (${s.toFixed(0)} s, ~${((todo.length - i - 1) * s / (i + 1)).toFixed(0)} s left)`);
    }
  }
  return todo.length;
}
