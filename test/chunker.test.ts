import { test } from "node:test";
import assert from "node:assert/strict";
import { TextChunker } from "../src/pipeline/text/chunker.js";
import { DEFAULT_CONFIG } from "../src/config.js";

const P = { firstMinChars: 10, minChars: 30, phraseChars: 50, maxChars: 80, maxDelayMs: 100 };

test("first chunk is cut at the first phrase boundary, later ones at sentence ends", () => {
  const c = new TextChunker(P);
  assert.deepEqual(c.push("Well, hello"), []);
  const out = c.push(" there, my friend. How are you today? I am fine, thanks. ");
  assert.equal(out[0].text, "Well, hello there,");
  assert.equal(out[1].text, "my friend. How are you today?");
  assert.deepEqual(c.flush().map((x) => x.text), ["I am fine, thanks."]);
});

test("text fed one character at a time gives the same chunks and offsets as text fed at once", () => {
  const text = "One two three, four five six seven. Eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty. End";
  const whole = new TextChunker(P);
  const a = [...whole.push(text), ...whole.flush()];
  const byChar = new TextChunker(P);
  const b = [...[...text].flatMap((ch) => byChar.push(ch)), ...byChar.flush()];
  assert.deepEqual(b, a);
  for (const ch of a) assert.equal(text.slice(ch.charOffset, ch.charOffset + ch.text.length), ch.text);
  assert.ok(a.every((ch) => ch.text.length <= P.maxChars));
});

test("no words are split at the hard cap; flushWords keeps a trailing partial word", () => {
  const c = new TextChunker(P);
  const out = c.push("word ".repeat(30));
  assert.ok(out.length >= 1);
  for (const ch of out) assert.match(ch.text, /^(word )*word$/);
  const d = new TextChunker(P);
  d.push("keep them wor");
  assert.deepEqual(d.flushWords().map((x) => x.text), ["keep them"]);
  assert.deepEqual(d.flush().map((x) => x.text), ["wor"]);
});

test("default policies are ordered: low starts earlier than balanced, balanced than quality", () => {
  const { low, balanced, quality } = DEFAULT_CONFIG.chunking;
  assert.ok(low.firstMinChars < balanced.firstMinChars && balanced.firstMinChars < quality.firstMinChars);
});

test("words separated by newlines, tabs or no-break spaces are not split at the hard cap, nor are surrogate pairs", () => {
  for (const sep of ["\n", "\t", "\u00a0"]) {
    const c = new TextChunker(P);
    const text = `apple${sep}`.repeat(50);
    const out = [...c.push(text), ...c.flush()];
    for (const ch of out) assert.match(ch.text, new RegExp(`^(apple${sep})*apple$`), JSON.stringify(ch.text));
    assert.equal(out.map((x) => x.text).join(sep), text.trim());
  }
  const e = new TextChunker(P);
  const word = `${"a".repeat(P.maxChars - 1)}😀${"b".repeat(10)}`;
  const out = [...e.push(word), ...e.flush()];
  assert.equal(out.map((x) => x.text).join(""), word);
  for (const ch of out) assert.doesNotMatch(ch.text, /[\ud800-\udbff]$|^[\udc00-\udfff]/, "no lone surrogate at a cut");
});

test("long runs of punctuation with no space after them are cut like any long word, text kept whole", () => {
  for (const mark of [".", ",", "!", "…", "—"]) {
    const text = `Say ${mark.repeat(5000)} then stop. `;
    const c = new TextChunker(P);
    const out = [...c.push(text), ...c.flush()];
    assert.ok(out.every((ch) => ch.text.length <= P.maxChars));
    assert.equal(out.map((x) => x.text).join("").replace(/\s+/g, ""), text.replace(/\s+/g, ""), mark);
    for (const ch of out) assert.equal(text.slice(ch.charOffset, ch.charOffset + ch.text.length), ch.text);
  }
});

test("no cut after an abbreviation's full stop, initials or dotted letters; real sentence ends still cut", () => {
  const cut = (text: string) => { const c = new TextChunker(P); return [...c.push(text), ...c.flush()].map((x) => x.text); };
  assert.deepEqual(cut("Please see the item No. 5 on the list, which is long. And more."),
    ["Please see the item No. 5 on the list,", "which is long. And more."]);
  assert.deepEqual(cut("Our office in the U.S. opens at 9 a.m. every day. Then we close."),
    ["Our office in the U.S. opens at 9 a.m. every day.", "Then we close."]);
  assert.deepEqual(cut("Ask Dr. Jones and J. Smith about it now. Fine."), ["Ask Dr. Jones and J. Smith about it now.", "Fine."]);
  // lower-case "no" and the pronoun "I" end sentences
  assert.deepEqual(cut("He said no. Then he left the room again. Gone."), ["He said no.", "Then he left the room again. Gone."]);
  assert.deepEqual(cut("And so did I. Then we went home for good. Bye."), ["And so did I.", "Then we went home for good. Bye."]);
});

