/**
 * The browser demo (GET /, markup in page.ts): streams the text box to a context word by word,
 * plays the audio as it comes (WebCodecs Opus, else raw PCM) through a small jitter buffer, shows
 * first-audio latency and real-time factor, and highlights the word being spoken from the `words`
 * events against the audio clock. Runs in the browser only; it loads the SDK as an ES module.
 * `window.soundstormDemo` exposes counters for the end-to-end test.
 */
import { SoundstormClient, type AudioFrame, type ContextDone, type SynthesisContext, type Words } from "../sdk/client.js";
import { chunkEnd, PlayoutClock, PlayoutGate, segments, SendLog, wordIndexAt, type TimedWord } from "./timeline.js";

interface DemoStats {
  state: "connecting" | "open" | "reconnecting" | "closed" | "failed";
  decoder: "webcodecs-opus" | "pcm" | null;
  framesReceived: number;
  /** Times a word became the highlighted one. */
  wordsHighlighted: number;
  highlighted: string[];
  contexts: number;
  contextsDone: number;
  underruns: number;
  latencyMs: number | null;
  heardMs: number | null;
  ttfaMs: number | null;
  rtf: number | null;
  errors: string[];
}

declare global {
  interface Window { soundstormDemo: DemoStats }
}

const stats: DemoStats = {
  state: "connecting", decoder: null, framesReceived: 0, wordsHighlighted: 0, highlighted: [], contexts: 0, contextsDone: 0,
  underruns: 0, latencyMs: null, heardMs: null, ttfaMs: null, rtf: null, errors: [],
};
window.soundstormDemo = stats;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  key: $<HTMLInputElement>("key"), status: $("status"),
  voice: $<HTMLSelectElement>("voice"), latency: $<HTMLSelectElement>("latency"), jitter: $<HTMLInputElement>("jitter"),
  decoder: $("decoder"), text: $<HTMLTextAreaElement>("text"), speak: $<HTMLButtonElement>("speak"), stop: $<HTMLButtonElement>("stop"),
  model: $("model"), transcript: $("transcript"), log: $("log"),
  latencyV: $("m-latency"), heardV: $("m-heard"), ttfaV: $("m-ttfa"), rtfV: $("m-rtf"), audioV: $("m-audio"),
  framesV: $("m-frames"), underrunsV: $("m-underruns"), rttV: $("m-rtt"),
};

function log(msg: string): void {
  ui.log.textContent = `${new Date().toLocaleTimeString()} ${msg}\n${ui.log.textContent ?? ""}`.slice(0, 8000);
}

function setStatus(text: string, kind: "ok" | "bad" | "" = ""): void {
  ui.status.textContent = text;
  ui.status.className = kind;
}

// ---- audio -------------------------------------------------------------------

let audio: AudioContext | null = null;
/** Creates or resumes the AudioContext (browsers want a user gesture; every input handler calls this). */
function ensureAudio(): AudioContext {
  if (!audio) audio = new AudioContext({ sampleRate: 48000, latencyHint: "interactive" });
  if (audio.state === "suspended") void audio.resume();
  return audio;
}

/** The audio clock as heard: the context time now reaching the speakers. */
function heardTime(ac: AudioContext): number {
  const ts = ac.getOutputTimestamp?.();
  return ts?.contextTime !== undefined && ts.contextTime > 0 ? ts.contextTime : ac.currentTime - (ac.outputLatency || 0);
}

const OPUS_CONFIG = { codec: "opus", sampleRate: 48000, numberOfChannels: 1 };
const forcePcm = new URLSearchParams(location.search).get("decoder") === "pcm";

async function pickDecoder(): Promise<DemoStats["decoder"]> {
  if (forcePcm || typeof AudioDecoder === "undefined") return "pcm";
  try {
    const s = await AudioDecoder.isConfigSupported(OPUS_CONFIG);
    return s.supported ? "webcodecs-opus" : "pcm";
  } catch {
    return "pcm";
  }
}

// ---- one utterance -------------------------------------------------------------

/** End of the audio scheduled by all utterances so far (the next one starts after it). */
let playEnd = 0;

class Utterance {
  readonly clock: PlayoutClock;
  readonly sends = new SendLog();
  readonly words: TimedWord[] = [];
  readonly el: HTMLParagraphElement;
  private spans: HTMLSpanElement[] = [];
  private current = -1;
  private counted = -1;
  private stopped = false;
  private decoder: AudioDecoder | null = null;
  private preSkip = 0;
  private pcmRate = 0;
  private readonly sources = new Set<AudioBufferSourceNode>();
  private firstAudio = false;
  private chunk0: Words | null = null;
  done = false;
  /** Settles once all of this utterance's audio is scheduled (decoded and queued), or it failed or was stopped. */
  readonly settled: Promise<void>;
  private settle!: () => void;
  private readonly gate: PlayoutGate<{ pcm: Float32Array<ArrayBuffer>; rate: number }>;

