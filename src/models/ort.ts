/**
 * The only module that imports onnxruntime-node. A Graph wraps one inference
 * session together with its manifest entry: feeds and results are addressed by
 * contract role, checked loudly against the session and the manifest.
 */
import * as ort from "onnxruntime-node";
import { join } from "node:path";
import type { GraphSpec, TensorSpec } from "./manifest.js";

export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

export interface TensorValue {
  readonly data: TensorData;
  readonly dims: readonly number[];
}

/** Scheduling hints for one run; a local Graph ignores them, the inference pool orders work by them. */
export interface RunOptions {
  /** Lower runs first, FIFO among equals. The server passes a deadline: the time (performance.now()
   * ms) by which the result is needed, so the scheduler is earliest-deadline-first. */
  readonly priority?: number;
  /** Aborted before the run starts: the run is dropped and rejects with DecodeAborted. */
  readonly signal?: AbortSignal;
}

/** What the stages need from a graph: its contract and a way to run it (here, or on a worker). */
export interface GraphRunner<In extends string = string, Out extends string = string> {
  readonly name: string;
  readonly spec: GraphSpec;
  run(feeds: Record<In, TensorValue>, opts?: RunOptions): Promise<Record<Out, TensorValue>>;
}

export interface SessionOptions {
  readonly intraOpThreads: number;
  /** Called after every run with the graph name, wall seconds and batch size (for metrics). */
  readonly onRun?: (graph: string, seconds: number, batch: number) => void;
}

function toTensor(spec: TensorSpec, v: TensorValue): ort.Tensor {
  const n = v.dims.reduce((a, b) => a * b, 1);
  if (v.data.length !== n) throw new Error(`input '${spec.name}': ${v.data.length} values for dims [${v.dims}]`);
  if (v.dims.length !== spec.shape.length) throw new Error(`input '${spec.name}': rank ${v.dims.length}, contract says [${spec.shape}]`);
  spec.shape.forEach((d, i) => {
    if (typeof d === "number" && v.dims[i] !== d) throw new Error(`input '${spec.name}': dim ${i} is ${v.dims[i]}, contract says ${d}`);
  });
  switch (spec.dtype) {
    case "int64": {
      let data = v.data;
      if (!(data instanceof BigInt64Array)) {
        const out = new BigInt64Array(data.length);
        for (let i = 0; i < data.length; i++) out[i] = BigInt(data[i] as number);
        data = out;
      }
      return new ort.Tensor("int64", data, v.dims as number[]);
    }
    case "float32":
      if (!(v.data instanceof Float32Array)) throw new Error(`input '${spec.name}' must be Float32Array`);
      return new ort.Tensor("float32", v.data, v.dims as number[]);
    case "bool":
      if (!(v.data instanceof Uint8Array)) throw new Error(`input '${spec.name}' must be Uint8Array (bool)`);
      return new ort.Tensor("bool", v.data, v.dims as number[]);
  }
}

export class Graph<In extends string = string, Out extends string = string> implements GraphRunner<In, Out> {
  private constructor(
    readonly name: string,
    readonly spec: GraphSpec,
    private readonly session: ort.InferenceSession,
    private readonly onRun?: SessionOptions["onRun"],
  ) {}

  static async load(name: string, dir: string, spec: GraphSpec, opts: SessionOptions): Promise<Graph> {
    const session = await ort.InferenceSession.create(join(dir, spec.file), {
      intraOpNumThreads: opts.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      // no busy-waiting between ops: the spinning threads would steal the core the event loop
      // (sockets, Opus, sampling) needs, for no gain at these op sizes
      extra: { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } },
    });
    const want = (specs: Record<string, TensorSpec>) => Object.values(specs).map((s) => s.name).sort();
    const gotIn = [...session.inputNames].sort();
    const gotOut = [...session.outputNames].sort();
    if (JSON.stringify(gotIn) !== JSON.stringify(want(spec.inputs)) || JSON.stringify(gotOut) !== JSON.stringify(want(spec.outputs))) {
      await session.release();
      throw new Error(`graph '${name}' (${spec.file}) has inputs [${gotIn}] outputs [${gotOut}]; manifest says inputs [${want(spec.inputs)}] outputs [${want(spec.outputs)}]`);
    }
    return new Graph(name, spec, session, opts.onRun);
  }

  /** Run with feeds keyed by contract role; returns outputs keyed by role. */
  async run(feeds: Record<In, TensorValue>, _opts?: RunOptions): Promise<Record<Out, TensorValue>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [role, spec] of Object.entries(this.spec.inputs)) {
      const v = (feeds as Record<string, TensorValue>)[role];
      if (!v) throw new Error(`graph '${this.name}': missing input '${role}'`);
      ortFeeds[spec.name] = toTensor(spec, v);
    }
    const t0 = performance.now();
    const res = await this.session.run(ortFeeds);
    if (this.onRun) {
      const first = Object.values(ortFeeds)[0];
      this.onRun(this.name, (performance.now() - t0) / 1000, first && first.dims.length > 1 ? first.dims[0] : 1);
    }
    const out: Record<string, TensorValue> = {};
    for (const [role, spec] of Object.entries(this.spec.outputs)) {
      const t = res[spec.name];
      if (!t) throw new Error(`graph '${this.name}': output '${spec.name}' missing`);
      out[role] = { data: t.data as TensorData, dims: t.dims };
    }
    return out as Record<Out, TensorValue>;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
