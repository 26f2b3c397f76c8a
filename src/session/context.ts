/**
 * One synthesis context: text in (append/flush/end/cancel), audio out. Chunks
 * are synthesized strictly in order on a per-context work chain; audio is sent
 * as soon as each chunk's PCM exists. Model calls carry a deadline for the
 * scheduler: a first chunk's is when it was cut (due now), a later chunk's is when
 * the listener will have played everything generated so far. When the context
 * falls behind, chunks queued behind the one being synthesized are merged into
 * one (fewer, longer windows).
 */
import type { ChunkPolicy, ServerConfig } from "../config.js";
import { ServiceError } from "../errors.js";
import type { Metrics } from "../metrics.js";
import { createAudioOutput, type AudioOutput, type AudioPayload } from "../pipeline/opus/audio-output.js";
import { TextChunker, type TextChunk } from "../pipeline/text/chunker.js";
import { DecodeAborted } from "../pipeline/acoustic/maskgit.js";
import { encodeAudioMessage, FLAG_CHUNK_START, FLAG_FIRST, FLAG_LAST } from "../protocol/audio-header.js";
import type { LatencyProfile, OutputFormat, ServerEvent } from "../protocol/messages.js";
import type { ChunkSink, SpeechStream, Synthesizer } from "../synth/synthesizer.js";
import { playbackDeadline, systemClock, type Clock, type ClockTimer } from "./clock.js";
import { Pacer } from "./pacer.js";

/** Where a context's events go (the socket adapter implements it). */
export interface EventSink {
  sendJson(ev: ServerEvent): void;
  sendBinary(bytes: Uint8Array): void;
}

export interface ContextDeps {
  readonly synth: Synthesizer;
  readonly config: ServerConfig;
  readonly metrics: Metrics;
  readonly sink: EventSink;
  /** Called once when generation is over (done, cancelled or failed): its capacity can be reused. */
  readonly onIdle: (ctx: SynthesisContext) => void;
  /** Called once when everything queued for the client has been sent too: the context id is free. */
  readonly onClosed: (ctx: SynthesisContext) => void;
  /** Time for chunking deadlines, the listener's playback and pacing; the system clock by default
   * (an evaluation passes a ManualClock for repeatable chunk cuts). Compute times are always real. The
   * inference pool reads model calls' priorities (this clock's deadlines) as performance.now() ms, so a
   * context on another clock should have the pool to itself, as an evaluation turn does. */
  readonly clock?: Clock;
}

export interface ContextOptions {
  readonly id: string;
  readonly index: number;
  readonly voice: string;
  readonly format: OutputFormat;
  readonly latency: LatencyProfile;
  readonly seed: number;
  /** Speaking rate (durations divided by it); 1 is the voice's own pace. */
  readonly speed: number;
  /** realtime: audio at most config.pacing.leadMs ahead of real time; burst: as fast as generated. */
  readonly pacing: "realtime" | "burst";
}

type State = "open" | "ending" | "closed";
type Outcome = "completed" | "cancelled" | "failed";

