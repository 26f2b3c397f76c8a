/**
 * Speaker classifier, for evaluation only (models/eval/, trained by sstrain.speaker; never used in
 * serving): which corpus voice speaks in a crop of audio.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Graph } from "../models/ort.js";

interface ClassifierCard { file: string; input: string; output: string; sample_rate: number; crop_samples: number; labels: string[] }

export class SpeakerClassifier {
  private constructor(private readonly graph: Graph, readonly card: ClassifierCard) {}

  static async load(jsonPath: string): Promise<SpeakerClassifier> {
    const card = JSON.parse(readFileSync(jsonPath, "utf8")) as ClassifierCard;
    const graph = await Graph.load("speaker_classifier", dirname(jsonPath), {
      file: card.file,
      inputs: { audio: { name: card.input, dtype: "float32", shape: ["batch", "samples"] } },
      outputs: { logits: { name: card.output, dtype: "float32", shape: ["batch", card.labels.length] } },
    }, { intraOpThreads: 1 });
    return new SpeakerClassifier(graph, card);
  }

  /** The most likely corpus voice of this audio. */
  async classify(pcm: Float32Array): Promise<string> {
    const out = await this.graph.run({ audio: { data: pcm, dims: [1, pcm.length] } });
    const l = out.logits.data as Float32Array;
    let best = 0;
    for (let i = 1; i < l.length; i++) if (l[i] > l[best]) best = i;
    return this.card.labels[best];
  }

  /** One label per whole crop of crop_samples (the tail shorter than a crop is dropped, unless it is all there is). */
  async classifyCrops(pcm: Float32Array): Promise<string[]> {
    const n = this.card.crop_samples;
    if (pcm.length <= n) return [await this.classify(pcm)];
    const out: string[] = [];
    for (let s = 0; s + n <= pcm.length; s += n) out.push(await this.classify(pcm.subarray(s, s + n)));
    return out;
  }

  async dispose(): Promise<void> {
    await this.graph.dispose();
  }
}

export const DEFAULT_SPEAKER_CLASSIFIER = join("models", "eval", "speaker_classifier.json");
