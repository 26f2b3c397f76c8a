/**
 * Every Prometheus metric the server exports, declared once, on a registry of
 * its own (no global registry: two servers in one process do not collide).
 * Names follow Prometheus conventions: soundstorm_ prefix, base units, _total
 * on counters, no per-context labels.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

const LATENCY_BUCKETS = [0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10];
const STAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "soundstorm_" });
  const m = {
    registry,
    ttfa: new Histogram({
      name: "soundstorm_time_to_first_audio_seconds",
      help: "From the first chunk of text being ready (phrase cut, flush or end) to the first audio message sent",
      buckets: LATENCY_BUCKETS, registers: [registry],
    }),
    stage: new Histogram({
      name: "soundstorm_stage_duration_seconds",
      help: "Wall time of one pipeline stage for one chunk",
      labelNames: ["stage"] as const, buckets: STAGE_BUCKETS, registers: [registry],
    }),
    activeContexts: new Gauge({ name: "soundstorm_active_contexts", help: "Open synthesis contexts", registers: [registry] }),
    activeSockets: new Gauge({ name: "soundstorm_active_sockets", help: "Open WebSocket connections", registers: [registry] }),
    audioSeconds: new Counter({ name: "soundstorm_audio_seconds_total", help: "Seconds of audio produced", registers: [registry] }),
    chunks: new Counter({ name: "soundstorm_chunks_total", help: "Text chunks synthesized", registers: [registry] }),
    guidanceShed: new Counter({
      name: "soundstorm_guidance_shed_passes_total",
      help: "Guided SoundStorm passes run without their unconditional twin while the inference queue was behind (inference.shedGuidanceQueued)",
      registers: [registry],
    }),
    levelsShed: new Counter({
      name: "soundstorm_levels_shed_total",
      help: "RVQ levels SoundStorm windows left ungenerated while the inference queue was far behind (inference.shedLevelsQueued)",
      registers: [registry],
    }),
    contexts: new Counter({
      name: "soundstorm_contexts_total", help: "Contexts finished, by outcome",
      labelNames: ["outcome"] as const, registers: [registry],
    }),
    errors: new Counter({
      name: "soundstorm_errors_total", help: "Errors reported to clients, by code",
      labelNames: ["code"] as const, registers: [registry],
    }),
    modelPass: new Histogram({
      name: "soundstorm_model_pass_seconds", help: "Wall time of one inference call, by graph",
      labelNames: ["graph"] as const, buckets: STAGE_BUCKETS, registers: [registry],
    }),
    batchSize: new Histogram({
      name: "soundstorm_batch_size", help: "Sequences per inference call, by graph",
      labelNames: ["graph"] as const, buckets: [1, 2, 4, 8, 16, 32], registers: [registry],
    }),
    queueWait: new Histogram({
      name: "soundstorm_queue_wait_seconds", help: "From a text chunk being cut to its synthesis starting",
      buckets: STAGE_BUCKETS, registers: [registry],
    }),
    clientUnderruns: new Counter({
      name: "soundstorm_client_underruns_total", help: "Playback underruns reported by clients (playback_report)",
      registers: [registry],
    }),
    clientUnderrunSeconds: new Counter({
      name: "soundstorm_client_underrun_seconds_total", help: "Playback stall time reported by clients (playback_report)",
      registers: [registry],
    }),
    slowConsumers: new Counter({
      name: "soundstorm_slow_consumers_total", help: "Sockets whose unsent audio passed the slow-consumer threshold",
      registers: [registry],
    }),
    framesRefused: new Counter({
      name: "soundstorm_frames_refused_total",
      help: "Sockets the frame guard closed with 1009: a frame header (or fragmented message) over limits.maxFrameBytes",
      registers: [registry],
    }),
    rtf: new Histogram({
      name: "soundstorm_real_time_factor", help: "Generation time / audio time per finished context",
      buckets: [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5], registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
