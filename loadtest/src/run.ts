/**
 * The load test itself: sockets carrying up to K contexts each; every turn streams one paragraph at
 * LLM pace, then `end`, and measures what a listener would feel. Fixed concurrency (--streams) or
 * an open model (--rate: arrivals at a constant rate whatever the responses do).
 * Returns a plain result object; rendering (progress, JSON, HTML) is done elsewhere.
 */
import { OpusFrameDecoder } from "../../src/pipeline/opus/opus-decoder.js";
import { connect, DisconnectedError, type SoundstormClient, type SynthesisContext } from "../../src/sdk/node.js";
import { newHist, record, summarize, type Hist, type Summary } from "./histogram.js";
import { Playout } from "./playout.js";
import { chunkEndFromWords, sentAtOffset, textSentAt, tokenize } from "./text.js";

export interface LoadOptions {
  readonly url: string;
  readonly streams: number;
  readonly durationS: number;
  /** Turns started per second (open model); 0 = fixed concurrency of `streams`. */
  readonly rate: number;
  readonly rampS: number;
  readonly contextsPerSocket: number;
  readonly paragraphs: readonly string[];
  readonly tokensPerS: number;
  /** Relative jitter of the inter-token time (0.3 = +-30%). */
  readonly jitter: number;
  readonly jitterBufferMs: number;
  readonly voice?: string;
  readonly latency?: "low" | "balanced" | "quality";
  /** Fraction of turns cancelled mid-way (barge-in). */
  readonly cancelFraction: number;
  /** Per-turn limit; a turn that has not finished by then is counted as timed out. */
  readonly turnTimeoutS: number;
  /** Server pacing of each context (default: the server's, realtime); burst measures raw capacity. */
  readonly pacing?: "realtime" | "burst";
}

export interface TurnRecord {
  startedMs: number;
  concurrency: number;
  ttfaMs: number | null;
  ttfaServerMs: number | null;
  audioS: number;
  underruns: number;
  /** Each underrun's chunk and audio position in the turn. */
  underrunsAt?: { chunk: number; audioMs: number; ms: number }[];
  /** Per chunk after the first, how early its first frame arrived before it was due (ms). */
  chunkMarginsMs?: number[];
  /** The server's chunk_metrics of the turn's first chunks: where a late chunk's time went. */
  chunks?: ChunkTiming[];
  cancelled: boolean;
  /** Refused with at_capacity (admission control). */
  refused?: boolean;
  error: string | null;
}

/** A chunk_metrics event in brief. */
export interface ChunkTiming {
  chars: number;
  audio_ms: number;
  queue_ms: number;
  t2s_ms: number;
  soundstorm_ms: number;
  codec_ms: number;
  passes: number;
  /** Present when the server shed work on this chunk (load shedding): guided passes run alone, RVQ levels left out. */
  guidance_shed_passes?: number;
  levels_shed?: number;
}

/** Chunks per turn whose timings a record keeps. */
const CHUNKS_KEPT = 4;

export interface LoadResult {
  streams: number;
  duration_s: number;
  turns: number;
  completed: number;
  cancelled: number;
  /** Turns refused with at_capacity. */
  refused: number;
  timed_out: number;
  ttfa_ms: Summary;
  ttfa_server_ms: Summary;
  gap_ms: Summary;
  underruns: number;
  underrun_ms: number;
  rtf: number;
  audio_seconds: number;
  /** Error events the server sent. */
  errors: number;
  errors_by_code: Record<string, number>;
  /** Up to three distinct messages per error code. */
  error_messages: Record<string, string[]>;
  /** Failures seen only by the client (connect failures, dropped sockets, timeouts). */
  client_errors: Record<string, number>;
  decode_errors: number;
  max_concurrency: number;
  records: TurnRecord[];
  /** Raw inter-frame gaps (ms), for plots; capped at 200k samples. */
  gap_samples: number[];
}

