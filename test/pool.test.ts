/** `eval pool`: evaluation reports of different sentences read as one set. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { poolReports, PoolError } from "../src/eval/pool.js";
import { differenceWithInterval, errorsOf, pairErrors } from "../src/eval/bootstrap.js";

type T = { text: string; hyp: string; reference_hyp: string; streaming_hyp?: string };
const report = (voices: Record<string, T[]>, extra: Record<string, unknown> = {}) => ({
  stage: "e2e", model: "default", clock: "virtual", rtf: 0.1, ...extra,
  voices: Object.fromEntries(Object.entries(voices).map(([v, ts]) => [v, { wer: 0, reference_wer: 0, utterances: ts.length, transcripts: ts }])),
});

const A: T[] = [
  { text: "Open the door.", hyp: "open the door", reference_hyp: "open a door", streaming_hyp: "open the door" },
  { text: "The cat sat on the mat.", hyp: "the cat sat on a mat", reference_hyp: "the cat sat on the mat", streaming_hyp: "the hat sat on a mat" },
];
const B: T[] = [
  { text: "We need a new lamp.", hyp: "we need new lamps", reference_hyp: "we need a new lamp" },
  { text: "Call the office at ten.", hyp: "call the office at ten", reference_hyp: "called the office at ten" },
  { text: "Wake me up at six.", hyp: "wake me up at six", reference_hyp: "wake me up at six" },
];

test("pooled WERs are total errors over total words of every report's sentences, with the same intervals one report would give", () => {
  const p = poolReports([{ name: "a.json", report: report({ rms: A }) }, { name: "b.json", report: report({ rms: B }) }]);
  const v = p.voices.rms;
  // words 3 + 6 + 5 + 5 + 5 = 24; ours 0 + 1 + 2 + 0 + 0 = 3 errors, flite's 1 + 0 + 0 + 1 + 0 = 2
  assert.equal(v.sentences, 5);
  assert.equal(v.words, 24);
  assert.equal(v.wer, 12.5);
  assert.equal(v.reference_wer, 8.33);
  assert.equal(v.wer_minus_reference, 4.17);
  const all = [...A, ...B];
  const expect = differenceWithInterval(pairErrors(all.map((t) => errorsOf(t.text, t.hyp)), all.map((t) => errorsOf(t.text, t.reference_hyp))));
  assert.deepEqual(v.wer_minus_reference_ci95, expect.ci95);
  assert.ok(v.wer_minus_reference_ci95[0] <= 4.17 && 4.17 <= v.wer_minus_reference_ci95[1]);
  // streamed: only A's two sentences (9 words) have a streamed transcript: 2 errors against whole's 1
  assert.equal(v.streaming_sentences, 2);
  assert.equal(v.streaming_wer, 22.22);
  assert.equal(v.streaming_minus_whole, 11.11);
  assert.deepEqual(p.reports, ["a.json", "b.json"]);
  assert.equal(p.settings.model, "default");
});

test("reports that cannot be pooled are refused with the reason", () => {
  const refuse = (reports: { name: string; report: unknown }[], re: RegExp) =>
    assert.throws(() => poolReports(reports), (e: unknown) => e instanceof PoolError && re.test((e as Error).message));
  refuse([], /no reports/);
  refuse([{ name: "x.json", report: { stage: "codec", voices: {} } }], /x\.json is not an eval e2e or eval soundstorm report/);
  refuse([{ name: "a.json", report: report({ rms: A }) }, { name: "b.json", report: report({ rms: B }, { speed: 0.9 }) }],
    /b\.json was made with speed 0\.9, a\.json with \(default\)/);
  refuse([{ name: "a.json", report: report({ rms: A }) }, { name: "a2.json", report: report({ rms: A }) }],
    /rms speaks "Open the door\." in both a\.json and a2\.json/);
  // a --whole-only report (no text rate) pools with streamed ones, but two text rates do not
  const at = (wps: number | undefined, ts: T[], name: string) => ({ name, report: report({ rms: ts }, wps === undefined ? {} : { words_per_second: wps }) });
  assert.equal(poolReports([at(undefined, B, "w.json"), at(20, A, "s.json")]).voices.rms.sentences, 5);
  refuse([at(undefined, [B[0]], "w.json"), at(20, A, "s20.json"), at(3, [B[1]], "s3.json")],
    /s3\.json was made with words_per_second 3, a report before it with 20/);
  const bare = report({ rms: A }) as { voices: Record<string, { transcripts?: unknown }> };
  delete bare.voices.rms.transcripts;
  refuse([{ name: "bare.json", report: bare }], /bare\.json has no transcripts for rms/);
});

test("eval soundstorm reports pool into SoundStorm − codec (issue 4's bar) and codec − flite (issue 3's)", () => {
  const ss = (ts: { text: string; hyp: string; codec_hyp: string; reference_hyp: string }[], extra: Record<string, unknown> = {}) =>
    ({ stage: "soundstorm", model: "default", schedule: [4, 1], rtf: 0.05, ...extra, voices: { slt: { wer: 0, codec_wer: 0, reference_wer: 0, transcripts: ts } } });
  const a = [{ text: "Open the door.", hyp: "open a door", codec_hyp: "open the door", reference_hyp: "open the door" }];
  const b = [{ text: "The cat sat on the mat.", hyp: "the cat sat on the mat", codec_hyp: "the cat sat on a mat", reference_hyp: "a cat sat on a mat" }];
  const p = poolReports([{ name: "a.json", report: ss(a) }, { name: "b.json", report: ss(b) }]);
  assert.equal(p.stage, "soundstorm-pooled");
  const v = p.voices.slt;
  // 9 words: SoundStorm 1 error, codec 1, flite 2
  assert.deepEqual([v.sentences, v.words, v.wer, v.codec_wer, v.reference_wer], [2, 9, 11.11, 11.11, 22.22]);
  assert.equal(v.wer_minus_codec, 0);
  assert.equal(v.codec_minus_reference, -11.11);
  assert.equal(v.wer_minus_reference, undefined);
  assert.deepEqual(p.settings, { model: "default", schedule: [4, 1] });
  assert.throws(() => poolReports([{ name: "a.json", report: ss(a) }, { name: "b.json", report: ss(b, { seed: 2 }) }]), /b\.json was made with seed 2/);
  assert.throws(() => poolReports([{ name: "a.json", report: ss(a) }, { name: "e.json", report: report({ slt: B }) }]),
    /e\.json is an eval e2e report, a\.json an eval soundstorm one/);
});

test("`soundstorm eval pool` writes the pooled report, exits 1 on reports it cannot pool and skips repeats when asked", () => {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-pool-"));
  const a = join(dir, "a.json"), b = join(dir, "b.json"), out = join(dir, "pooled.json");
  writeFileSync(a, JSON.stringify(report({ rms: A, slt: B })));
  writeFileSync(b, JSON.stringify(report({ rms: B })));
  const ok = spawnSync("node", ["bin/soundstorm.js", "eval", "pool", "--json", out, a, b], { encoding: "utf8" });
  assert.equal(ok.status, 0, ok.stderr);
  const p = JSON.parse(readFileSync(out, "utf8"));
  assert.equal(p.voices.rms.sentences, 5);
  assert.equal(p.voices.slt.sentences, 3);
  const dup = spawnSync("node", ["bin/soundstorm.js", "eval", "pool", "--json", out, a, a], { encoding: "utf8" });
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /^soundstorm: rms speaks "Open the door\." in both .*--skip-repeats keeps the first/);
  const skip = spawnSync("node", ["bin/soundstorm.js", "eval", "pool", "--json", out, "--skip-repeats", a, b, a], { encoding: "utf8" });
  assert.equal(skip.status, 0, skip.stderr);
  const q = JSON.parse(readFileSync(out, "utf8"));
  assert.deepEqual([q.voices.rms.sentences, q.voices.rms.repeats_skipped, q.voices.slt.sentences, q.voices.slt.repeats_skipped], [5, 2, 3, 3]);
  assert.equal(spawnSync("node", ["bin/soundstorm.js", "eval", "pool", a]).status, 2);
});
