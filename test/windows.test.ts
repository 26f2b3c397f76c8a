/** Window planning (no model: a recording stand-in for SoundStorm): where the first-window cap applies. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AcousticGenerator, AcousticRequest } from "../src/pipeline/acoustic/soundstorm.js";
import { generateInWindows, type WindowTail } from "../src/synth/windows.js";

const Q = 2;

/** Records each window's new-frame count and tail length; emits frame index as every level's code. */
function recorder(): { gen: AcousticGenerator; windows: { tail: number; n: number }[] } {
  const windows: { tail: number; n: number }[] = [];
  const gen = {
    levels: Q,
    async generate(req: AcousticRequest) {
      windows.push({ tail: req.tailSemantic.length, n: req.semantic.length });
      // a window sheds as many passes as the guidance question says yes to, once per window here, and the finer of
      // its two levels when the level question says yes to it
      const shed = req.shedding?.guidance?.() ? 1 : 0;
      const shedLevels = req.shedding?.level?.(1) ? 1 : 0;
      return { acoustic: new Int32Array(req.semantic.length * Q).fill(7), passes: 1, shedPasses: shed, shedLevels };
    },
  } as unknown as AcousticGenerator;
  return { gen, windows };
}

const voice = { key: "v", semantic: new Int32Array(10), acoustic: new Int32Array(10 * Q) };
const opts = { maxWindowFrames: 400, tailFrames: 50, seed: 1, firstWindowFrames: 25 };

test("the first-window cap applies at a stream's start, and mid-stream only when asked (urgent)", async () => {
  const fresh = recorder();
  const tail: WindowTail = { semantic: new Int32Array(0), acoustic: new Int32Array(0) };
  await generateInWindows(fresh.gen, voice, tail, new Int32Array(100), opts);
  assert.deepEqual(fresh.windows, [{ tail: 0, n: 25 }, { tail: 25, n: 75 }]);

  const later = recorder();
  await generateInWindows(later.gen, voice, tail, new Int32Array(100), opts);
  assert.deepEqual(later.windows, [{ tail: 50, n: 100 }], "mid-stream: one window");

  const urgent = recorder();
  const r = await generateInWindows(urgent.gen, voice, tail, new Int32Array(100), { ...opts, capFirstWindow: true });
  assert.deepEqual(urgent.windows, [{ tail: 50, n: 25 }, { tail: 50, n: 75 }], "urgent: short first window, then the rest");
  assert.equal(r.codes.length, 100 * Q);
});

test("tailFrames 0 conditions no window on the one before (slice(-0) would have kept everything)", async () => {
  const r = recorder();
  const tail: WindowTail = { semantic: new Int32Array(0), acoustic: new Int32Array(0) };
  await generateInWindows(r.gen, voice, tail, new Int32Array(900), { ...opts, tailFrames: 0 });
  assert.deepEqual(r.windows.map((w) => w.tail), r.windows.map(() => 0));
  assert.equal(tail.semantic.length, 0);
  // without a tail, only the stream's first window is capped (an empty tail does not mean a stream's start)
  assert.equal(r.windows[0].n, 25);
  assert.ok(r.windows.slice(1).every((w) => w.n > 25), JSON.stringify(r.windows));
});

test("the load-shedding questions reach every window, and the passes and levels each window shed are summed", async () => {
  const r = recorder();
  const tail: WindowTail = { semantic: new Int32Array(0), acoustic: new Int32Array(0) };
  let asked = 0;
  let askedLevel = 0;
  const res = await generateInWindows(r.gen, voice, tail, new Int32Array(900),
    { ...opts, shedding: { guidance: () => ++asked !== 2, level: () => ++askedLevel === 3 } });
  assert.ok(r.windows.length >= 3, JSON.stringify(r.windows));
  assert.equal(asked, r.windows.length);
  assert.equal(res.shedPasses, r.windows.length - 1, "every window but the second shed one");
  assert.equal(askedLevel, r.windows.length);
  assert.equal(res.shedLevels, 1, "only the third window shed its finer level");
  const none = await generateInWindows(recorder().gen, voice, tail, new Int32Array(100), opts);
  assert.equal(none.shedPasses, 0);
  assert.equal(none.shedLevels, 0);
});
