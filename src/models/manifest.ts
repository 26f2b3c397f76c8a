/**
 * The model contract: models/<name>/model.json names every ONNX graph with its
 * inputs and outputs, the rates and vocabularies, the text symbol table,
 * decoding defaults and the voices. Read and validated here, once; every stage
 * takes its numbers from the Manifest, never from constants of its own.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";

const Dim = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })]);
const TensorSpec = Type.Object({
  name: Type.String({ minLength: 1 }),
  dtype: Type.Union([Type.Literal("int64"), Type.Literal("float32"), Type.Literal("bool")]),
  shape: Type.Array(Dim),
});
const GraphSpec = Type.Object({
  file: Type.String({ minLength: 1 }),
  /** The float graph `file` was derived from (e.g. quantized to int8): same contract; parity tests use it. */
  reference_file: Type.Optional(Type.String({ minLength: 1 })),
  inputs: Type.Record(Type.String(), TensorSpec),
  outputs: Type.Record(Type.String(), TensorSpec),
});

const Pos = Type.Integer({ minimum: 1 });
const Audio = Type.Object({ sample_rate: Pos, hop_length: Pos, frame_rate: Pos });
const Codec = Type.Object({
  levels: Pos, codebook_size: Pos,
  decoder_left_context_frames: Type.Integer({ minimum: 0 }),
  decoder_right_context_frames: Type.Integer({ minimum: 0 }),
  /** A code the decoder reads as "level not generated": its codebooks have an all-zero row there, so
   * the level adds nothing, as in quantizer-dropout training. Lets SoundStorm stop after fewer levels
   * (config inference.acousticLevels, and load shedding's inference.shedLevelsQueued). Default none: every level
   * must be generated. */
  absent_code: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Decoders fine-tuned on one voice's own recordings (voice name -> ONNX file with exactly
   * graphs.codec_decoder's contract, decoding the same codes): a stream in that voice decodes with its
   * own, every other voice (cloned ones too) with graphs.codec_decoder. Default none. */
  voice_decoders: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }))),
});
const Semantic = Type.Object({
  rate: Pos, vocab_size: Pos, repeat: Pos,
  /** Units of real audio are the path through the tokenizer's per-frame centroid distances (its
   * `distances` output) that pays this much for each change of unit (a Viterbi pass; see
   * pipeline/semantic/units-of-audio.ts), as the tokens the models trained on were made. Default 0:
   * each frame's nearest centroid (the graph's `units`). */
  switch_penalty: Type.Optional(Type.Number({ minimum: 0 })),
});
/** A decoding prior: a table of log-probabilities (float32 little-endian, row-major; a row of zeros is
 * no prior) and the weight its rows are added to a model's logits at. */