  constructor(readonly ctx: SynthesisContext, jitterMs: number, previous: Utterance | null) {
    this.clock = new PlayoutClock(jitterMs / 1000);
    this.settled = new Promise<void>((r) => { this.settle = r; });
    this.gate = new PlayoutGate(previous?.settled ?? null, ({ pcm, rate }) => this.playNow(pcm, rate));
    this.el = document.createElement("p");
    ui.transcript.prepend(this.el);
    ctx.on("audio_start", (ev) => {
      if (ev.codec === "opus") {
        this.preSkip = ev.pre_skip;
        this.decoder = new AudioDecoder({
          output: (data) => this.decoded(data),
          error: (e) => { stats.errors.push(`decoder: ${e.message}`); log(`decoder error: ${e.message}`); },
        });
        this.decoder.configure(OPUS_CONFIG);
      } else {
        this.pcmRate = ev.sample_rate;
      }
    });
    ctx.on("words", (ev) => {
      if (ev.chunk_index === 0) this.chunk0 = ev;
      this.words.push(...ev.words);
      this.words.sort((a, b) => a.start_ms - b.start_ms);
      this.render();
    });
    ctx.on("audio", (f) => this.frame(f));
    ctx.on("error", (ev) => { log(`${ctx.id}: ${ev.code}: ${ev.message}`); if (ev.code !== "no_speakable_text") stats.errors.push(ev.code); });
    ctx.done.then((ev) => this.finished(ev), async (e: Error) => {
      this.done = true;
      log(`${ctx.id} failed: ${e.message}`);
      // audio sent before an inference failure is still being decoded: let it out before closing
      await this.closeDecoder();
      this.settle();
    });
  }

  append(text: string, at: number): void {
    this.ctx.append(text);
    this.sends.record("append", this.ctx.text.length, at);
    this.render();
  }

  end(at: number): void {
    this.ctx.end();
    this.sends.record("end", this.ctx.text.length, at);
  }

  /** Stop: the context if it still runs, and its sound, also what is already scheduled; its words unlit. */
  cancel(): void {
    if (!this.done) this.ctx.cancel();
    this.stopped = true;
    for (const s of this.sources) { try { s.stop(); } catch { /* not started */ } }
    this.sources.clear();
    this.mark(-1);
    playEnd = audio?.currentTime ?? 0;
    this.settle();
  }

  private async closeDecoder(): Promise<void> {
    if (!this.decoder || this.decoder.state === "closed") return;
    try { await this.decoder.flush(); } catch { /* closed */ }
    // (flush may have failed because the decoder was closed meanwhile)
    if ((this.decoder.state as string) !== "closed") this.decoder.close();
  }

