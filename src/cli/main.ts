/** The `soundstorm` command: serve, say. */
import { parseArgs } from "node:util";
import { readFileSync, writeFileSync } from "node:fs";
import { evalCodec } from "../eval/codec-eval.js";
import { evalSoundStorm } from "../eval/soundstorm-eval.js";
import { evalE2E, TURN_CLOCKS, type TurnClock } from "../eval/e2e-eval.js";
import { poolReports } from "../eval/pool.js";
import { DEFAULT_SPEAKER_CLASSIFIER } from "../eval/speaker-id.js";
import { sha256Hex } from "../server/auth.js";
import { createApp, loadSynthesizer } from "../app.js";
import { buildConfig, fromEnv } from "../config.js";
import { resolve } from "node:path";
import { synthesizeToFile } from "./say.js";
import { synthesizeRemote } from "./say-remote.js";
import { preparePhonemes } from "./prepare-phonemes.js";
import { prepareUnits } from "./prepare-units.js";
import { pickVoices } from "../eval/voice-pick.js";
import { CreateContext, type LatencyProfile } from "../protocol/messages.js";
import { isSpeakable, normalizeText } from "../pipeline/text/normalize.js";

const USAGE = `usage:
  soundstorm serve [--port N] [--host H] [--model DIR] [--threads N]
  soundstorm say "<text>" --out FILE.ogg|FILE.wav [--voice V] [--model DIR] [--seed N]
  soundstorm say "<text>" --out FILE.ogg|FILE.wav --server ws://HOST:PORT/v1/stream [--key KEY] [--voice V] [--seed N]
  (eval --sentences FILE: one sentence per line; blank lines and lines starting with "#" are skipped)
  soundstorm eval codec --sentences FILE --json OUT [--model DIR] [--corpus DIR] [--corpus-limit N] [--voices a,b]
  soundstorm eval soundstorm --sentences FILE --json OUT [--model DIR] [--voices a,b] [--speaker-classifier F]
                             [--sweep 1,4,8,16] [--one-frame-per-pass] [--long-seconds 60] [--long-streams N] [--seed N]
                             [--transcripts]
  soundstorm eval e2e --sentences FILE --json OUT [--model DIR] [--voices a,b] [--whole-only] [--speed 0.5-2]
                      [--latency low|balanced|quality] [--seed N] [--clock virtual|real] [--transcripts]
                      [--acoustic-levels K] [--words-per-second 0.5-100]
  soundstorm eval pool --json OUT [--skip-repeats] REPORT.json...   (eval e2e or eval soundstorm --transcripts reports of different
                      sentences, pooled per voice: WERs and paired-bootstrap intervals over all their sentences)
  soundstorm prepare phonemes --corpus DIR   (training data: phonemize the corpus with the server's front end)
  soundstorm prepare units --corpus DIR --out FILE.jsonl [--model DIR] [--split train] [--limit N] [--speakers a,b] [--codes]
                           (training data: semantic units [and codec codes] of corpus audio, for the decoding priors)
  soundstorm prepare voices --corpus DIR [--model DIR] [--voices a,b] [--candidates 8] [--sentences 24] [--min-gain 3]
                            [--write] [--json OUT]   (choose each base voice's prompt by end-to-end WER on validation sentences)
  soundstorm hash-key KEY        (prints the SHA-256 to put in SOUNDSTORM_API_KEYS or the keys file)`;

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    port: { type: "string" }, host: { type: "string" }, model: { type: "string" }, threads: { type: "string" },
  } });
  const log = (m: string) => console.error(`[${new Date().toISOString()}] ${m}`);
  const app = await createApp({
    ...(values.port !== undefined ? { port: Number(values.port) } : {}),
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(values.model !== undefined ? { modelDir: resolve(values.model) } : {}),
    ...(values.threads !== undefined ? { inference: { intraOpThreads: Number(values.threads) } } : {}),
  }, log);
  log(`listening on ${app.config.host}:${app.port} (WebSocket /v1/stream, /healthz, /readyz, /metrics; browser demo at /)`);
  const stop = async (signal: string) => {
    log(`${signal}: draining (up to ${app.config.shutdown.drainTimeoutS} s)`);
    const { unfinished } = await app.drain();
    log(unfinished ? `stopped with ${unfinished} contexts unfinished (told: server_shutting_down, close 1001)` : "drained; all contexts finished");
    process.exit(0);
  };
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));
}

