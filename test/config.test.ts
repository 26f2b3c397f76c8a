/** Config validation: values that would abort the process or break every context are refused at startup. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildConfig, DEFAULT_CONFIG, type ConfigOverrides } from "../src/config.js";

test("the defaults are valid", () => {
  assert.doesNotThrow(() => buildConfig());
});

test("refused: idle timeouts uWS aborts on, unknown enums, NaN or negative delays, impossible limits", () => {
  const refused: [ConfigOverrides, RegExp][] = [
    [{ limits: { idleTimeoutS: 2 } }, /idleTimeoutS must be 8-960/],
    [{ limits: { idleTimeoutS: 5000 } }, /idleTimeoutS must be 8-960/],
    [{ limits: { slowConsumerBytes: 8 * 1024 * 1024 } }, /slowConsumerBytes above maxBackpressureBytes/],
    [{ defaultFormat: "mp3" } as never, /defaultFormat must be one of/],
    [{ defaultLatency: "fast" } as never, /defaultLatency must be one of/],
    [{ pacing: { default: "slow" } } as never, /pacing.default must be realtime or burst/],
    [{ pacing: { leadMs: Number.NaN } }, /pacing.leadMs/],
    [{ pacing: { leadMs: -1000 } }, /pacing.leadMs/],
    [{ opusBitrate: -5 }, /opusBitrate/],
    [{ auth: { tokenTtlS: -1 } }, /tokenTtlS/],
    [{ chunking: { ...DEFAULT_CONFIG.chunking, low: { ...DEFAULT_CONFIG.chunking.low, maxDelayMs: Number.NaN } } }, /chunking.low.maxDelayMs/],
    [{ chunking: { ...DEFAULT_CONFIG.chunking, balanced: { ...DEFAULT_CONFIG.chunking.balanced, holdAheadMs: -1 } } }, /chunking.balanced.holdAheadMs/],
    [{ chunking: { ...DEFAULT_CONFIG.chunking, balanced: { ...DEFAULT_CONFIG.chunking.balanced, deadlineMinChars: 1.5 } } }, /chunking.balanced.deadlineMinChars/],
    [{ chunking: { ...DEFAULT_CONFIG.chunking, quality: { ...DEFAULT_CONFIG.chunking.quality, deadlineMaxWaitMs: Infinity } } }, /chunking.quality.deadlineMaxWaitMs/],
    [{ chunking: { ...DEFAULT_CONFIG.chunking, balanced: { ...DEFAULT_CONFIG.chunking.balanced, holdLastWordMs: -400 } } }, /chunking.balanced.holdLastWordMs/],
  ];
  for (const [o, re] of refused) assert.throws(() => buildConfig(o), re, JSON.stringify(o));
  assert.doesNotThrow(() => buildConfig({ limits: { idleTimeoutS: 8 }, defaultLatency: "low", pacing: { default: "burst" } }));
});