const PriorTable = Type.Object({ file: Type.String({ minLength: 1 }), weight: Type.Number({ minimum: 0 }) });
const SoundStorm = Type.Object({
  mask_id: Type.Integer({ minimum: 0 }), max_window_frames: Pos, tail_frames: Type.Integer({ minimum: 0 }),
  /** Trained with a window's tail attending only to the voice prompt and itself: serving computes the
   * tail's states once per window (a prompt chained to the voice's) and passes run on new frames only. */
  cached_tail: Type.Optional(Type.Boolean()),
  /** With cached_tail: the tail's last frames stay in the window (trained so), so the new frames'
   * convolution and normalisation do not start cold at the join. Default 0. */
  tail_overlap_frames: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Serving choice, with cached_tail: a window of n new frames keeps max(tail_overlap_frames,
   * round(fraction x n)) of its tail in the window, so long windows join on more context while short
   * chunks pay for no more than the trained overlap (the extra frames cost every pass the same share
   * of the window). Default 0: tail_overlap_frames for every window. */
  tail_overlap_fraction: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  /** A prior on level 1: its logits get weight x log P(frame's unit | code) from `file` (float32
   * little-endian, [semantic.vocab_size, codec.codebook_size] row-major; counted on real tokens by
   * sstrain.soundstorm.level1_prior; a row of zeros is no prior). Default none. */
  level1_prior: Type.Optional(PriorTable),
  /** Trained with each frame's text symbol as well as its unit: a frame's conditioning id is
   * unit + offset x (text.symbols id + 1), 0 for "no symbol" (voice prompts, uploaded voices, units read
   * off audio). Text to semantic gives the generated frames theirs (sstrain.soundstorm.phones). Default
   * none: ids are units. */
  phone_conditioning: Type.Optional(Type.Object({ offset: Pos, phones: Pos })),
  /** The conditioning id meaning "no unit" (one past the units: semantic.vocab_size), trained on as the
   * generated frames without their units (sstrain.soundstorm.train --semantic-drop): the unconditional
   * pass of decoding.semantic_guidance. Default none. */
  null_semantic_id: Type.Optional(Type.Integer({ minimum: 0 })),
});
const TextToSemanticSpec = Type.Object({
  min_frames_per_phoneme: Type.Integer({ minimum: 0 }), max_frames_per_phoneme: Pos, context_phonemes: Type.Integer({ minimum: 0 }),
  /** frames = exp(log_duration) - offset: lets silent symbols (stress marks, spaces) get zero frames. Default 0. */
  log_duration_offset: Type.Optional(Type.Number({ minimum: 0 })),
  /** Frames every phone (a symbol not in text.silent_symbols) gets at least, so that rounding the
   * predicted durations never drops a short sound (a 30 ms /ð/ at 40 ms frames). Default 0. */
  min_frames_per_phone: Type.Optional(Type.Integer({ minimum: 0 })),
  /** A phonetic prior on the token graph's choice: each frame's logits get weight x log P(symbol | unit)
   * from `file` (float32 little-endian, [text.symbols, semantic.vocab_size] row-major; counted on aligned
   * training audio by sstrain.t2s.unit_prior; a row of zeros is no prior). Default none. */
  unit_prior: Type.Optional(PriorTable),
  /** The longest input (symbols) one text-to-semantic call gets: a longer chunk is generated in pieces
   * cut at word boundaries, each conditioned on the one before, because the models were trained on
   * targets of bounded length (sstrain.t2s.train --max-target-frames) and read positions past that poorly.
   * Default: no limit. */
  max_input_symbols: Type.Optional(Pos),
});
const Text = Type.Object({
  phonemizer_language: Type.String(),
  symbols: Type.Array(Type.String({ minLength: 1 }), { minItems: 5 }),
  pad_id: Type.Integer({ minimum: 0 }), bos_id: Type.Integer({ minimum: 0 }), eos_id: Type.Integer({ minimum: 0 }),
  unk_id: Type.Integer({ minimum: 0 }), word_separator: Type.String(),
  /** Symbols that are not phones: specials, the word separator, stress and length marks, punctuation. */
  silent_symbols: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
});
const Decoding = Type.Object({
  schedule: Type.Array(Pos, { minItems: 1 }),
  /** Iterations per level when a chunk is due soon (a stream's first chunk, or little audio left to
   * play): fewer passes for a little voice fidelity. Default: `schedule`. */
  fast_schedule: Type.Optional(Type.Array(Pos, { minItems: 1 })),
  temperature_start: Type.Number({ minimum: 0 }),
  temperature_end: Type.Number({ minimum: 0 }),
  noise_scale: Type.Number({ minimum: 0 }),
  semantic_temperature: Type.Number({ minimum: 0 }),
  /** Classifier-free guidance by the units: each pass of the first `levels` levels also runs with the new
   * frames' units replaced by soundstorm.null_semantic_id, and decodes conditioned + weight x
   * (conditioned - unconditioned) logits, which leans each frame toward the codes its own unit calls
   * for. Costs one more pass (batched beside the first) per guided pass. `level_weights` (optional) sets
   * the weight of each of the first levels in turn (the rest of the guided levels take `weight`; a level
   * weighted 0 runs no twin pass). Default none. */
  semantic_guidance: Type.Optional(Type.Object({
    weight: Type.Number({ minimum: 0 }), levels: Pos,
    level_weights: Type.Optional(Type.Array(Type.Number({ minimum: 0 }), { minItems: 1 })),
  })),
});
const Graphs = Type.Object({
  soundstorm: GraphSpec, t2s_duration: GraphSpec, t2s_tokens: GraphSpec,
  codec_decoder: GraphSpec, codec_encoder: GraphSpec, semantic_tokenizer: GraphSpec,
});