test("typographic closing quotes stay with their sentence and do not block the cut", () => {
  const c = new TextChunker({ ...P, firstMinChars: 5 });
  assert.deepEqual(c.push("\u201cStop.\u201d He turned around slowly").map((x) => x.text), ["\u201cStop.\u201d"]);
});

test("at the delay deadline a trailing number, amount, time or title waits for the next word, once", () => {
  const c = new TextChunker(P);
  c.push("They raised $1.5 ");
  assert.ok(c.holdsWholeWord);
  assert.deepEqual(c.flushWords().map((x) => x.text), ["They raised"]);
  assert.deepEqual(c.push("million in funding."), []);
  assert.deepEqual(c.flush().map((x) => x.text), ["$1.5 million in funding."]);
  const d = new TextChunker(P);
  d.push("Please call Dr. ");
  assert.deepEqual(d.flushWords().map((x) => x.text), ["Please call"]);
  // alone, it goes at the next deadline
  assert.deepEqual(d.flushWords().map((x) => x.text), ["Dr."]);
  assert.equal(d.holdsWholeWord, false);
});

test("at the delay deadline trailing function words wait for the word they lean on, never all of the chunk", () => {
  const c = new TextChunker(P);
  c.push("so let it cool for a minu");
  // "minu" is a partial word; "for a" is read with it
  assert.deepEqual(c.flushWords().map((x) => x.text), ["so let it cool"]);
  assert.deepEqual(c.push("te. "), []);
  assert.deepEqual(c.flush().map((x) => x.text), ["for a minute."]);
  // at most three words are held back
  const d = new TextChunker(P);
  d.push("It is over and in to the x");
  assert.deepEqual(d.flushWords().map((x) => x.text), ["It is over and"]);
  // function words alone, or with only numbers, go out as they are, so nothing waits forever
  const e = new TextChunker(P);
  e.push("and for the ");
  assert.equal(e.holdsWholeWord, true);
  assert.deepEqual(e.flushWords().map((x) => x.text), ["and for the"]);
  e.push("of 42 ");
  assert.deepEqual(e.flushWords().map((x) => x.text), ["of 42"]);
  // a title leans on the next word too: one left alone in the chunk would be a phrase end on "Dr."
  const g = new TextChunker(P);
  g.push("Dr. in of a ");
  assert.deepEqual(g.flushWords().map((x) => x.text), ["Dr. in of a"]);
  // with a word that does not lean before it, the three function words wait (the hold stops at three)
  const h = new TextChunker(P);
  h.push("Ask Dr. in of a ");
  assert.deepEqual(h.flushWords().map((x) => x.text), ["Ask Dr."]);
  // case does not matter
  const f = new TextChunker(P);
  f.push("Close the door And ");
  assert.deepEqual(f.flushWords().map((x) => x.text), ["Close the door"]);
});

test("a delay cut never makes a chunk of marks alone: they wait for the words they belong with", () => {
  const c = new TextChunker(P);
  assert.deepEqual(c.push("One heartburn cocktail coming up. ").map((x) => x.text), ["One heartburn cocktail coming up."]);
  c.push(", ");                                     // an LLM's lone "," token, after the cut
  assert.ok(c.holdsWholeWord);
  assert.deepEqual(c.flushWords(), []);
  c.push("Cheers ");
  assert.deepEqual(c.flushWords().map((x) => x.text), [", Cheers"]);
  // marks that read as words are speakable: "&" is "and"
  const d = new TextChunker(P);
  d.push("Salt & ");
  assert.deepEqual(d.flushWords().map((x) => x.text), ["Salt &"]);
});

test("chunks cut mid-phrase (at a deadline or at maxChars) say so; those cut at a sentence or phrase end do not", () => {
  const c = new TextChunker(P);
  const ends = c.push("Well, hello there, my friend. How are you today? ");
  assert.deepEqual(ends.map((x) => [x.text, x.midPhrase]), [["Well, hello there,", undefined], ["my friend. How are you today?", undefined]]);
  c.push("The weather today looks sunny and");
  assert.deepEqual(c.flushWords().map((x) => [x.text, x.midPhrase]), [["The weather today looks sunny", true]]);
  const long = c.push(" warm " + "word ".repeat(20));
  assert.ok(long.length >= 1 && long.every((x) => x.midPhrase === true && x.text.length <= P.maxChars));
  assert.deepEqual(c.flush().map((x) => x.midPhrase), [undefined], "a flush or end is where the text stops");
});