export class SynthesisContext {
  readonly id: string;
  readonly index: number;
  private state: State = "open";
  /** How the context ended, counted once its last message is sent (a cancel during pacing changes it). */
  private outcome: Outcome = "completed";
  private readonly chunker: TextChunker;
  private readonly stream: SpeechStream;
  private readonly output: AudioOutput;
  private readonly abort = new AbortController();
  private readonly pacer: Pacer;
  /** Samples of the first audio messages, encoded and sent before the rest of the first window. */
  private readonly firstSamples: number;
  private work: Promise<void> = Promise.resolve();
  /** Chunks cut but not yet started, oldest first. */
  private readonly pending: { chunk: TextChunk; readyAt: number; holdable: boolean }[] = [];
  /** A chunk that may hold back its last word is being synthesized. */
  private holdInFlight = false;
  /** The last word of a mid-phrase chunk, made but held back by the stream (policy.holdLastWordMs): the next
   * chunk starts with it, or it is spoken on its own when the listener is about to run out. */
  private heldWord: Pick<TextChunk, "text" | "charOffset"> | null = null;
  private heldWordTimer: ClockTimer | null = null;
  private delayTimer: ClockTimer | null = null;
  /** When the text now buffered started waiting (clock ms): the deadlines run from it. */
  private waitingSince = 0;
  /** maxDelayMs has passed, but fewer than deadlineMinChars of words wait: they go once enough have come. */
  private overdue = false;
  private readonly clock: Clock;
  private textChars = 0;
  private seq = 0;
  /** Audio messages handed to the socket (a cancel drops those still queued in the pacer). */
  private framesSent = 0;
  private chunkStarted = false;
  private firstChunkReadyAt: number | null = null;
  private ttfaMs: number | null = null;
  /** When the first audio message went out: the listener's playback clock starts about then. */
  private firstSentAt: number | null = null;
  private audioSamples = 0;
  private codecFrames = 0;
  private generationMs = 0;
  private chunks = 0;

  constructor(private readonly opts: ContextOptions, private readonly deps: ContextDeps) {
    this.id = opts.id;
    this.index = opts.index;
    this.clock = deps.clock ?? systemClock;
    this.chunker = new TextChunker(deps.config.chunking[opts.latency]);
    this.stream = deps.synth.openStream(opts.voice, opts.seed);
    this.output = createAudioOutput(opts.format, deps.synth.manifest.audio.sample_rate,
      { bitrate: deps.config.opusBitrate, complexity: deps.config.opusComplexity, serial: (opts.index * 2654435761 + opts.seed) >>> 0 });
    this.pacer = new Pacer(deps.config.pacing.leadMs, 20, opts.pacing === "burst", this.clock);
    this.firstSamples = Math.round(deps.synth.manifest.audio.sample_rate * 0.04);
    deps.metrics.activeContexts.inc();
  }

  get closed(): boolean {
    return this.state === "closed";
  }

  /** Resolves once every chunk cut so far has been synthesized (the work chain is idle). */
  async settled(): Promise<void> {
    for (let w = this.work; ; w = this.work) {
      await w;
      if (w === this.work) return;
    }
  }

  /** Text appended so far (UTF-16 code units): what char_offset counts in. */
  get textLength(): number {
    return this.textChars;
  }

  /** Throws the error `append(text)` would, without appending. */
  checkAppend(text: string): void {
    this.requireOpen();
    const limit = this.deps.config.limits.maxTextCharsPerContext;
    if (this.textChars + text.length > limit) {
      throw new ServiceError("text_too_long", `context would hold ${this.textChars + text.length} characters, limit ${limit}`, this.id);
    }
  }

  append(text: string): void {
    this.checkAppend(text);
    this.textChars += text.length;
    const cut = this.chunker.push(text);
    this.enqueue(cut);
    // the deadline runs from when text started waiting, not from the latest piece; after a cut, the words
    // left over wait from now (no chunk was cut for maxDelayMs is the rule, not "text arrived maxDelayMs ago");
    // overdue words (a timer is then always pending) go as soon as there are enough of them
    if (this.chunker.pending === 0) this.clearDelayTimer();
    else if (!this.delayTimer || cut.length > 0) this.startWaiting();
    else if (this.overdue && this.chunker.completeWordChars >= this.policy.deadlineMinChars) this.deadlineCut(true);
  }

  flush(): void {
    this.requireOpen();
    this.clearDelayTimer();
    this.enqueue(this.chunker.flush());
    // a flush is a pause: no chunk waiting now holds its last word for text after it, a word held already is
    // spoken now if no chunk takes it, and the codec's held-back frames (right context) are sent
    for (const p of this.pending) p.holdable = false;
    this.queueRelease();
    this.work = this.work.then(() => this.sendHeldBack());
  }

