/** Worker thread for prepareSpeech (see speech-prep.ts). */
import { parentPort, workerData } from "node:worker_threads";
import { ServiceError } from "../errors.js";
import { prepareSpeech, type CloneLimits, type SpeechRates } from "./speech-prep.js";

const { wav, rates, limits } = workerData as { wav: Uint8Array; rates: SpeechRates; limits: CloneLimits };
try {
  const speech = prepareSpeech(wav, rates, limits);
  parentPort!.postMessage({ ok: true, speech }, [speech.pcm.buffer as ArrayBuffer]);
} catch (e) {
  parentPort!.postMessage(e instanceof ServiceError ? { ok: false, code: e.code, detail: e.message } : { ok: false, detail: String((e as Error).message ?? e) });
}