export interface Progress {
  elapsedS: number;
  active: number;
  turns: number;
  ttfaP50: number;
  ttfaP95: number;
  underruns: number;
  errors: number;
}

/** A client (SDK) shared by up to K contexts; the SDK dispatches events and audio by context. */
class SharedSocket {
  client: SoundstormClient | null = null;
  readonly ready: Promise<void>;
  used = 0;
  closed = false;

  constructor(url: string, onOrphanError: (code: string, message?: string) => void) {
    // no reconnect: a dropped socket fails its turns (socket_closed) and later turns open a new one
    this.ready = connect({ url, reconnect: false }).then((c) => {
      this.client = c;
      c.on("error", (ev) => onOrphanError(ev.code, ev.message));
      c.on("disconnect", () => { this.closed = true; });
    });
  }

  close(): void {
    void this.client?.close();
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export async function runLoad(o: LoadOptions, onProgress?: (p: Progress) => void): Promise<LoadResult> {
  const ttfa = newHist(), ttfaServer = newHist(), gaps = newHist();
  const errorsByCode: Record<string, number> = {};
  const clientErrors: Record<string, number> = {};
  const countClient = (code: string) => { clientErrors[code] = (clientErrors[code] ?? 0) + 1; };
  const records: TurnRecord[] = [];
  const gapSamples: number[] = [];
  let underruns = 0, underrunMs = 0, genS = 0, audioS = 0, decodeErrors = 0, timedOut = 0;
  let active = 0, maxActive = 0, turnSeq = 0;
  const t0 = performance.now();
  const deadline = t0 + o.durationS * 1000;
  // the first few messages of each code: a rare server error must say what it was
  const errorSamples: Record<string, string[]> = {};
  const countError = (code: string, message?: string) => {
    errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
    const seen = (errorSamples[code] ??= []);
    if (message && seen.length < 3 && !seen.includes(message)) seen.push(message);
  };

  const sockets: SharedSocket[] = [];
  const socketFor = async (): Promise<SharedSocket> => {
    let s = sockets.find((x) => !x.closed && x.used < o.contextsPerSocket);
    if (!s) {
      s = new SharedSocket(o.url, countError);
      sockets.push(s);
    }
    s.used++;
    try {
      await s.ready;
    } catch (e) {
      s.used--;
      s.closed = true;
      throw e;
    }
    return s;
  };

  const turn = async (): Promise<void> => {
    const seq = turnSeq++;
    const id = `lt${seq}`;
    const text = o.paragraphs[seq % o.paragraphs.length];
    const tokens = tokenize(text);
    const cancelAt = Math.random() < o.cancelFraction ? Math.floor(tokens.length * (0.3 + 0.5 * Math.random())) : -1;
    const rec: TurnRecord = { startedMs: performance.now() - t0, concurrency: ++active, ttfaMs: null, ttfaServerMs: null, audioS: 0, underruns: 0, cancelled: false, error: null };
    maxActive = Math.max(maxActive, active);
    let sock: SharedSocket;
    try {
      sock = await socketFor();
    } catch {
      countClient("connect_failed");
      rec.error = "connect_failed";
      active--;
      records.push(rec);
      await sleep(100);
      return;
    }
    const playout = new Playout(o.jitterBufferMs);
    const decoder = new OpusFrameDecoder(48000);
    // client time to first audio runs from when the text of the server's first chunk had all been sent (however
    // the latency profile cut it: at a phrase end, past firstMinChars, or on the delay timer) to its first frame
    let sentText = "";
    const sentAt: { end: number; at: number }[] = [];
    let firstChunkSentAt: number | null = null;
    let firstAudioAt: number | null = null;
    const noteTtfa = () => {
      if (rec.ttfaMs !== null || firstAudioAt === null || firstChunkSentAt === null) return;
      rec.ttfaMs = Math.max(0, firstAudioAt - firstChunkSentAt);
      record(ttfa, rec.ttfaMs);
    };
    let ogg = false;
    let refused = false;
    let retryAfter = 0;
    let ctx: SynthesisContext | null = null;
    try {
      try {
        ctx = sock.client!.createContext({
          contextId: id, format: "opus", ...(o.voice ? { voice: o.voice } : {}), ...(o.latency ? { latency: o.latency } : {}),
          ...(o.pacing ? { pacing: o.pacing } : {}),
        });
      } catch {
        // the socket dropped between connecting and this turn
        countClient("socket_closed");
        rec.error = "socket_closed";
        return;
      }
      const c = ctx;
      c.on("audio_start", (ev) => { ogg = ev.format === "ogg_opus"; });
      // every server error about the context (the SDK also fails the context on the fatal ones)
      c.on("error", (ev) => {
        countError(ev.code, ev.message);
        rec.error = ev.code;
        if (ev.retry_after_ms !== undefined) retryAfter = ev.retry_after_ms;
      });
      // the first chunk's words come before its audio: where its text ended, even if the turn is cancelled
      // before the chunk's chunk_metrics (which follows its audio) arrives
      c.on("words", (ev) => {
        if (ev.chunk_index !== 0 || firstChunkSentAt !== null) return;
        const end = chunkEndFromWords(sentText, ev.words);
        if (end === null) return;
        firstChunkSentAt = sentAtOffset(sentAt, end);
        noteTtfa();
      });
      c.on("chunk_metrics", (m) => {
        if (firstChunkSentAt === null) {
          firstChunkSentAt = textSentAt(sentText, sentAt, m.text);
          noteTtfa();
        }
        rec.chunks ??= [];
        if (rec.chunks.length >= CHUNKS_KEPT) return;
        const r = (v: number) => Math.round(v);
        rec.chunks.push({
          chars: m.text.length, audio_ms: r(m.audio_ms), queue_ms: r(m.queue_ms), t2s_ms: r(m.stages.t2s_ms),
          soundstorm_ms: r(m.stages.soundstorm_ms), codec_ms: r(m.stages.codec_ms), passes: m.soundstorm_passes,
          ...(m.guidance_shed_passes ? { guidance_shed_passes: m.guidance_shed_passes } : {}),
          ...(m.levels_shed ? { levels_shed: m.levels_shed } : {}),
        });
      });
      c.on("audio", (f) => {
        const at = f.receivedAt;
        if (firstAudioAt === null) {
          firstAudioAt = at;
          noteTtfa();
        }
        playout.arrive(at, f.chunkStart);
        if (!ogg) {
          try { decoder.decode(f.payload); } catch { decodeErrors++; }
        }
      });
      const done = c.done.then((ev) => {
        rec.cancelled = ev.cancelled;
        if (ev.summary.ttfa_ms !== null) { rec.ttfaServerMs = ev.summary.ttfa_ms; record(ttfaServer, ev.summary.ttfa_ms); }
        rec.audioS = ev.summary.audio_seconds;
        audioS += ev.summary.audio_seconds;
        genS += ev.summary.generation_seconds;
      }, (e: unknown) => {
        if (e instanceof DisconnectedError) { countClient("socket_closed"); rec.error = "socket_closed"; }
        else refused = (e as { code?: string }).code === "at_capacity";
      });
      const interval = 1000 / o.tokensPerS;
      // wait for the context (one round trip) so a refused turn sends no text
      await c.created.catch(() => {});
      for (let i = 0; i < tokens.length && !c.finished; i++) {
        if (i === cancelAt) { c.cancel(); break; }
        c.append(tokens[i]);
        sentText += tokens[i];
        sentAt.push({ end: sentText.length, at: performance.now() });
        if (i < tokens.length - 1) await sleep(interval * (1 + o.jitter * (2 * Math.random() - 1)));
      }
      if (cancelAt < 0 && c.acceptsText) c.end();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<"timeout">((r) => { timer = setTimeout(() => r("timeout"), o.turnTimeoutS * 1000); });
      const outcome = await Promise.race([done.then(() => "done" as const), timeout]);
      clearTimeout(timer);
      if (outcome === "timeout") {
        timedOut++;
        countClient("timeout");
        rec.error = rec.error ?? "timeout";
        c.cancel();
      }
    } finally {
      if (playout.underruns > 0) ctx?.reportPlayback(playout.underruns, Math.round(playout.underrunMs));
      for (const g of playout.gaps) {
        record(gaps, g);
        if (gapSamples.length < 200_000) gapSamples.push(Math.round(g * 10) / 10);
      }
      rec.underruns = playout.underruns;
      if (playout.underrunsAt.length > 0) rec.underrunsAt = playout.underrunsAt;
      rec.chunkMarginsMs = playout.chunkMarginsMs.slice(1).map(Math.round);
      underruns += playout.underruns;
      underrunMs += playout.underrunMs;
      decoder.dispose();
      sock.used--;
      active--;
      rec.refused = refused;
      records.push(rec);
    }
    // a refused turn waits as told before its worker tries again
    if (refused) await sleep(retryAfter || 500);
  };

  const timer = setInterval(() => {
    const s = summarize(ttfa);
    onProgress?.({ elapsedS: (performance.now() - t0) / 1000, active, turns: records.length, ttfaP50: s.p50, ttfaP95: s.p95, underruns, errors: Object.values(errorsByCode).reduce((a, b) => a + b, 0) });
  }, 1000);

  const running = new Set<Promise<void>>();
  const launch = () => {
    const p = turn().catch(() => { countClient("client_exception"); });
    running.add(p);
    void p.finally(() => running.delete(p));
  };
  try {
    if (o.rate > 0) {
      // open model: arrivals on a fixed clock, ramping linearly to `rate` over rampS
      let next = t0;
      while (next < deadline) {
        await sleep(next - performance.now());
        launch();
        const el = (performance.now() - t0) / 1000;
        const r = o.rampS > 0 && el < o.rampS ? Math.max(o.rate * (el / o.rampS), o.rate / 20) : o.rate;
        next += 1000 / r;
      }
    } else {
      // fixed concurrency: each of `streams` workers runs turns back to back; the ramp staggers their starts
      const workers = Array.from({ length: o.streams }, async (_, w) => {
        await sleep(o.rampS > 0 ? (o.rampS * 1000 * w) / o.streams : 0);
        while (performance.now() < deadline) {
          // a failing turn backs off briefly so a dead server is not hammered in a tight loop
          await turn().catch(async () => { countClient("client_exception"); await sleep(100); });
        }
      });
      await Promise.all(workers);
    }
    await Promise.all(running);
  } finally {
    clearInterval(timer);
    for (const s of sockets) s.close();
  }
  const errors = Object.values(errorsByCode).reduce((a, b) => a + b, 0);
  return {
    streams: o.rate > 0 ? maxActive : o.streams,
    duration_s: Math.round((performance.now() - t0) / 100) / 10,
    turns: records.length,
    completed: records.filter((r) => !r.cancelled && r.error === null).length,
    cancelled: records.filter((r) => r.cancelled).length,
    refused: records.filter((r) => r.refused).length,
    timed_out: timedOut,
    ttfa_ms: summarize(ttfa),
    ttfa_server_ms: summarize(ttfaServer),
    gap_ms: summarize(gaps),
    underruns, underrun_ms: Math.round(underrunMs),
    rtf: audioS > 0 ? Math.round((genS / audioS) * 1000) / 1000 : 0,
    audio_seconds: Math.round(audioS * 1000) / 1000,
    errors, errors_by_code: errorsByCode, error_messages: errorSamples, client_errors: clientErrors, decode_errors: decodeErrors, max_concurrency: maxActive,
    records, gap_samples: gapSamples,
  };
}

export type { Hist };