  end(): void {
    this.requireOpen();
    this.clearDelayTimer();
    this.enqueue(this.chunker.flush());
    this.state = "ending";
    this.queueRelease();
    this.work = this.work.then(() => this.finish());
  }

  /** Stop all work; pending chunks are dropped, the current model pass is the last, and audio not yet sent
   * is dropped too. A context whose generation is over but whose audio is still being paced out is
   * cancelled as well: nothing more of it is sent, and its id is free at once. */
  cancel(reason: "client" | "disconnect" = "client"): void {
    if (this.closed && this.pacer.pending === 0) return;
    this.abort.abort();
    this.clearDelayTimer();
    this.clearHeldWordTimer();
    this.pacer.clear();
    this.close("cancelled");
    if (reason === "client") this.deps.sink.sendJson(this.doneEvent(true));
  }

  private requireOpen(): void {
    if (this.state !== "open") throw new ServiceError("context_ended", undefined, this.id);
  }

  private get policy(): ChunkPolicy {
    return this.deps.config.chunking[this.opts.latency];
  }

  /** The buffered text starts waiting now: its deadline is maxDelayMs away. */
  private startWaiting(): void {
    this.waitingSince = this.clock.now();
    this.armDelayTimer(this.policy.maxDelayMs);
  }

  private armDelayTimer(ms: number): void {
    this.clearDelayTimer();
    const { maxDelayMs, holdAheadMs, deadlineMinChars, deadlineMaxWaitMs } = this.policy;
    this.delayTimer = this.clock.setTimeout(() => {
      this.delayTimer = null;
      if (this.state !== "open") return;
      // the listener has plenty to play: cutting now would only make a short chunk; wait for a boundary
      if (holdAheadMs > 0 && this.aheadMs() > holdAheadMs) this.armDelayTimer(maxDelayMs);
      else if (!this.overdue && this.chunker.completeWordChars < deadlineMinChars) {
        // text still coming at about speaking pace: a word or two alone would be spoken without their phrase.
        // (The flag, not a comparison of times, ends the wait: fractional clock times could re-arm it at 0 ms.)
        const waited = this.clock.now() - this.waitingSince;
        if (waited >= deadlineMaxWaitMs) this.deadlineCut(true);
        else {
          this.armDelayTimer(deadlineMaxWaitMs - waited);
          this.overdue = true;
        }
      } else this.deadlineCut(this.overdue);
    }, ms, true);
  }

  /** The deadline's cut: the complete words buffered, less any kept back for the word after them. `slowText`: they
   * came at about speaking pace (fewer than deadlineMinChars at the deadline), so the next chunk will not come before
   * the listener needs this chunk's last word, and holding it back would only cost a window of its own. */
  private deadlineCut(slowText = false): void {
    this.clearDelayTimer();
    this.enqueue(this.chunker.flushWords(), !slowText);
    // words kept back for the word after them (a number, title, function word) go out at the next deadline if nothing follows
    if (this.chunker.holdsWholeWord) this.startWaiting();
  }

  /** Generated audio the listener has not played yet (ms); 0 before the first audio went out. */
  private aheadMs(): number {
    const now = this.clock.now();
    return this.deadline(now) - now;
  }

  private clearDelayTimer(): void {
    if (this.delayTimer) this.clock.clearTimeout(this.delayTimer);
    this.delayTimer = null;
    // the words waiting now are in a chunk or wait afresh
    this.overdue = false;
  }

  /** `mayHold`: a mid-phrase chunk among these may hold back its last word for the next (see process). */
  private enqueue(chunks: TextChunk[], mayHold = true): void {
    for (const chunk of chunks) {
      const readyAt = this.clock.now();
      if (this.firstChunkReadyAt === null) this.firstChunkReadyAt = readyAt;
      this.pending.push({ chunk, readyAt, holdable: mayHold && chunk.midPhrase === true });
      // one step per chunk; a step finds nothing to do when its chunk was merged into an earlier one
      this.work = this.work.then(() => this.processNext());
    }
  }

