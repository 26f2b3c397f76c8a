/**
 * The inference scheduler: one per process, shared by every context. Model calls from all contexts
 * (text-to-semantic, SoundStorm passes, codec) wait in one priority queue and run on worker threads
 * that own the onnxruntime sessions, so the event loop never blocks on a model and the machine's
 * cores are used by design rather than by accident.
 *
 * - Priority: lower first, FIFO among equals. Contexts pass deadlines (when their listener runs out of
 *   audio; a first chunk's is when it was cut), so this is earliest-deadline-first. Each SoundStorm
 *   pass is its own job, so a long context yields to a more urgent one after at most one pass.
 * - Dynamic batching: when a worker frees up and the next job is a SoundStorm pass, other queued
 *   passes join it (up to maxBatch rows and maxBatchFrames padded frames, and no more than a fair
 *   share when several workers are free) in one call; a pass whose deadline is not near waits at
 *   most maxWaitMs for company.
 * - Cancel: a job whose signal aborted is dropped before it runs (DecodeAborted).
 */
import { Worker } from "node:worker_threads";
import { cutOf, packPasses, splitLogits, type PassRequest } from "./batch.js";
import type { PromptTokens } from "./prompt-cache.js";
import type { FromWorker, ToWorker, WorkerInit } from "./worker-messages.js";
import { graphSpecFor, servingManifest, type GraphName, type Manifest } from "../models/manifest.js";
import type { GraphRunner, RunOptions, TensorValue } from "../models/ort.js";
import { DecodeAborted } from "../pipeline/acoustic/maskgit.js";
import type { PassRunner } from "../pipeline/acoustic/soundstorm.js";

/** A job due within this many ms never waits for a batch to fill. */
const URGENT_MS = 500;

export interface BatchingOptions {
  /** Off: one SoundStorm pass per model call. */
  readonly enabled: boolean;
  readonly maxBatch: number;
  /** Rows x longest window, in frames: bounds one call's time (and so how long a first chunk can wait). */
  readonly maxBatchFrames: number;
  readonly maxWaitMs: number;
}

export interface PoolOptions {
  readonly modelDir: string;
  readonly graphs: readonly GraphName[];
  readonly workers: number;
  readonly intraOpThreads: number;
  readonly batching: BatchingOptions;
  /** Voice prompts each worker prepares SoundStorm states for before serving (others: on first use). */
  readonly prompts?: readonly PromptTokens[];
  /** After every call: graph, seconds inside onnxruntime, rows. */
  readonly onRun?: (graph: string, seconds: number, batch: number) => void;
}

interface Job {
  readonly seq: number;
  readonly priority: number;
  readonly enqueuedAt: number;
  readonly signal?: AbortSignal;
  readonly graph: GraphName;
  /** A plain run's voice: the worker runs that voice's own variant of the graph where there is one. */
  readonly voice?: string;
  /** Either a plain run (feeds) or a SoundStorm pass. */
  readonly feeds?: Record<string, TensorValue>;
  readonly pass?: PassRequest;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

interface Slot {
  worker: Worker;
  busy: Job[] | null;
  id: number;
}

/** How long close() waits for running calls (one call is at most a window's pass or a codec push). */
const CLOSE_WAIT_MS = 10_000;

export class InferencePool {
  private readonly queue: Job[] = [];
  private readonly slots: Slot[] = [];
  private seq = 0;
  private nextId = 1;
  private pumpScheduled = false;
  private waitTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Replacement workers starting now. */
  private starting = 0;
  /** Pending retries of a replacement that failed to start. */
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly levels: number;
  private readonly maskId: number;
  private readonly codebook: number;

  private constructor(private readonly manifest: Manifest, private readonly opts: PoolOptions) {
    this.levels = manifest.codec.levels;
    this.maskId = servingManifest(manifest).soundstorm.mask_id;
    this.codebook = manifest.codec.codebook_size;
  }

