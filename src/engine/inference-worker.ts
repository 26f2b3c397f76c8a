/**
 * An inference worker thread: owns onnxruntime sessions for the serving graphs and runs what the
 * pool sends, one call at a time. onnxruntime-node's run blocks the calling thread, so it must not
 * run on the event loop that serves sockets and paces audio.
 */
import { parentPort, workerData } from "node:worker_threads";
import { cutLogits } from "./batch.js";
import { PromptCache } from "./prompt-cache.js";
import { loadModelSet, type ModelSet } from "../models/model-set.js";
import type { TensorValue } from "../models/ort.js";
import type { FromWorker, ToWorker, WorkerInit } from "./worker-messages.js";

const port = parentPort;
if (!port) throw new Error("inference-worker.js must run as a worker thread");

/** A fresh, tightly sized copy when the array is a view on a bigger buffer, so it can be transferred. */
function own<T extends TensorValue["data"]>(a: T): T {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : (a.slice() as T);
}

async function main(): Promise<void> {
  const init = workerData as WorkerInit;
  let models: ModelSet;
  // this worker's copy of every voice prompt's states (a few hundred KB each), made on first use
  let prompts: PromptCache | null = null;
  try {
    models = await loadModelSet(init.modelDir, { intraOpThreads: init.intraOpThreads }, init.graphs);
    if (models.graphs.soundstorm) {
      prompts = new PromptCache(models.graphs.soundstorm, models.manifest.codec.levels);
      for (const p of init.prompts) await prompts.get(p);
    }
  } catch (e) {
    port!.postMessage({ type: "init_error", message: (e as Error).message } satisfies FromWorker);
    return;
  }
  port!.on("message", async (msg: ToWorker) => {
    const t0 = performance.now();
    try {
      const feeds = msg.type === "passes" ? { ...msg.feeds, ...(await prompts!.feeds(msg.prompts)) } : msg.feeds;
      const out = await (msg.type === "run" ? models.graphFor(msg.graph, msg.voice) : models.graphs[msg.graph]).run(feeds);
      const seconds = (performance.now() - t0) / 1000;
      if (msg.type === "passes") {
        const logits = cutLogits(out.logits!, msg.cuts);
        port!.postMessage({ type: "logits", id: msg.id, logits, seconds } satisfies FromWorker, [logits.buffer as ArrayBuffer]);
      } else {
        const outputs: Record<string, TensorValue> = {};
        for (const [k, v] of Object.entries(out)) outputs[k] = { data: own(v.data), dims: v.dims };
        port!.postMessage({ type: "result", id: msg.id, outputs, seconds } satisfies FromWorker,
          Object.values(outputs).map((v) => v.data.buffer as ArrayBuffer) as ArrayBuffer[]);
      }
    } catch (e) {
      port!.postMessage({ type: "error", id: msg.id, message: (e as Error).message } satisfies FromWorker);
    }
  });
  port!.postMessage({ type: "ready" } satisfies FromWorker);
}

void main();