async function say(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    out: { type: "string", short: "o" }, voice: { type: "string" }, model: { type: "string" }, seed: { type: "string" },
    server: { type: "string" }, key: { type: "string" },
  } });
  const text = positionals.join(" ").trim();
  if (!text || !values.out) throw new UsageError("say needs text and --out FILE");
  // as the server refuses it (no_speakable_text): an empty file and exit 0 would hide the mistake
  if (!isSpeakable(normalizeText(text))) throw new Error(`nothing to say in ${JSON.stringify(text.slice(0, 40))}: no letter or digit`);
  const seed = rangedFlag("seed", values.seed, CreateContext.properties.seed, true);
  if (values.server) {
    // through a running server (the client SDK) instead of loading the models here
    const apiKey = values.key ?? process.env.SOUNDSTORM_API_KEY;
    const r = await synthesizeRemote(text, {
      url: values.server, out: values.out, ...(values.voice !== undefined ? { voice: values.voice } : {}),
      ...(seed !== undefined ? { seed } : {}), ...(apiKey ? { apiKey } : {}),
    });
    console.error(`wrote ${values.out}: ${r.audioSeconds.toFixed(2)} s of audio in ${r.generationSeconds.toFixed(2)} s, first audio after ${r.ttfaMs?.toFixed(0) ?? "-"} ms (voice ${r.voice}, model ${r.model} at ${values.server}${r.fixture ? ", RANDOM-WEIGHT FIXTURE" : ""})`);
    return;
  }
  const config = buildConfig(fromEnv(process.env), values.model ? { modelDir: resolve(values.model) } : {});
  const { synth, models } = await loadSynthesizer(config);
  try {
    const r = await synthesizeToFile(synth, text, {
      out: values.out, voice: values.voice ?? synth.voices[0], seed: seed ?? 0, bitrate: config.opusBitrate,
    });
    console.error(`wrote ${values.out}: ${r.audioSeconds.toFixed(2)} s of audio in ${r.generationSeconds.toFixed(2)} s (voice ${r.voice}, model ${synth.manifest.name}${synth.manifest.kind === "fixture" ? ", RANDOM-WEIGHT FIXTURE" : ""})`);
  } finally {
    await models.dispose();
  }
}

/** A numeric flag (undefined when absent), checked against the protocol schema's range for the same create_context field. */
function rangedFlag(name: string, raw: string | undefined, range: { minimum?: number; maximum?: number }, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const x = Number(raw);
  const { minimum = -Infinity, maximum = Infinity } = range;
  if (!((!integer || Number.isInteger(x)) && x >= minimum && x <= maximum)) {
    throw new UsageError(`--${name} must be ${integer ? "an integer" : "a number"} from ${minimum} to ${maximum}, got '${raw}'`);
  }
  return x;
}

/** An evaluation's sentences: one per line; blank lines and lines starting with "#" (comments) are skipped. */
function readSentences(path: string): string[] {
  const lines = readFileSync(path, "utf8").replace(/^\uFEFF/, "").split(/\r?\n/).map((l) => l.trim());
  const sentences = lines.filter((l) => l && !l.startsWith("#"));
  if (sentences.length === 0) throw new UsageError(`${path} has no sentences (one per line; "#" starts a comment line)`);
  return sentences;
}

/** `eval pool`: several reports' sentences read as one set. */
function evaluatePool(argv: string[]): void {
  const { values, positionals } = parseArgs({ args: argv, options: { json: { type: "string" }, "skip-repeats": { type: "boolean" } }, allowPositionals: true });
  if (!values.json || positionals.length === 0) throw new UsageError("eval pool needs --json OUT and one or more eval e2e or eval soundstorm reports");
  const reports = positionals.map((name) => {
    try { return { name, report: JSON.parse(readFileSync(name, "utf8")) as unknown }; } catch (e) {
      throw new UsageError(`${name}: ${(e as Error).message}`);
    }
  });
  // reports that cannot be pooled (other settings, a repeated sentence) fail as data errors (exit 1), not usage
  const pooled = poolReports(reports, { skipRepeats: Boolean(values["skip-repeats"]) });
  writeFileSync(values.json, JSON.stringify(pooled, null, 2) + "\n");
  console.log(JSON.stringify(pooled));
}