/** Any model set: a codec at least. A set that serves needs every section (ServingSchema). */
const ManifestSchema = Type.Object({
  format_version: Type.Literal(1),
  name: Type.String(),
  kind: Type.Union([Type.Literal("trained"), Type.Literal("fixture")]),
  description: Type.String(),
  audio: Audio,
  codec: Codec,
  semantic: Type.Optional(Semantic),
  soundstorm: Type.Optional(SoundStorm),
  text_to_semantic: Type.Optional(TextToSemanticSpec),
  text: Type.Optional(Text),
  decoding: Type.Optional(Decoding),
  graphs: Type.Partial(Graphs),
  voices: Type.Record(Type.String(), Type.String()),
});

const ServingSchema = Type.Object({
  semantic: Semantic, soundstorm: SoundStorm, text_to_semantic: TextToSemanticSpec, text: Text, decoding: Decoding,
  graphs: Type.Pick(Graphs, ["soundstorm", "t2s_duration", "t2s_tokens", "codec_decoder"]),
});

const VoiceSchema = Type.Object({
  name: Type.String(),
  description: Type.String(),
  phonemes: Type.String(),
  semantic: Type.Array(Type.Integer({ minimum: 0 })),
  acoustic: Type.Array(Type.Array(Type.Integer({ minimum: 0 }))),
});

export type TensorSpec = Static<typeof TensorSpec>;
export type GraphSpec = Static<typeof GraphSpec>;
export type ManifestData = Static<typeof ManifestSchema>;
export type GraphName = keyof Static<typeof Graphs>;

/** A voice prompt, ready for the stages: semantic at the semantic rate, acoustic frames x levels. */
export interface VoicePrompt {
  readonly name: string;
  readonly description: string;
  readonly phonemes: string;
  readonly semantic: Int32Array;
  /** Row-major [frames, levels]. */
  readonly acoustic: Int32Array;
  readonly frames: number;
}

export interface Manifest extends ManifestData {
  /** Absolute directory of model.json; graph files are relative to it. */
  readonly dir: string;
  readonly voicePrompts: ReadonlyMap<string, VoicePrompt>;
  /** text_to_semantic.unit_prior's table, log P(symbol | unit) as [symbols, vocab] row-major; null without one. */
  readonly unitPrior: Float32Array | null;
  /** soundstorm.level1_prior's table, log P(unit | code) as [vocab, codebook] row-major; null without one. */
  readonly level1Prior: Float32Array | null;
}

/** A manifest with everything the speech pipeline needs. */
export type ServingManifest = Manifest & Static<typeof ServingSchema>;

const checkServing = TypeCompiler.Compile(ServingSchema);

/** Narrow a manifest to one that can serve speech, or say what it lacks. */
export function servingManifest(m: Manifest): ServingManifest {
  if (!checkServing.Check(m)) {
    const e = checkServing.Errors(m).First();
    throw new Error(`model '${m.name}' in ${m.dir} cannot serve speech: ${e?.path} ${e?.message}`);
  }
  if (m.voicePrompts.size === 0) throw new Error(`model '${m.name}' in ${m.dir} has no voices`);
  return m as ServingManifest;
}

const checkManifest = TypeCompiler.Compile(ManifestSchema);
const checkVoice = TypeCompiler.Compile(VoiceSchema);

function fail(path: string, msg: string): never {
  throw new Error(`invalid model manifest ${path}: ${msg}`);
}

