/** Loads every graph a manifest names, once, to be shared by all contexts. */
import { loadManifest, type GraphName, type Manifest } from "./manifest.js";
import { Graph, type SessionOptions } from "./ort.js";

export interface ModelSet {
  readonly manifest: Manifest;
  readonly graphs: Readonly<Record<GraphName, Graph>>;
  dispose(): Promise<void>;
}

/** The graphs a serving process needs; the encoders are only for voice cloning. */
export const SERVING_GRAPHS: readonly GraphName[] = ["t2s_duration", "t2s_tokens", "soundstorm", "codec_decoder"];

/** Load the named graphs (default: every graph the manifest lists). */
export async function loadModelSet(modelDir: string, opts: SessionOptions, only?: readonly GraphName[]): Promise<ModelSet> {
  const manifest = loadManifest(modelDir);
  const which = only ?? (Object.keys(manifest.graphs) as GraphName[]);
  const loaded: Partial<Record<GraphName, Graph>> = {};
  try {
    for (const name of which) {
      const spec = manifest.graphs[name];
      if (!spec) throw new Error(`model '${manifest.name}' in ${manifest.dir} has no '${name}' graph`);
      loaded[name] = await Graph.load(name, manifest.dir, spec, opts);
    }
  } catch (e) {
    await Promise.all(Object.values(loaded).map((g) => g?.dispose()));
    throw e;
  }
  const graphs = new Proxy(loaded, {
    get(target, prop: string) {
      const g = target[prop as GraphName];
      if (!g) throw new Error(`graph '${prop}' was not loaded`);
      return g;
    },
  }) as Record<GraphName, Graph>;
  return {
    manifest,
    graphs,
    async dispose() {
      await Promise.all(Object.values(loaded).map((g) => g?.dispose()));
    },
  };
}
