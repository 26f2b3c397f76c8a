/** Loads every graph a manifest names, once, to be shared by all contexts. */
import { graphSpecFor, loadManifest, type GraphName, type Manifest } from "./manifest.js";
import { Graph, type SessionOptions } from "./ort.js";

export interface ModelSet {
  readonly manifest: Manifest;
  readonly graphs: Readonly<Record<GraphName, Graph>>;
  /** The graph that runs `name` for streams in `voice`: a voice's own codec decoder
   * (manifest codec.voice_decoders) where it has one, else graphs[name]. */
  graphFor(name: GraphName, voice?: string): Graph;
  dispose(): Promise<void>;
}

/** The graphs a serving process needs; the encoders are only for voice cloning. */
export const SERVING_GRAPHS: readonly GraphName[] = ["t2s_duration", "t2s_tokens", "soundstorm", "codec_decoder"];

/** Load the named graphs (default: every graph the manifest lists), and with the codec decoder every voice's own. */
export async function loadModelSet(modelDir: string, opts: SessionOptions, only?: readonly GraphName[]): Promise<ModelSet> {
  const manifest = loadManifest(modelDir);
  const which = only ?? (Object.keys(manifest.graphs) as GraphName[]);
  const loaded: Partial<Record<GraphName, Graph>> = {};
  const voiceDecoders = new Map<string, Graph>();
  const all = (): Graph[] => [...Object.values(loaded), ...voiceDecoders.values()];
  try {
    for (const name of which) {
      const spec = manifest.graphs[name];
      if (!spec) throw new Error(`model '${manifest.name}' in ${manifest.dir} has no '${name}' graph`);
      loaded[name] = await Graph.load(name, manifest.dir, spec, opts);
    }
    if (loaded.codec_decoder) {
      for (const voice of Object.keys(manifest.codec.voice_decoders ?? {})) {
        voiceDecoders.set(voice, await Graph.load("codec_decoder", manifest.dir, graphSpecFor(manifest, "codec_decoder", voice)!, opts));
      }
    }
  } catch (e) {
    await Promise.all(all().map((g) => g.dispose()));
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
    graphFor(name, voice) {
      return (name === "codec_decoder" && voice !== undefined ? voiceDecoders.get(voice) : undefined) ?? graphs[name];
    },
    async dispose() {
      await Promise.all(all().map((g) => g.dispose()));
    },
  };
}