export function loadManifest(modelDir: string): Manifest {
  const path = join(resolve(modelDir), "model.json");
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`cannot read model manifest ${path}: ${(e as Error).message}`);
  }
  if (!checkManifest.Check(raw)) {
    const e = checkManifest.Errors(raw).First();
    fail(path, `${e?.path}: ${e?.message}`);
  }
  const m = raw as ManifestData;
  const q = m.codec.levels;
  if (m.audio.sample_rate !== m.audio.hop_length * m.audio.frame_rate) fail(path, "sample_rate != hop_length * frame_rate");
  if (m.soundstorm && m.soundstorm.mask_id < m.codec.codebook_size) fail(path, "soundstorm.mask_id must not be a valid code");
  if (m.codec.absent_code !== undefined && m.codec.absent_code < m.codec.codebook_size) fail(path, "codec.absent_code must not be a valid code");
  if (m.decoding && m.decoding.schedule.length !== q) fail(path, `decoding.schedule has ${m.decoding.schedule.length} entries for ${q} levels`);
  if (m.decoding?.fast_schedule && m.decoding.fast_schedule.length !== q) fail(path, `decoding.fast_schedule has ${m.decoding.fast_schedule.length} entries for ${q} levels`);
  if (m.semantic && m.semantic.rate * m.semantic.repeat !== m.audio.frame_rate) fail(path, "semantic.rate * repeat must equal the codec frame rate");
  if (m.semantic?.switch_penalty && m.graphs.semantic_tokenizer && !m.graphs.semantic_tokenizer.outputs.distances) {
    fail(path, "semantic.switch_penalty needs the semantic_tokenizer graph's distances output");
  }
  const pc = m.soundstorm?.phone_conditioning;
  if (pc && m.semantic && pc.offset < m.semantic.vocab_size) fail(path, "soundstorm.phone_conditioning.offset must be at least semantic.vocab_size");
  if (pc && m.text && pc.phones !== m.text.symbols.length + 1) fail(path, "soundstorm.phone_conditioning.phones must be text.symbols + 1");
  if (m.text) {
    const { pad_id, bos_id, eos_id, unk_id, symbols } = m.text;
    for (const id of [pad_id, bos_id, eos_id, unk_id]) if (id >= symbols.length) fail(path, `special symbol id ${id} out of range`);
    if (new Set(symbols).size !== symbols.length) fail(path, "text.symbols has duplicates");
    const unknown = (m.text.silent_symbols ?? []).filter((x) => !symbols.includes(x));
    if (unknown.length) fail(path, `text.silent_symbols not in text.symbols: ${JSON.stringify(unknown)}`);
  }
  if (m.text_to_semantic?.min_frames_per_phone && !m.text?.silent_symbols) {
    fail(path, "text_to_semantic.min_frames_per_phone needs text.silent_symbols (which symbols are not phones)");
  }

  const nullId = m.soundstorm?.null_semantic_id;
  if (nullId !== undefined && m.semantic && nullId < m.semantic.vocab_size) fail(path, `soundstorm.null_semantic_id ${nullId} is a unit (< semantic.vocab_size ${m.semantic.vocab_size})`);
  if (nullId !== undefined && pc) fail(path, "soundstorm.null_semantic_id with phone_conditioning is not supported");
  const sg = m.decoding?.semantic_guidance;
  if (sg && nullId === undefined) fail(path, "decoding.semantic_guidance needs soundstorm.null_semantic_id (a model trained with --semantic-drop)");
  if (sg?.level_weights && sg.level_weights.length > sg.levels) fail(path, `decoding.semantic_guidance.level_weights has ${sg.level_weights.length} weights for ${sg.levels} guided levels`);
  for (const voice of Object.keys(m.codec.voice_decoders ?? {})) {
    if (!m.graphs.codec_decoder) fail(path, "codec.voice_decoders needs graphs.codec_decoder (their shared contract)");
    if (!Object.hasOwn(m.voices, voice)) fail(path, `codec.voice_decoders names '${voice}', which is not one of the voices`);
  }

  const dir = dirname(path);
  const voicePrompts = new Map<string, VoicePrompt>();
  for (const [name, file] of Object.entries(m.voices)) {
    const vpath = join(dir, file);
    let v: unknown;
    try { v = JSON.parse(readFileSync(vpath, "utf8")); } catch (e) { fail(path, `voice ${name}: ${(e as Error).message}`); }
    if (!m.semantic) fail(path, `voice ${name} needs a semantic section`);
    try {
      voicePrompts.set(name, voicePromptFromJson(name, v, m));
    } catch (e) {
      fail(path, `voice ${name}: ${(e as Error).message}`);
    }
  }
  let unitPrior: Float32Array | null = null;
  if (m.text_to_semantic?.unit_prior) {
    if (!m.text || !m.semantic) fail(path, "text_to_semantic.unit_prior needs the text and semantic sections");
    unitPrior = readLogTable(path, dir, "text_to_semantic.unit_prior", m.text_to_semantic.unit_prior.file,
      [m.text.symbols.length, "symbols"], [m.semantic.vocab_size, "units"]);
  }
  let level1Prior: Float32Array | null = null;
  if (m.soundstorm?.level1_prior) {
    if (!m.semantic) fail(path, "soundstorm.level1_prior needs the semantic section");
    level1Prior = readLogTable(path, dir, "soundstorm.level1_prior", m.soundstorm.level1_prior.file,
      [m.semantic.vocab_size, "units"], [m.codec.codebook_size, "codes"]);
  }
  return Object.freeze({ ...m, dir, voicePrompts, unitPrior, level1Prior });
}

