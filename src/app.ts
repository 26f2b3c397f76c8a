/** Wires config, models, synthesizer, metrics and the server together. */
import { buildConfig, fromEnv, inferenceWorkers, intraOpThreads, type ConfigOverrides, type ServerConfig } from "./config.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { InferencePool } from "./engine/inference-pool.js";
import { loadManifest, type Manifest } from "./models/manifest.js";
import { SERVING_GRAPHS } from "./models/model-set.js";
import { startServer, type RunningServer } from "./server/uws-server.js";
import { VoiceService } from "./server/voices.js";
import { Synthesizer } from "./synth/synthesizer.js";
import { promptTokensOf } from "./synth/windows.js";

export interface App {
  readonly config: ServerConfig;
  readonly metrics: Metrics;
  readonly port: number;
  /** Graceful stop: readiness false, no new sockets or contexts, running contexts finish (up to the deadline), then close. */
  drain(deadlineMs?: number): Promise<{ unfinished: number }>;
  close(): Promise<void>;
}

/** The serving models: graphs on the inference pool's workers, their contract here. */
export interface ServingModels {
  readonly manifest: Manifest;
  readonly pool: InferencePool;
  dispose(): Promise<void>;
}

export async function loadSynthesizer(config: ServerConfig, metrics?: Metrics): Promise<{ synth: Synthesizer; models: ServingModels }> {
  const onRun = metrics
    ? (graph: string, seconds: number, batch: number) => {
      metrics.modelPass.observe({ graph }, seconds);
      metrics.batchSize.observe({ graph }, batch);
    }
    : undefined;
  const manifest = loadManifest(config.modelDir);
  const pool = await InferencePool.start(manifest, {
    modelDir: config.modelDir, graphs: SERVING_GRAPHS, workers: inferenceWorkers(config),
    intraOpThreads: intraOpThreads(config), batching: config.inference.batching, ...(onRun ? { onRun } : {}),
    prompts: [...manifest.voicePrompts.values()].map((v) => promptTokensOf(v, manifest.semantic?.repeat ?? 1)),
  });
  const models: ServingModels = { manifest, pool, dispose: () => pool.close() };
  try {
    const synth = new Synthesizer(
      { manifest, graph: (name, voice) => pool.graph(name, voice), passRunner: pool.passRunner, queued: () => pool.load.queued },
      {
        acousticLevels: config.inference.acousticLevels, shedGuidanceQueued: config.inference.shedGuidanceQueued,
        shedLevelsQueued: config.inference.shedLevelsQueued, shedLevelsKeep: config.inference.shedLevelsKeep,
        ...(metrics ? { onShed: () => metrics.guidanceShed.inc(), onShedLevels: (n: number) => metrics.levelsShed.inc(n) } : {}),
      });
    // warm-up: the first phonemizer call and first session runs are slow; pay that before serving
    const stream = synth.openStream(synth.voices[0], 0);
    await stream.synthesize("Ready.");
    await stream.flush();
    return { synth, models };
  } catch (e) {
    // the pool's worker threads would keep a process that failed to start alive for ever
    await pool.close();
    throw e;
  }
}

export async function createApp(overrides: ConfigOverrides = {}, log: (m: string) => void = () => {}): Promise<App> {
  const config = buildConfig(fromEnv(process.env), overrides);
  const metrics = createMetrics();
  let synth: Synthesizer | null = null;
  let voices: VoiceService | null = null;
  let pool: InferencePool | null = null;
  const server: RunningServer = await startServer({
    config, metrics, synth: () => synth, voices: () => voices, log, healthy: () => pool?.healthy ?? true,
  });
  let models: ServingModels;
  try {
    const loaded = await loadSynthesizer(config, metrics);
    models = loaded.models;
    try {
      // cloned voices are registered before the synthesizer is served, so they are there from the first request
      voices = await VoiceService.open(config, loaded.synth, log);
    } catch (e) {
      await models.dispose();
      throw e;
    }
    synth = loaded.synth;
    pool = models.pool;
  } catch (e) {
    await server.close();
    throw e;
  }
  log(`load shedding: ${synth.sheddingSummary}`);
  if (models.manifest.kind === "fixture") {
    log(`WARNING: serving the RANDOM-WEIGHT fixture model '${models.manifest.name}' from ${models.manifest.dir}: it produces noise, not speech`);
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
    await voices?.dispose();
    await models.dispose();
  };
  return {
    config, metrics, port: server.port, close,
    async drain(deadlineMs = config.shutdown.drainTimeoutS * 1000) {
      server.startDrain();
      const until = Date.now() + deadlineMs;
      // open WebSocket contexts (generating or pacing out audio) and HTTP speech requests, each counted once
      const busy = () => server.liveContexts() + server.speechRequests;
      while (busy() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      const unfinished = busy();
      await close();
      return { unfinished };
    },
  };
}