async function evaluate(argv: string[]): Promise<void> {
  const [stage, ...rest] = argv;
  if (stage === "pool") return evaluatePool(rest);
  const { values } = parseArgs({ args: rest, options: {
    sentences: { type: "string" }, json: { type: "string" }, model: { type: "string" },
    corpus: { type: "string" }, "corpus-limit": { type: "string" }, voices: { type: "string" },
    "speaker-classifier": { type: "string" }, sweep: { type: "string" }, "one-frame-per-pass": { type: "boolean" },
    "long-seconds": { type: "string" }, "long-streams": { type: "string" }, "whole-only": { type: "boolean" }, speed: { type: "string" }, latency: { type: "string" }, seed: { type: "string" }, clock: { type: "string" }, "acoustic-levels": { type: "string" },
    "words-per-second": { type: "string" }, transcripts: { type: "boolean" },
  } });
  if (!EVAL_STAGES.includes(stage as (typeof EVAL_STAGES)[number])) {
    throw new UsageError(`unknown evaluation '${stage ?? ""}' (available: ${EVAL_STAGES.join(", ")}, pool)`);
  }
  if (!values.sentences || !values.json) throw new UsageError("eval needs --sentences FILE and --json OUT");
  const sentences = readSentences(values.sentences);
  const log = (m: string) => console.error(m);
  const modelDir = resolve(values.model ?? "models/default");
  const voices = values.voices ? { voices: values.voices.split(",") } : {};
  // the generating evaluations (not codec resynthesis) take a sampling seed
  const seed = stage === "codec" ? undefined : rangedFlag("seed", values.seed, CreateContext.properties.seed, true);
  const seeded = seed !== undefined ? { seed } : {};
  let report: unknown;
  if (stage === "codec") {
    report = await evalCodec({
      modelDir, sentences, log, ...voices,
      ...(values.corpus ? { corpusDir: resolve(values.corpus) } : {}),
      ...(values["corpus-limit"] !== undefined ? { corpusLimit: rangedFlag("corpus-limit", values["corpus-limit"], { minimum: 0 }, true)! } : {}),
    });
  } else if (stage === "soundstorm") {
    const longStreams = values["long-streams"] === undefined ? undefined : Number(values["long-streams"]);
    if (longStreams !== undefined && !(Number.isInteger(longStreams) && longStreams >= 1)) {
      throw new UsageError(`--long-streams must be a whole number of at least 1, got '${values["long-streams"]}'`);
    }
    report = await evalSoundStorm({
      modelDir, sentences, log, ...voices,
      speakerClassifier: resolve(values["speaker-classifier"] ?? DEFAULT_SPEAKER_CLASSIFIER),
      ...(values.sweep !== undefined ? { sweep: values.sweep.split(",").map((x) => rangedFlag("sweep", x, { minimum: 1 }, true)!) } : {}),
      ...(values["one-frame-per-pass"] ? { oneFramePerPass: true } : {}),
      ...(values["long-seconds"] !== undefined ? { longSeconds: rangedFlag("long-seconds", values["long-seconds"], { minimum: 1 }, false)! } : {}),
      ...(longStreams !== undefined ? { longStreams } : {}),
      ...(values.transcripts ? { transcripts: true } : {}), ...seeded,
    });
  } else {
    const speed = rangedFlag("speed", values.speed, CreateContext.properties.speed, false) ?? 1;
    const profiles: string[] = CreateContext.properties.latency.anyOf.map((l) => l.const);
    const latency = values.latency;
    if (latency !== undefined && !profiles.includes(latency)) throw new UsageError(`--latency must be one of ${profiles.join(", ")}, got '${latency}'`);
    const clock = values.clock;
    if (clock !== undefined && !TURN_CLOCKS.includes(clock as TurnClock)) throw new UsageError(`--clock must be one of ${TURN_CLOCKS.join(", ")}, got '${clock}'`);
    const levels = values["acoustic-levels"];
    // the streamed variant's text rate: 20 (an LLM's tokens) by default; ~3 is a live captioner's, at speaking pace
    const wps = rangedFlag("words-per-second", values["words-per-second"], { minimum: 0.5, maximum: 100 }, false);
    if (levels !== undefined && !/^[1-9]\d*$/.test(levels)) throw new UsageError(`--acoustic-levels must be a positive integer, got '${levels}'`);
    report = await evalE2E({ modelDir, sentences, log, ...voices, streaming: !values["whole-only"], speed,
      ...(levels !== undefined ? { acousticLevels: Number(levels) } : {}),
      ...(wps !== undefined ? { wordsPerSecond: wps } : {}),
      ...(clock !== undefined ? { clock: clock as TurnClock } : {}),
      ...(values.transcripts ? { transcripts: true } : {}), ...seeded,
      ...(latency !== undefined ? { latency: latency as LatencyProfile } : {}) });
  }
  writeFileSync(values.json, JSON.stringify(report, null, 2) + "\n");
  console.log(JSON.stringify(report));
}