  private async processNext(): Promise<void> {
    await this.roomForAudio();
    const next = this.pending.shift();
    if (!next) return;
    let { chunk, holdable } = next;
    let merged = 1;
    // a held word is said again at the start of the chunk after it (the text's own spacing between them)
    const held = this.heldWord;
    if (held) {
      this.clearHeldWordTimer();
      this.heldWord = null;
      chunk = { ...chunk, ...joined(held, chunk) };
    }
    const co = this.deps.config.inference.coalesce;
    // never the first chunk: it is the one the listener is waiting for
    if (co.enabled && this.chunks > 0) {
      while (this.pending.length > 0) {
        const b = this.pending[0].chunk;
        const both = joined(chunk, b);
        if (b.charOffset < chunk.charOffset + chunk.text.length || both.text.length > co.maxChars) break;
        chunk = { index: chunk.index, ...both };
        ({ holdable } = this.pending.shift()!);
        merged++;
      }
    }
    await this.process(chunk, next.readyAt, merged, held ? "resume" : "chunk", holdable);
  }

  /** Speak a held word on its own, as it was made: no chunk came for it in time, or the text paused or ended. */
  private async releaseHeldWord(index: number): Promise<void> {
    const held = this.heldWord;
    if (!held || this.closed) return;
    this.clearHeldWordTimer();
    this.heldWord = null;
    await this.process({ text: held.text, charOffset: held.charOffset, index }, this.clock.now(), 1, "release");
  }

  /** Speak a word held back (or about to be, by the chunk being synthesized) after the work queued now, unless a chunk
   * queued by then takes it. Its chunk index is taken now, so a chunk cut later has a later one (an index left unused
   * when the word was taken or never held is a gap, as merged chunks leave). */
  private queueRelease(): void {
    if (this.pending.length > 0 || (!this.heldWord && !this.holdInFlight)) return;
    const index = this.chunker.nextIndex();
    this.work = this.work.then(() => this.releaseHeldWord(index));
  }

  /** Release the held word when the listener has less than holdLastWordMs of audio left, if no chunk took it by then. */
  private armHeldWordTimer(): void {
    this.clearHeldWordTimer();
    const wait = Math.max(0, this.aheadMs() - this.policy.holdLastWordMs);
    this.heldWordTimer = this.clock.setTimeout(() => {
      this.heldWordTimer = null;
      // a chunk already cut takes the word when its turn comes; otherwise it goes now, in order with the work
      if (this.state === "open") this.queueRelease();   // flush and end queue their own
    }, wait, true);
  }

  private clearHeldWordTimer(): void {
    if (this.heldWordTimer) this.clock.clearTimeout(this.heldWordTimer);
    this.heldWordTimer = null;
  }