  /** Start the workers and load the graphs in each; resolves when all are ready. */
  static async start(manifest: Manifest, opts: PoolOptions): Promise<InferencePool> {
    const pool = new InferencePool(manifest, opts);
    try {
      await Promise.all(Array.from({ length: Math.max(1, opts.workers) }, () => pool.spawn()));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** A runner for one graph (for streams in `voice`: its own variant where the model has one) whose calls go through the queue. */
  graph(name: GraphName, voice?: string): GraphRunner {
    const spec = graphSpecFor(this.manifest, name, voice);
    if (!spec) throw new Error(`model has no '${name}' graph`);
    // the worker picks the voice's own graph where there is one (ModelSet.graphFor), so the voice just travels along
    const own = voice !== undefined ? { voice } : {};
    return {
      name, spec,
      run: (feeds, o) => this.submit<Record<string, TensorValue>>(name, o, { feeds: feeds as Record<string, TensorValue>, ...own }),
    };
  }

  /** SoundStorm passes, batched across contexts. */
  readonly passRunner: PassRunner = (req, o) => this.submit<Float32Array>("soundstorm", o, { pass: req });

  /** Jobs waiting, and calls running now. */
  get load(): { queued: number; running: number } {
    return { queued: this.queue.length, running: this.slots.filter((s) => s.busy).length };
  }

  /** False while no worker is running or starting (every one crashed and a replacement failed to start):
   * calls fail at once then, rather than waiting for a worker that may never come. */
  get healthy(): boolean {
    return this.slots.length > 0 || this.starting > 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.waitTimer) clearTimeout(this.waitTimer);
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    for (const j of this.queue.splice(0)) j.reject(new Error("inference pool closed"));
    // a worker terminated mid-call can abort the whole process (onnxruntime's run completes into a
    // torn-down environment: "terminate called after throwing Napi::Error"), so calls running now finish first
    const deadline = performance.now() + CLOSE_WAIT_MS;
    while (this.slots.some((s) => s.busy) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private submit<T>(graph: GraphName, o: RunOptions | undefined, what: { feeds?: Record<string, TensorValue>; pass?: PassRequest; voice?: string }): Promise<T> {
    if (this.closed) return Promise.reject(new Error("inference pool closed"));
    if (o?.signal?.aborted) return Promise.reject(new DecodeAborted());
    if (!this.healthy) return Promise.reject(new Error("no inference worker is running (replacements failed to start; retrying)"));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        seq: this.seq++, priority: o?.priority ?? performance.now(), enqueuedAt: performance.now(), graph, ...what,
        ...(o?.signal ? { signal: o.signal } : {}), resolve: resolve as (v: unknown) => void, reject,
      });
      this.schedulePump();
    });
  }

  /** Pump after the current microtasks: contexts resumed by one result all re-submit first, and batch together. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    for (;;) {
      const slot = this.slots.find((s) => !s.busy);
      if (!slot || this.closed) return;
      this.dropAborted();
      if (this.queue.length === 0) return;
      this.queue.sort((a, b) => a.priority - b.priority || a.seq - b.seq);
      const head = this.queue[0];
      if (!head.pass) {
        this.queue.shift();
        this.send(slot, [head]);
        continue;
      }
      const b = this.opts.batching;
      // with several workers free, share the queued passes out rather than piling them on one
      const free = this.slots.filter((s) => !s.busy).length;
      const passes = this.queue.reduce((n, j) => n + (j.pass ? 1 : 0), 0);
      const rows = b.enabled ? Math.max(1, Math.min(b.maxBatch, Math.ceil(passes / free))) : 1;
      const batch = this.passBatch(rows, b.enabled ? b.maxBatchFrames : 0, head);
      // a pass whose deadline is not near, alone, waits briefly for passes of other contexts still sampling
      const now = performance.now();
      if (b.enabled && batch.length === passes && batch.length < b.maxBatch && head.priority > now + URGENT_MS && now - head.enqueuedAt < b.maxWaitMs) {
        if (!this.waitTimer) {
          this.waitTimer = setTimeout(() => { this.waitTimer = null; this.pump(); }, Math.max(0, b.maxWaitMs - (now - head.enqueuedAt)));
        }
        return;
      }
      const taken = new Set(batch);
      for (let i = this.queue.length - 1; i >= 0; i--) if (taken.has(this.queue[i])) this.queue.splice(i, 1);
      this.send(slot, batch);
    }
  }

  /**
   * The queued passes that batch with `head` (deadline order), within the row and padded-frame limits. Not past
   * a queued call of another kind (a codec or text-to-semantic call due earlier would wait for the whole batch),
   * and an urgent head is not padded out to a much longer pass that is not urgent.
   */
  private passBatch(maxBatch: number, maxFrames: number, head: Job): Job[] {
    const out: Job[] = [head];
    let longest = head.pass!.semantic.length;
    const urgentBy = performance.now() + URGENT_MS;
    for (const j of this.queue) {
      if (out.length >= maxBatch) break;
      if (j === head) continue;
      if (!j.pass) break;
      if (head.priority <= urgentBy && j.priority > urgentBy && j.pass.semantic.length > 2 * longest) continue;
      const t = Math.max(longest, j.pass.semantic.length);
      if ((out.length + 1) * t > maxFrames) continue;
      out.push(j);
      longest = t;
    }
    return out;
  }