const EVAL_STAGES = ["codec", "soundstorm", "e2e"] as const;

async function prepare(argv: string[]): Promise<void> {
  const [what, ...rest] = argv;
  const { values } = parseArgs({ args: rest, options: {
    corpus: { type: "string" }, language: { type: "string" }, model: { type: "string" }, voices: { type: "string" },
    candidates: { type: "string" }, sentences: { type: "string" }, "min-gain": { type: "string" }, write: { type: "boolean" },
    json: { type: "string" }, out: { type: "string" }, split: { type: "string" }, limit: { type: "string" }, codes: { type: "boolean" },
    speakers: { type: "string" },
  } });
  if (what !== "phonemes" && what !== "voices" && what !== "units") throw new UsageError(`unknown preparation '${what ?? ""}' (available: phonemes, units, voices)`);
  if (!values.corpus) throw new UsageError(`prepare ${what} needs --corpus DIR`);
  const log = (m: string) => console.error(m);
  if (what === "phonemes") {
    await preparePhonemes(resolve(values.corpus), values.language ?? "en-us", log);
    return;
  }
  if (what === "units") {
    if (!values.out) throw new UsageError("prepare units needs --out FILE.jsonl");
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new UsageError(`--limit must be an integer >= 1, got '${values.limit}'`);
    await prepareUnits({ corpusDir: resolve(values.corpus), modelDir: resolve(values.model ?? "models/default"), out: resolve(values.out),
      ...(values.split ? { split: values.split } : {}), ...(limit !== undefined ? { limit } : {}),
      ...(values.speakers ? { speakers: values.speakers.split(",").filter(Boolean) } : {}), codes: Boolean(values.codes), log });
    return;
  }
  const num = (name: "candidates" | "sentences" | "min-gain", min: number) => {
    const raw = values[name];
    if (raw === undefined) return {};
    const n = Number(raw);
    if (!(n >= min)) throw new UsageError(`--${name} must be a number >= ${min}, got '${raw}'`);
    return { [name === "min-gain" ? "minGain" : name]: n };
  };
  const report = await pickVoices({
    modelDir: resolve(values.model ?? "models/default"), corpusDir: resolve(values.corpus), log, write: Boolean(values.write),
    ...(values.voices ? { voices: values.voices.split(",") } : {}),
    ...num("candidates", 1), ...num("sentences", 1), ...num("min-gain", 0),
  });
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + "\n");
  console.log(JSON.stringify(report));
}

class UsageError extends Error {}

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === "serve") await serve(rest);
    else if (cmd === "say") await say(rest);
    else if (cmd === "eval") await evaluate(rest);
    else if (cmd === "prepare") await prepare(rest);
    else if (cmd === "hash-key") {
      if (!rest[0]) throw new UsageError("hash-key needs the key");
      console.log(sha256Hex(rest[0]));
    }
    else if (cmd === "--help" || cmd === "-h" || cmd === "help") console.log(USAGE);
    else throw new UsageError(cmd ? `unknown command '${cmd}'` : "missing command");
  } catch (e) {
    // every argument-parsing error (unknown option, missing value, unexpected positional) is a usage error
    if (e instanceof UsageError || String((e as { code?: string }).code ?? "").startsWith("ERR_PARSE_ARGS_")) {
      console.error(`${(e as Error).message}\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    console.error(`soundstorm: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}

