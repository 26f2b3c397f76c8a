import { test } from "node:test";
import assert from "node:assert/strict";
import { textToIpa } from "../src/pipeline/phonemes/g2p.js";

// espeak-ng (WASM, in process) on short texts: each clause mark lands on its own clause
test("clause marks stay on their clause: no boundary after 'U.S.', one at a full stop before a quote or a dash", async () => {
  const marks = (ipa: string) => ipa.replace(/[^.,!?;:]/g, "");
  assert.equal(marks(await textToIpa("The U.S. is big, right? Yes.", "en-us")), ",?.");
  assert.equal(marks(await textToIpa('He said "Stop." Then, he left. Why?', "en-us")), ".,.?");
  // the text's own last full stop counts even after an abbreviation
  assert.ok((await textToIpa("He lives near Mount St.", "en-us")).endsWith("."));
});