  /** Realtime pacing: wait while more than pacing.maxQueuedMs of audio is waiting to be sent, so text that
   * arrives far faster than it is spoken is not all generated and held at once. Resolves early on cancel. */
  private async roomForAudio(): Promise<void> {
    const cap = this.deps.config.pacing.maxQueuedMs;
    if (this.opts.pacing === "burst" || !(cap > 0)) return;
    while (!this.closed && this.pacer.queuedMs > cap) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.clock.clearTimeout(timer);
          this.abort.signal.removeEventListener("abort", done);
          resolve();
        };
        const timer = this.clock.setTimeout(done, Math.max(20, this.pacer.queuedMs - cap));
        this.abort.signal.addEventListener("abort", done, { once: true });
      });
    }
  }

  /** `how`: a chunk as cut, one that starts with the word held back ("resume"), or the held word alone ("release").
   * `holdable`: cut mid-phrase from text arriving faster than it is spoken, so its last word may wait for the next chunk. */
  private async process(chunk: TextChunk, readyAt: number, merged: number, how: "chunk" | "resume" | "release", holdable = false): Promise<void> {
    if (this.closed) return;
    const started = this.clock.now();
    const computeStarted = performance.now();
    this.deps.metrics.queueWait.observe((started - readyAt) / 1000);
    let encodeMs = 0;
    let chunkAudio = false;
    // words and audio go out as the stream produces them (audio window by window), not at the chunk's end
    const sink: ChunkSink = {
      words: (words) => {
        if (this.closed || words.length === 0) return;
        const { hop_length, sample_rate } = this.deps.synth.manifest.audio;
        const baseMs = (this.codecFrames * hop_length * 1000) / sample_rate;  // frames of earlier chunks
        this.emitJson({
          type: "words", context_id: this.id, chunk_index: chunk.index,
          words: words.map((w) => ({
            word: w.word, start_ms: round(w.start_ms + baseMs), end_ms: round(w.end_ms + baseMs), char_offset: w.char_offset + chunk.charOffset,
          })),
        });
      },
      pcm: (pcm) => {
        if (this.closed) return;
        const t0 = performance.now();
        let own = pcm;
        if (!chunkAudio) {
          // a chunk's first PCM starts with the frames the codec held back from the chunk before: the
          // chunk-start flag goes on the frame where this chunk's own audio begins
          const hop = this.deps.synth.manifest.audio.hop_length;
          const held = Math.max(0, Math.min(pcm.length, this.codecFrames * hop - this.audioSamples));
          if (held > 0) this.sendPcm(pcm.subarray(0, held));
          own = pcm.subarray(held);
          if (own.length > 0) { this.chunkStarted = true; chunkAudio = true; }
        }
        if (own.length > 0) this.sendPcm(own);
        encodeMs += performance.now() - t0;
      },
    };
    let result;
    try {
      const policy = this.deps.config.chunking[this.opts.latency];
      const deadline = this.deadline(readyAt);
      // due soon: fewer passes (the listener is waiting); plenty of audio queued: the full schedule
      const slack = deadline - this.clock.now();
      const fast = this.chunks === 0 || slack < this.deps.config.inference.fastScheduleSlackMs;
      // a stream's second chunk with little audio left at the listener (its first chunk, "Sure,", is short):
      // first audio after a short window. Only the second: under overload every chunk is late, and an
      // extra window for each would add work exactly when there is none to spare.
      const urgent = this.chunks === 1 && slack < this.deps.config.inference.urgentSlackMs;
      const o = {
        signal: this.abort.signal, priority: deadline, sink, fast, urgent, speed: this.opts.speed,
        ...(policy.firstWindowFrames > 0 ? { firstWindowFrames: policy.firstWindowFrames } : {}),
      };
      // hold a mid-phrase chunk's last word for the text after it, unless the text already ended
      const hold = holdable && policy.holdLastWordMs > 0 && this.state === "open";
      this.holdInFlight = hold;
      result = how === "release" ? await this.stream.releaseHeld(o)
        : await this.stream.synthesize(chunk.text, { ...o, ...(hold ? { holdLastWord: true } : {}), ...(how === "resume" ? { resumesHeld: true } : {}) });
    } catch (e) {
      this.fail(e);
      return;
    } finally {
      this.holdInFlight = false;
    }
    if (this.closed) return;
    if (!result) {
      // in order with the context's audio, and naming the chunk skipped
      const err = new ServiceError("no_speakable_text", JSON.stringify(chunk.text.slice(0, 40)), this.id);
      this.deps.metrics.errors.inc({ code: err.code });
      this.emitJson({ ...err.toEvent(), chunk_index: chunk.index });
      return;
    }
    if (result.heldFrom !== undefined) {
      const at = result.heldFrom;
      this.heldWord = { text: chunk.text.slice(at), charOffset: chunk.charOffset + at };
      chunk = { ...chunk, text: chunk.text.slice(0, at).trimEnd() };
    }
    const elapsed = performance.now() - computeStarted;
    this.generationMs += elapsed;
    this.codecFrames += result.frames;
    this.chunks++;
    const { metrics, synth } = this.deps;
    const stages = { ...result.stages, encode_ms: encodeMs };
    for (const [k, v] of Object.entries(stages)) metrics.stage.observe({ stage: k.replace(/_ms$/, "") }, v / 1000);
    metrics.chunks.inc();
    const sr = synth.manifest.audio.sample_rate;
    this.emitJson({
      type: "chunk_metrics", context_id: this.id, chunk_index: chunk.index, text: chunk.text,
      phonemes: result.phonemes, codec_frames: result.frames,
      audio_ms: (result.frames * synth.manifest.audio.hop_length * 1000) / sr,
      queue_ms: round(started - readyAt), stages: roundAll(stages), soundstorm_passes: result.passes,
      ...(merged > 1 ? { merged_chunks: merged } : {}),
      ...(result.shedPasses > 0 ? { guidance_shed_passes: result.shedPasses } : {}),
      ...(result.shedLevels > 0 ? { levels_shed: result.shedLevels } : {}),
    });
    if (this.heldWord) this.armHeldWordTimer();
  }

  /** When this context's listener runs out of audio (clock ms): the scheduler's priority. */
  private deadline(readyAt: number): number {
    return playbackDeadline(this.chunks === 0 ? null : this.firstSentAt, this.audioSamples, this.deps.synth.manifest.audio.sample_rate, readyAt);
  }

  /** Decode and send the frames the codec holds back for right context (a failure closes the context). */
  private async sendHeldBack(): Promise<void> {
    if (this.closed) return;
    try {
      const held = await this.stream.flush({ signal: this.abort.signal, priority: this.deadline(this.clock.now()) });
      if (!this.closed) this.sendPcm(held);
    } catch (e) {
      this.fail(e);
    }
  }

  private async finish(): Promise<void> {
    await this.sendHeldBack();
    if (this.closed) return;
    this.sendPayloads(this.output.finish(), true);
    const { metrics } = this.deps;
    if (this.audioSamples > 0) metrics.rtf.observe(this.doneEvent(false).summary.rtf);
    // generation is over: release capacity now; the pacer still delivers the queued audio, then context_done
    // (its summary made when it goes out, so frames_sent counts what was sent)
    this.close("completed");
    this.pacer.push({ audio: false, send: () => this.deps.sink.sendJson(this.doneEvent(false)) });
  }

  private sendPcm(pcm: Float32Array): void {
    this.countAudio(pcm.length);
    // the very first frames are encoded and sent on their own: first audio does not wait for the rest
    const head = this.seq === 0 ? Math.min(pcm.length, this.firstSamples) : 0;
    if (head > 0) this.sendPayloads(this.output.push(pcm.subarray(0, head)), false);
    this.sendPayloads(this.output.push(head > 0 ? pcm.subarray(head) : pcm), false);
  }

  /** Audio is counted as generated (at the model rate), whatever the output format's rate. */
  private countAudio(samples: number): void {
    this.audioSamples += samples;
    this.deps.metrics.audioSeconds.inc(samples / this.deps.synth.manifest.audio.sample_rate);
  }

  /** JSON events of this context keep their order with its audio. */
  private emitJson(ev: ServerEvent): void {
    this.pacer.push({ audio: false, send: () => this.deps.sink.sendJson(ev) });
  }

  private sendPayloads(payloads: AudioPayload[], endOfStream: boolean): void {
    const info = this.output.info;
    payloads.forEach((p, i) => {
      if (this.seq === 0) {
        this.emitJson({
          type: "audio_start", context_id: this.id, context_index: this.index, format: this.opts.format,
          codec: info.codec, sample_rate: info.sampleRate, input_sample_rate: info.inputSampleRate,
          channels: 1, frame_ms: 20, pre_skip: info.preSkip,
        });
      }
      let flags = 0;
      if (this.seq === 0) flags |= FLAG_FIRST;
      if (this.chunkStarted) { flags |= FLAG_CHUNK_START; this.chunkStarted = false; }
      if (endOfStream && i === payloads.length - 1) flags |= FLAG_LAST;
      const msg = encodeAudioMessage({ contextIndex: this.index, seq: this.seq, timestamp48k: this.seq * info.frameDuration48k, flags }, p.bytes);
      const first = this.seq === 0;
      const hasAudio = p.samples > 0;
      this.pacer.push({
        audio: true,
        send: () => {
          this.deps.sink.sendBinary(msg);
          this.framesSent++;
          if (first) this.firstSentAt = this.clock.now();
          // time to first audio: the first frame that carries some (a context with nothing to say has none)
          if (hasAudio && this.ttfaMs === null && this.firstChunkReadyAt !== null) {
            this.ttfaMs = this.clock.now() - this.firstChunkReadyAt;
            this.deps.metrics.ttfa.observe(this.ttfaMs / 1000);
          }
        },
      });
      this.seq++;
    });

  }

  private doneEvent(cancelled: boolean): Extract<ServerEvent, { type: "context_done" }> {
    const sr = this.deps.synth.manifest.audio.sample_rate;
    const audioSeconds = this.audioSamples / sr;
    const genS = this.generationMs / 1000;
    return {
      type: "context_done", context_id: this.id, cancelled,
      summary: {
        ttfa_ms: this.ttfaMs === null ? null : round(this.ttfaMs),
        audio_seconds: round(audioSeconds, 4), audio_samples: this.audioSamples, codec_frames: this.codecFrames,
        generation_seconds: round(genS, 4), rtf: audioSeconds > 0 ? round(genS / audioSeconds, 4) : 0,
        chunks: this.chunks, frames_sent: this.framesSent,
      },
    };
  }

  /** Synthesis failed: text not yet synthesized is dropped, but audio already made still goes out, its stream
   * ended (last-frame flag, Ogg end of stream); the error follows it, in order. */
  private fail(e: unknown): void {
    if (e instanceof DecodeAborted || this.closed) return;
    const detail = e instanceof Error ? e.message : String(e);
    this.pending.length = 0;
    this.sendPayloads(this.output.finish(), true);
    const err = new ServiceError("inference_failed", detail, this.id);
    this.deps.metrics.errors.inc({ code: err.code });
    this.close("failed");
    this.emitJson(err.toEvent());
  }

  private close(outcome: Outcome): void {
    if (this.closed) {
      // generation was over and its audio still being paced out: the client sees a cancellation, so does the metric
      if (outcome === "cancelled") this.outcome = outcome;
      return;
    }
    this.state = "closed";
    this.outcome = outcome;
    this.clearDelayTimer();
    this.clearHeldWordTimer();
    this.output.dispose();
    this.deps.metrics.activeContexts.dec();
    this.deps.onIdle(this);
    void this.pacer.drained().then(() => {
      this.deps.metrics.contexts.inc({ outcome: this.outcome });
      this.deps.onClosed(this);
    });
  }
}

/** Two consecutive pieces of a context's text as one, with the text's own spacing between them, so word offsets stay
 * offsets into the context's text. */
function joined(a: Pick<TextChunk, "text" | "charOffset">, b: Pick<TextChunk, "text" | "charOffset">): Pick<TextChunk, "text" | "charOffset"> {
  const gap = Math.max(0, b.charOffset - (a.charOffset + a.text.length));
  return { charOffset: a.charOffset, text: a.text + " ".repeat(gap) + b.text };
}

function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function roundAll<T extends Record<string, number>>(o: T): T {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v)])) as T;
}