  private dropAborted(): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const j = this.queue[i];
      if (j.signal?.aborted) {
        this.queue.splice(i, 1);
        j.reject(new DecodeAborted());
      }
    }
  }

  private send(slot: Slot, jobs: Job[]): void {
    slot.busy = jobs;
    const id = (slot.id = this.nextId++);
    const head = jobs[0];
    if (head.pass) {
      const reqs = jobs.map((j) => j.pass!);
      let feeds;
      try {
        feeds = packPasses(reqs, this.levels, this.maskId);
      } catch (e) {
        // a malformed request fails its own call, not the process (this runs in the pump, outside any caller);
        // its batch-mates go back to the queue
        slot.busy = null;
        const good = jobs.filter((j) => {
          try { packPasses([j.pass!], this.levels, this.maskId); return true; } catch (err) { j.reject(err); return false; }
        });
        if (good.length === jobs.length) for (const j of jobs) j.reject(e);
        else this.queue.unshift(...good);
        this.schedulePump();
        return;
      }
      const msg: ToWorker = { type: "passes", id, graph: head.graph, feeds, prompts: reqs.map((r) => r.prompt), cuts: reqs.map(cutOf) };
      slot.worker.postMessage(msg, Object.values(feeds).map((v) => v.data.buffer as ArrayBuffer));
    } else {
      slot.worker.postMessage({ type: "run", id, graph: head.graph, ...(head.voice !== undefined ? { voice: head.voice } : {}), feeds: head.feeds! } satisfies ToWorker);
    }
  }

  private onMessage(slot: Slot, msg: FromWorker): void {
    const jobs = slot.busy;
    if (!jobs || !("id" in msg) || msg.id !== slot.id) return;
    slot.busy = null;
    if (msg.type === "error") {
      for (const j of jobs) j.reject(new Error(`graph '${jobs[0].graph}': ${msg.message}`));
    } else if (msg.type === "logits") {
      this.opts.onRun?.(jobs[0].graph, msg.seconds, jobs.length);
      const parts = splitLogits(msg.logits, jobs.map((j) => cutOf(j.pass!)), this.codebook);
      jobs.forEach((j, i) => j.resolve(parts[i]));
    } else if (msg.type === "result") {
      this.opts.onRun?.(jobs[0].graph, msg.seconds, 1);
      jobs[0].resolve(msg.outputs);
    }
    this.schedulePump();
  }

  private spawn(): Promise<void> {
    const init: WorkerInit = {
      modelDir: this.opts.modelDir, graphs: this.opts.graphs, intraOpThreads: this.opts.intraOpThreads, prompts: this.opts.prompts ?? [],
    };
    const worker = new Worker(new URL("./inference-worker.js", import.meta.url), { workerData: init });
    const slot: Slot = { worker, busy: null, id: 0 };
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on("message", (msg: FromWorker) => {
        if (msg.type === "ready") {
          ready = true;
          // a worker that finishes starting after close() (a replacement, or a sibling of one that failed to
          // start) must not join the pool: nothing would ever terminate it
          if (this.closed) { void worker.terminate(); resolve(); return; }
          this.slots.push(slot);
          resolve();
          this.schedulePump();
        } else if (msg.type === "init_error") {
          reject(new Error(msg.message));
          void worker.terminate();
        } else {
          this.onMessage(slot, msg);
        }
      });
      worker.on("error", (e) => { if (!ready) reject(e); });
      worker.on("exit", (code) => {
        if (this.closed && ready && !this.slots.includes(slot)) return;  // terminated above, never joined
        const i = this.slots.indexOf(slot);
        if (i >= 0) this.slots.splice(i, 1);
        for (const j of slot.busy ?? []) j.reject(new Error(`inference worker exited (code ${code})`));
        slot.busy = null;
        if (!ready) { reject(new Error(`inference worker exited during start (code ${code})`)); return; }
        // a crashed worker is replaced, so one bad call does not take the server's capacity with it
        this.replace(0);
      });
    });
  }

  /** Start a worker in place of one that exited; if it cannot start, try again later (1 s, 2 s, ... 30 s). While
   * no worker runs or starts, queued calls fail (the contexts get inference_failed) instead of hanging. */
  private replace(attempt: number): void {
    if (this.closed) return;
    this.starting++;
    this.spawn().then(
      () => { this.starting--; },
      (e: unknown) => {
        this.starting--;
        if (this.closed) return;
        if (!this.healthy) {
          const why = `no inference worker is running: ${e instanceof Error ? e.message : String(e)}`;
          for (const j of this.queue.splice(0)) j.reject(new Error(why));
        }
        const t = setTimeout(() => { this.retryTimers.delete(t); this.replace(attempt + 1); }, Math.min(30_000, 1000 * 2 ** attempt));
        t.unref();
        this.retryTimers.add(t);
      },
    );
  }
}
