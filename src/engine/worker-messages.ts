/** Messages between the inference pool (main thread) and its workers. Internal, not a wire protocol. */
import type { GraphName } from "../models/manifest.js";
import type { TensorValue } from "../models/ort.js";
import type { LogitsCut } from "./batch.js";
import type { PromptTokens } from "./prompt-cache.js";

export interface WorkerInit {
  readonly modelDir: string;
  readonly graphs: readonly GraphName[];
  readonly intraOpThreads: number;
  /** Voice prompts whose SoundStorm states are computed before the worker reports ready. */
  readonly prompts: readonly PromptTokens[];
}

export type ToWorker =
  /** `voice`: run that voice's own variant of the graph where the model set has one (ModelSet.graphFor). */
  | { readonly type: "run"; readonly id: number; readonly graph: GraphName; readonly voice?: string; readonly feeds: Record<string, TensorValue> }
  /** A batch of SoundStorm passes (feeds from packPasses, each row's voice prompt); the reply holds only the cut logits. */
  | { readonly type: "passes"; readonly id: number; readonly graph: GraphName; readonly feeds: Record<string, TensorValue>;
      readonly prompts: readonly PromptTokens[]; readonly cuts: readonly LogitsCut[] };

export type FromWorker =
  | { readonly type: "ready" }
  | { readonly type: "init_error"; readonly message: string }
  | { readonly type: "result"; readonly id: number; readonly outputs: Record<string, TensorValue>; readonly seconds: number }
  | { readonly type: "logits"; readonly id: number; readonly logits: Float32Array; readonly seconds: number }
  | { readonly type: "error"; readonly id: number; readonly message: string };