  private frame(f: AudioFrame): void {
    stats.framesReceived++;
    ui.framesV.textContent = String(stats.framesReceived);
    if (!this.firstAudio) {
      this.firstAudio = true;
      // from the send that completed the first chunk (its words say where it ends) to this frame
      const from = this.chunk0 && this.chunk0.words.length > 0
        ? this.sends.completedAt(chunkEnd(this.chunk0.words)) : this.sends.lastBefore(f.receivedAt);
      if (from !== null) {
        stats.latencyMs = Math.round(f.receivedAt - from);
        ui.latencyV.textContent = String(stats.latencyMs);
        this.keystrokeAt = from;
      }
    }
    if (this.decoder) {
      this.decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: Math.round((f.timestamp48k * 1000) / 48), data: f.payload }));
    } else if (this.pcmRate > 0) {
      const dv = new DataView(f.payload.buffer, f.payload.byteOffset, f.payload.byteLength);
      const pcm = new Float32Array(f.payload.byteLength >> 1);
      for (let i = 0; i < pcm.length; i++) pcm[i] = dv.getInt16(i * 2, true) / 32768;
      this.play(pcm, this.pcmRate);
    }
  }

  private keystrokeAt: number | null = null;

  private decoded(data: AudioData): void {
    let pcm = new Float32Array(data.numberOfFrames);
    data.copyTo(pcm, { planeIndex: 0, format: "f32-planar" });
    data.close();
    if (this.preSkip > 0) {
      const drop = Math.min(this.preSkip, pcm.length);
      this.preSkip -= drop;
      pcm = pcm.subarray(drop);
    }
    this.play(pcm, 48000);
  }

  private play(pcm: Float32Array<ArrayBuffer>, rate: number): void {
    if (pcm.length > 0 && !this.stopped) this.gate.push({ pcm, rate });
  }

  private playNow(pcm: Float32Array<ArrayBuffer>, rate: number): void {
    if (this.stopped) return;
    const ac = ensureAudio();
    const first = this.clock.origin === null;
    const before = this.clock.underruns;
    const start = this.clock.schedule(ac.currentTime, pcm.length / rate, playEnd);
    if (this.clock.underruns > before) { stats.underruns++; ui.underrunsV.textContent = String(stats.underruns); }
    playEnd = this.clock.end;
    const buf = ac.createBuffer(1, pcm.length, rate);
    buf.copyToChannel(pcm, 0);
    const src = ac.createBufferSource();
    src.buffer = buf;
    src.connect(ac.destination);
    src.start(start);
    this.sources.add(src);
    src.onended = () => this.sources.delete(src);
    if (first && this.keystrokeAt !== null) {
      // when sample 0 reaches the speakers, on the performance.now() clock
      const ts = ac.getOutputTimestamp?.();
      const perfNow = ts?.performanceTime ?? performance.now();
      const ctxNow = ts?.contextTime ?? ac.currentTime;
      stats.heardMs = Math.round(perfNow + (start - ctxNow) * 1000 - this.keystrokeAt);
      ui.heardV.textContent = String(stats.heardMs);
    }
  }

  private async finished(ev: ContextDone): Promise<void> {
    this.done = true;
    stats.contextsDone++;
    const s = ev.summary;
    stats.ttfaMs = s.ttfa_ms;
    stats.rtf = s.rtf;
    ui.ttfaV.textContent = s.ttfa_ms === null ? "–" : s.ttfa_ms.toFixed(0);
    ui.rtfV.textContent = s.rtf.toFixed(3);
    ui.audioV.textContent = s.audio_seconds.toFixed(2);
    log(`${this.ctx.id} done${ev.cancelled ? " (cancelled)" : ""}: ${s.audio_seconds.toFixed(2)} s of audio, ${s.chunks} chunks, ttfa ${s.ttfa_ms ?? "–"} ms, rtf ${s.rtf.toFixed(3)}`);
    await this.closeDecoder();
    this.settle();
    if (this.clock.underruns > 0) this.ctx.reportPlayback(this.clock.underruns, Math.round(this.clock.underrunMs));
  }

  /** The context's text with its timed words as spans. */
  render(): void {
    this.el.textContent = "";
    this.spans = [];
    for (const seg of segments(this.ctx.text, this.words)) {
      if (seg.word < 0) { this.el.append(seg.text); continue; }
      const span = document.createElement("span");
      span.className = "w";
      span.textContent = seg.text;
      span.dataset.word = String(seg.word);
      this.spans[seg.word] = span;
      this.el.append(span);
    }
    this.current = -1;
  }

  /** Marks the word being heard now; true while this utterance's audio is playing. */
  highlight(now: number): boolean {
    if (this.stopped) return false;
    const pos = this.clock.positionMs(now);
    if (pos === null || pos < 0 || now > this.clock.end + 0.05) {
      if (this.current >= 0 && pos !== null && now > this.clock.end) this.mark(-1);
      return false;
    }
    this.mark(wordIndexAt(this.words, pos), pos);
    return true;
  }

  private mark(i: number, pos = Infinity): void {
    if (i === this.current) return;
    this.current = i;
    this.words.forEach((w, j) => {
      const span = this.spans[j];
      if (!span) return;
      span.classList.toggle("speaking", j === i);
      span.classList.toggle("spoken", j !== i && w.end_ms <= pos);
    });
    if (i >= 0 && i !== this.counted) {
      this.counted = i;
      stats.wordsHighlighted++;
      stats.highlighted.push(this.words[i].word);
      if (stats.highlighted.length > 50) stats.highlighted.shift();
    }
  }
}

// ---- the session ------------------------------------------------------------------

let client: SoundstormClient | null = null;
let current: Utterance | null = null;
const utterances: Utterance[] = [];
/** Characters of the text box already sent to the current utterance. */
let sentLen = 0;

function setEnabled(on: boolean): void {
  for (const el of [ui.voice, ui.text, ui.speak, ui.stop]) el.disabled = !on;
}

async function explainRefusal(key: string): Promise<string> {
  // a refused upgrade hides its HTTP status from scripts; the same check on an HTTP route shows it
  try {
    const r = await fetch("/v1/voices", { headers: key ? { "x-api-key": key } : {} });
    if (r.status === 401) return key ? "the API key was refused" : "this server needs an API key";
    if (r.status === 403) return "no API keys are configured, so this server accepts loopback clients only";
    if (r.status === 503) return "the server is loading its models or shutting down";
  } catch { /* fall through */ }
  return "could not connect";
}

