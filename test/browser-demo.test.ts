/**
 * The browser demo (GET /): its bookkeeping in Node, what the server serves, and the page itself in
 * headless Chromium (playwright-core driving /usr/bin/chromium, which .ci/run installs): typing
 * streams text, audio frames arrive and play (WebCodecs Opus, and the raw PCM fallback), a word is
 * highlighted, the latency numbers show, and an API key typed into the page is used.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import type { App } from "../src/app.js";
import { chunkEnd, PlayoutClock, PlayoutGate, segments, SendLog, wordIndexAt } from "../src/demo/timeline.js";
import { sha256Hex } from "../src/server/auth.js";
import { DEMO_MODULES } from "../src/server/demo.js";
import { startTestServer } from "./helpers.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SCREENSHOT = join(tmpdir(), "soundstorm-browser-demo.png");

let app: App;
let browser: Browser | null = null;
before(async () => { app = await startTestServer(); });
after(async () => {
  await browser?.close();
  await app.close();
});

async function launch(): Promise<Browser> {
  if (browser) return browser;
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (Debian: apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"] });
  return browser;
}

/** A page with its script errors collected. */
async function open(port: number, query = ""): Promise<{ page: Page; errors: string[] }> {
  const page = await (await launch()).newPage({ viewport: { width: 1100, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(`http://127.0.0.1:${port}/${query}`);
  return { page, errors };
}

const stats = (page: Page) => page.evaluate(() => ({ ...window.soundstormDemo }));

test("timeline: the send that completed the first chunk, the playout clock, the word at a time", () => {
  const words = [
    { word: "Hello", start_ms: 0, end_ms: 300, char_offset: 0 },
    { word: "there", start_ms: 300, end_ms: 650, char_offset: 6 },
    { word: "friend", start_ms: 700, end_ms: 1000, char_offset: 13 },
  ];
  assert.equal(chunkEnd(words.slice(0, 2)), 11);
  const log = new SendLog();
  log.record("append", 6, 100);   // "Hello "
  log.record("append", 11, 200);  // "there": the word might go on
  log.record("append", 13, 300);  // ", ": now the chunk "Hello there" can be cut
  log.record("end", 20, 400);
  assert.equal(log.completedAt(11), 300);
  assert.equal(log.completedAt(20), 400, "the last word is complete at end");
  assert.equal(log.completedAt(25), null);
  assert.equal(log.lastBefore(250), 200);
  assert.deepEqual([0, 299, 300, 660, 700, 1000].map((ms) => wordIndexAt(words, ms)), [0, 0, 1, -1, 2, -1]);
  assert.deepEqual(segments("Hello there, friend!", words).map((s) => [s.text, s.word]),
    [["Hello", 0], [" ", -1], ["there", 1], [", ", -1], ["friend", 2], ["!", -1]]);
  const clock = new PlayoutClock(0.1);
  assert.equal(clock.schedule(10, 0.02, 0), 10.1, "the jitter buffer delays the start");
  assert.ok(Math.abs(clock.schedule(10.05, 0.02) - 10.12) < 1e-9, "then back to back");
  // 0.2 s later than it should: an underrun shifts the origin, and positions with it
  const late = clock.schedule(10.35, 0.02);
  assert.equal(clock.underruns, 1);
  assert.ok(Math.abs(late - 10.36) < 1e-9 && Math.abs(clock.underrunMs - 220) < 1e-6);
  assert.ok(Math.abs(clock.positionMs(10.36)! - 40) < 1e-6);
  const nextUtterance = new PlayoutClock(0.1);
  assert.equal(nextUtterance.schedule(10.2, 0.02, clock.end), clock.end, "it starts after the previous one ends");
});

test("an utterance's audio waits until the one before has scheduled all of its own: no two voices at once", async () => {
  const played: string[] = [];
  let previousDone!: () => void;
  const previous = new Promise<void>((r) => { previousDone = r; });
  const first = new PlayoutGate<string>(null, (x) => played.push(x));
  const second = new PlayoutGate<string>(previous, (x) => played.push(x));
  first.push("a1");
  second.push("b1");
  first.push("a2");   // the first utterance's audio still arriving (paced)
  second.push("b2");
  assert.deepEqual(played, ["a1", "a2"]);
  previousDone();
  await previous;
  await Promise.resolve();
  assert.deepEqual(played, ["a1", "a2", "b1", "b2"]);
  second.push("b3");
  assert.deepEqual(played, ["a1", "a2", "b1", "b2", "b3"], "then at once");
});

test("GET / serves the page; /static/ serves exactly the modules it loads, whose imports stay among them", async () => {
  const base = `http://127.0.0.1:${app.port}`;
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  const html = await page.text();
  assert.match(html, /<script type="module" src="\/static\/demo\/app\.js">/);
  for (const m of DEMO_MODULES) {
    const r = await fetch(`${base}/static/${m}`);
    assert.equal(r.status, 200, m);
    assert.match(r.headers.get("content-type") ?? "", /javascript/);
    const js = await r.text();
    assert.doesNotMatch(js, /sourceMappingURL/);
    // every import is relative and lands on a served module: nothing Node-only, no bare specifiers
    for (const [, spec] of js.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?from\s*"([^"]+)"/g)) {
      assert.ok(spec.startsWith("."), `${m} imports '${spec}'`);
      const resolved = new URL(spec, `${base}/static/${m}`).pathname.slice("/static/".length);
      assert.ok(DEMO_MODULES.includes(resolved), `${m} imports ${resolved}, which is not served`);
    }
    assert.doesNotMatch(js, /\bimport\s*\(/, `${m} has a dynamic import`);
  }
  for (const p of ["/static/sdk/node.js", "/static/config.js", "/static/demo/app.js.map", "/static/%2e%2e/config.js", "/static/../src/config.js"]) {
    assert.equal((await fetch(`${base}${p}`)).status, 404, p);
  }
});

test("the page streams typed text word by word, plays the audio (WebCodecs Opus), highlights words, shows latency", { timeout: 180_000 }, async () => {
  const { page, errors } = await open(app.port);
  await page.waitForFunction(() => window.soundstormDemo?.state === "open", null, { timeout: 30_000 });
  const voices = await page.$$eval("#voice option", (os) => os.map((o) => (o as HTMLOptionElement).value));
  assert.ok(voices.length >= 2, String(voices));
  await page.selectOption("#voice", voices[1]);
  await page.click("#text");
  // the first phrase, typed; its audio comes while the utterance is still open (no Enter yet)
  await page.keyboard.type("Hello there, this demo speaks while you are typing ", { delay: 25 });
  await page.waitForFunction(() => window.soundstormDemo.framesReceived > 0, null, { timeout: 60_000 });
  const mid = await stats(page);
  assert.equal(mid.contextsDone, 0, "audio arrived before the utterance was ended");
  assert.equal(mid.decoder, "webcodecs-opus");
  await page.keyboard.type("and keeps going, word by word, until Enter.", { delay: 25 });
  await page.keyboard.press("Enter");
  // a word is highlighted by the audio clock
  await page.waitForSelector("#transcript .w.speaking", { timeout: 60_000 });
  await page.waitForFunction(() => window.soundstormDemo.contextsDone >= 1, null, { timeout: 60_000 });
  // the audio plays on for the server's lead and the jitter buffer: the screenshot shows the numbers and, mostly, a word lit
  await page.waitForSelector("#transcript .w.speaking", { timeout: 2_000 }).catch(() => {});
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`screenshot: ${SCREENSHOT}`);
  const s = await stats(page);
  assert.ok(s.framesReceived > 50, `frames ${s.framesReceived}`);
  assert.ok(s.wordsHighlighted >= 1 && s.highlighted.length >= 1, JSON.stringify(s));
  assert.ok(s.highlighted.every((w) => /^[A-Za-z]+$/.test(w)), JSON.stringify(s.highlighted));
  assert.equal(s.contexts, 1, "one context for the whole utterance");
  const shown = await page.evaluate(() => Object.fromEntries(["m-latency", "m-heard", "m-ttfa", "m-rtf", "m-audio", "m-frames"]
    .map((id) => [id, document.getElementById(id)!.textContent ?? ""])));
  assert.match(shown["m-latency"], /^\d+$/, JSON.stringify(shown));
  assert.match(shown["m-heard"], /^-?\d+$/);
  assert.match(shown["m-ttfa"], /^\d+$/);
  assert.match(shown["m-rtf"], /^\d+\.\d{3}$/);
  assert.match(shown["m-audio"], /^\d+\.\d{2}$/);
  assert.equal(Number(shown["m-frames"]), s.framesReceived);
  assert.ok(s.latencyMs! > 0 && s.latencyMs! < 30_000 && s.ttfaMs! > 0 && s.rtf! > 0);
  assert.equal(await page.inputValue("#text"), "", "Enter clears the box for the next utterance");
  assert.deepEqual(errors, []);
  assert.deepEqual(s.errors, []);
  await page.close();
});

test("without WebCodecs the page asks for raw PCM and plays that", { timeout: 120_000 }, async () => {
  const { page, errors } = await open(app.port, "?decoder=pcm");
  await page.waitForFunction(() => window.soundstormDemo?.state === "open", null, { timeout: 30_000 });
  await page.click("#text");
  await page.keyboard.type("Raw samples, played through an audio context.", { delay: 10 });
  await page.click("#speak");
  await page.waitForFunction(() => window.soundstormDemo.contextsDone >= 1 && window.soundstormDemo.wordsHighlighted >= 1, null, { timeout: 60_000 });
  const s = await stats(page);
  assert.equal(s.decoder, "pcm");
  assert.ok(s.framesReceived > 10);
  assert.match((await page.textContent("#decoder")) ?? "", /PCM/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("with API keys configured the page says a key is needed, then connects with the one typed in", { timeout: 120_000 }, async () => {
  const KEY = "demo-page-key";
  const keyed = await startTestServer({ auth: { keys: [{ id: "demo", sha256: sha256Hex(KEY), maxContexts: 4, charsPerMinute: 100_000, maxSockets: 4 }] } });
  try {
    const { page } = await open(keyed.port);
    await page.waitForFunction(() => window.soundstormDemo?.state === "failed", null, { timeout: 30_000 });
    assert.match((await page.textContent("#status")) ?? "", /needs an API key/);
    await page.fill("#key", "not-the-key");
    await page.click("#connect");
    await page.waitForFunction(() => /refused/.test(document.getElementById("status")!.textContent ?? ""), null, { timeout: 30_000 });
    await page.fill("#key", KEY);
    await page.press("#key", "Enter");
    await page.waitForFunction(() => window.soundstormDemo.state === "open", null, { timeout: 30_000 });
    await page.click("#text");
    await page.keyboard.type("With a key.", { delay: 10 });
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => window.soundstormDemo.contextsDone >= 1, null, { timeout: 60_000 });
    assert.ok((await stats(page)).framesReceived > 0);
    await page.close();
  } finally {
    await keyed.close();
  }
});