/**
 * A graph's contract for streams in `voice`: the codec decoder's own file for a voice that
 * codec.voice_decoders names, otherwise the graph's shared entry (undefined when the set has none).
 */
export function graphSpecFor(m: ManifestData, name: GraphName, voice?: string): GraphSpec | undefined {
  const spec = m.graphs[name];
  const own = m.codec.voice_decoders;
  const file = name === "codec_decoder" && voice !== undefined && own && Object.hasOwn(own, voice) ? own[voice] : undefined;
  return spec && file ? { ...spec, file } : spec;
}

/** A decoding prior's table: float32 little-endian log-probabilities, [rows, cols] row-major. */
function readLogTable(path: string, dir: string, field: string, file: string,
  [rows, rowName]: [number, string], [cols, colName]: [number, string]): Float32Array {
  const want = rows * cols;
  let buf: Buffer;
  try { buf = readFileSync(join(dir, file)); } catch (e) { fail(path, `${field}: ${(e as Error).message}`); }
  if (buf.length !== want * 4) fail(path, `${field} ${file} has ${buf.length} bytes, expected ${want * 4} (${rows} ${rowName} x ${cols} ${colName}, float32)`);
  const table = new Float32Array(want);
  for (let i = 0; i < want; i++) table[i] = buf.readFloatLE(i * 4);
  // log-probabilities: finite and at most 0 (rows of zeros mean "no prior for this row")
  if (table.some((x) => !Number.isFinite(x) || x > 0)) fail(path, `${field} ${file} must hold finite log-probabilities (<= 0)`);
  return table;
}

/**
 * A voice file's JSON ({name, description, phonemes, semantic, acoustic}; other fields are ignored)
 * -> a VoicePrompt for this model, or an Error saying what is wrong. `name` is the voice's name
 * (the manifest key, or the file name of a cloned voice), whatever the file's own `name` says.
 */
export function voicePromptFromJson(name: string, v: unknown, m: ManifestData): VoicePrompt {
  const q = m.codec.levels;
  if (!checkVoice.Check(v)) throw new Error(`${checkVoice.Errors(v).First()?.path} ${checkVoice.Errors(v).First()?.message}`.trim());
  const vd = v as Static<typeof VoiceSchema>;
  const frames = vd.acoustic.length;
  if (vd.acoustic.some((row) => row.length !== q || row.some((c) => c >= m.codec.codebook_size))) throw new Error(`acoustic rows must have ${q} codes < ${m.codec.codebook_size}`);
  if (!m.semantic) throw new Error("the model has no semantic section");
  if (vd.semantic.some((s) => s >= m.semantic!.vocab_size)) throw new Error("semantic token out of range");
  if (vd.semantic.length * m.semantic.repeat !== frames) throw new Error(`${vd.semantic.length} semantic tokens do not cover ${frames} frames`);
  return {
    name, description: vd.description, phonemes: vd.phonemes, frames,
    semantic: Int32Array.from(vd.semantic),
    acoustic: Int32Array.from(vd.acoustic.flat()),
  };
}

/** A VoicePrompt -> the JSON of a voice file (the inverse of voicePromptFromJson). */
export function voicePromptToJson(v: VoicePrompt, levels: number): { name: string; description: string; phonemes: string; semantic: number[]; acoustic: number[][] } {
  const acoustic: number[][] = [];
  for (let t = 0; t < v.frames; t++) acoustic.push(Array.from(v.acoustic.subarray(t * levels, (t + 1) * levels)));
  return { name: v.name, description: v.description, phonemes: v.phonemes, semantic: Array.from(v.semantic), acoustic };
}