async function connectNow(): Promise<void> {
  await client?.close();
  client = null;
  setEnabled(false);
  stats.state = "connecting";
  setStatus("connecting…");
  const key = ui.key.value.trim();
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream`;
  const decoder = await pickDecoder();
  stats.decoder = decoder;
  ui.decoder.textContent = decoder === "webcodecs-opus" ? "audio: Opus via WebCodecs" : "audio: raw PCM (24 kHz)";
  try {
    client = await SoundstormClient.connect({ url, ...(key ? { apiKey: key } : {}) });
  } catch (e) {
    stats.state = "failed";
    const why = await explainRefusal(key);
    setStatus(`not connected: ${why}`, "bad");
    log((e as Error).message);
    return;
  }
  const c = client;
  const hello = c.hello;
  ui.voice.textContent = "";
  for (const v of hello.voices) {
    const o = document.createElement("option");
    o.value = o.textContent = v;
    if (v === hello.default_voice) o.selected = true;
    ui.voice.append(o);
  }
  ui.model.textContent = `model ${hello.model}${hello.model_kind === "fixture" ? " (random-weight fixture: it speaks noise)" : ""}`;
  stats.state = "open";
  setStatus("connected", "ok");
  setEnabled(true);
  c.on("disconnect", (d) => {
    stats.state = d.willReconnect ? "reconnecting" : "closed";
    setStatus(d.willReconnect ? `disconnected (${d.code}), reconnecting…` : `disconnected (${d.code})`, "bad");
    setEnabled(false);
    // the open utterance failed (the SDK does not replay it): what the box holds now is not sent again
    current = null;
    sentLen = ui.text.value.length;
  });
  c.on("reconnected", () => { stats.state = "open"; setStatus("connected again", "ok"); setEnabled(true); });
  c.on("close", (ev) => { if (c === client) { stats.state = "closed"; setStatus(`closed${ev.error ? `: ${ev.error.message}` : ""}`, "bad"); } });
  c.on("error", (ev) => { stats.errors.push(ev.code); log(`${ev.code}: ${ev.message}`); });
  void c.ping().then(({ rttMs }) => { ui.rttV.textContent = rttMs.toFixed(1); }, () => {});
}

function utterance(): Utterance | null {
  if (current && current.ctx.acceptsText) return current;
  if (!client || client.state !== "open") return null;
  ensureAudio();
  const ctx = client.createContext({
    voice: ui.voice.value || undefined,
    format: stats.decoder === "webcodecs-opus" ? "opus" : "pcm_24000",
    latency: ui.latency.value as "low" | "balanced" | "quality",
    pacing: "realtime",
  });
  stats.contexts++;
  current = new Utterance(ctx, Math.max(0, Number(ui.jitter.value) || 0), utterances.at(-1) ?? null);
  utterances.push(current);
  if (utterances.length > 20) utterances.shift()?.el.remove();
  return current;
}

/** Sends the text box's complete words (up to its last whitespace) that were not sent yet. */
function sendWords(at: number, all = false): void {
  const v = ui.text.value;
  if (v.length < sentLen) sentLen = v.length; // deleted text was already said; go on from here
  const pending = v.slice(sentLen);
  const cut = all ? pending.length : Math.max(pending.lastIndexOf(" "), pending.lastIndexOf("\n"), pending.lastIndexOf("\t")) + 1;
  if (cut <= 0 || pending.slice(0, cut).trim() === "" && !all) return;
  const u = utterance();
  if (!u) return;
  u.append(pending.slice(0, cut), at);
  sentLen += cut;
}

function finish(at: number): void {
  sendWords(at, true);
  if (current && current.ctx.acceptsText) current.end(at);
  current = null;
  ui.text.value = "";
  sentLen = 0;
}

ui.text.addEventListener("input", (ev) => { ensureAudio(); sendWords(ev.timeStamp); });
ui.text.addEventListener("keydown", (ev) => {
  ensureAudio();
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); finish(ev.timeStamp); }
});
ui.speak.addEventListener("click", (ev) => { ensureAudio(); finish(ev.timeStamp); ui.text.focus(); });
ui.stop.addEventListener("click", () => {
  for (const u of utterances) u.cancel();
  current = null;
  ui.text.value = "";
  sentLen = 0;
});
$<HTMLFormElement>("auth").addEventListener("submit", (ev) => { ev.preventDefault(); ensureAudio(); void connectNow(); });

// the highlight follows the audio clock
setInterval(() => {
  if (!audio) return;
  const now = heardTime(audio);
  for (const u of utterances) u.highlight(now);
}, 25);

void connectNow();
