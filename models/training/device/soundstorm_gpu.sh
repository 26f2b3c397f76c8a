#!/usr/bin/env bash
# On a lent GPU machine, from the repository root, with .gpu-bundle carried (make_bundle.sh): SoundStorm and
# the codec decoder (DECODER below) trained at GPU scale on tokens of the committed codec and semantic
# tokenizer, so that what comes back drops into models/default beside the committed text-to-semantic model
# (same units, same codes).
#
#   start    tools, the codec checkpoint recovered from its graphs, the corpus (16 workers, ~2.5 min),
#            tokens, then the training runs, left running (setsid) until MINUTES after the start
#   wait     keeps the machine busy (one idle for 30 s is given back) and prints progress
#   collect  waits for the runs to end, then writes their weights (float16 parts) and logs to $OUT
#
# Each phase returns after at most ~9.5 minutes (a call may run 10). Call the next one at once, and
# name .gpu-bundle in every call's carry. A session now gets 15 minutes of device time in all, the
# machine's start included, so the default is `start` (which goes on waiting) then `collect`, with the
# runs ending 11 minutes after the start (corpus and tokens take ~4 of them). Settings: MINUTES (default 11),
# RUNS (default "ss4:4:0.0 ssw:4:0.0:3e-4:onnx", space-separated name:layers:dropout[:lr[:init]], trained
# side by side; init "onnx" continues the committed SoundStorm, recovered from its float16 graph, where
# the default starts from the token statistics; lr default 1.5e-3); DECODER (default "dec"; empty for none): the
# committed codec decoder trained on with critics beside them (encoder and codes frozen, as in session 11, whose
# H100 run fixed slt but cost kal16; it comes back as decoder-only parts); DEC_ARGS: more sstrain.codec.train options
# for it, e.g. "--share-speakers slt --base-share 0.85" for a decoder of slt's own, exported with
# `sstrain.codec.export --voice slt` into codec.voice_decoders so that only slt decodes with it;
# SS_ARGS: more sstrain.soundstorm.train options for every SoundStorm run, e.g. "--semantic-drop 0.2" (the shipped
# model guides by the units: without it the export drops soundstorm.null_semantic_id, and model.json must then drop
# decoding.semantic_guidance); for a CPU smoke run
# of the whole path: HOURS (corpus, default 21), WORKERS (default 16), FRAMES (per batch, default 16000).
# Back here: python -m sstrain.parts merge --out runs/NAME/last.ckpt NAME.part*.pt, then
# sstrain.soundstorm.export into a copy of models/default, then soundstorm eval; the decoder:
# merge --base runs/codec-onnx/init.ckpt --out runs/dec/last.ckpt dec.part*.pt, sstrain.codec.export, eval codec.
set -uo pipefail
R=$(pwd); B=$R/.gpu-bundle; PY=${PY:-python3}; export PYTHONUNBUFFERED=1
T_CALL=$(date +%s); STATE=$R/runs/gpu-start
RUNS=${RUNS:-ss4:4:0.0 ssw:4:0.0:3e-4:onnx}; DECODER=${DECODER-dec}
names() { for spec in $RUNS; do echo "${spec%%:*}"; done; }
TRAINERS="sstrain\.(soundstorm|codec)\.train"   # the processes `start` leaves running
training() { pgrep -f "$TRAINERS" >/dev/null; }
progress() { for n in $(names) $DECODER; do printf '%s: ' "$n"; tail -n 1 "$R/runs/$n.out" 2>/dev/null | cut -c1-220; echo; done; }
cd "$R/models/training" || exit 1
case "${1:-}" in
start)
  mkdir -p "$R/runs" && date +%s > "$STATE"
  mkdir -p /opt/gpu-tools && tar -xJf "$B/tools.tar.xz" -C /opt/gpu-tools || exit 1
  export PATH=/opt/gpu-tools/fl/bin:$PATH
  tar -xJf "$B/text.tar.xz" -C / usr && tar -xJf "$B/text.tar.xz" -C "$R" data || exit 1
  flite -voice slt -t "test" -o /tmp/t.wav && sox /tmp/t.wav -r 16000 /tmp/t16.wav pitch 300 || { echo "flite/sox do not run"; exit 1; }
  nvidia-smi -L
  $PY -m sstrain.codec.from_onnx --model-dir "$B/models" --out "$R/runs/codec-onnx/init.ckpt" || exit 1
  $PY -m sstrain.corpus --out "$R/data/corpus" --hours "${HOURS:-21}" --workers "${WORKERS:-16}" --holdout "$B"/holdout/*.txt > "$R/runs/corpus.out" 2>&1; tail -n 1 "$R/runs/corpus.out"
  $PY -m sstrain.tokens --corpus "$R/data/corpus" --codec "$R/runs/codec-onnx/init.ckpt" \
    --semantic "$B/models/semantic_tokenizer.onnx" --out "$R/data/tokens" --splits valid,train --workers "$(( ${WORKERS:-16} * 3 / 4 ))" --threads 1 \
    > "$R/runs/tokens.out" 2>&1; tail -n 1 "$R/runs/tokens.out"
  [ -f "$R/data/tokens/train.npz" ] || { echo "no tokens"; exit 1; }
  case " $RUNS" in *:onnx*)
    $PY -m sstrain.soundstorm.from_onnx --model-dir "$B/models" --out "$R/runs/soundstorm-onnx/init.ckpt" || exit 1 ;;
  esac
  left=$($PY -c "import time; print(round(($(cat "$STATE") + 60 * ${MINUTES:-11} - time.time()) / 60 - 0.7, 2))")
  for spec in $RUNS; do
    IFS=: read -r name layers dropout lr init <<< "$spec"
    warm=(); [ "${init:-}" = onnx ] && warm=(--init-from "$R/runs/soundstorm-onnx/init.ckpt")
    setsid nohup $PY -m sstrain.soundstorm.train --tokens "$R/data/tokens" --run "$R/runs/$name" --steps 1000000 \
      --max-minutes "$left" --anneal-by-time --layers "$layers" --dropout "$dropout" --frames-per-batch "${FRAMES:-16000}" \
      --lengths 200,350,500,750 --lr "${lr:-1.5e-3}" "${warm[@]}" --prompt-prob 0.8 --level-weights 8,2,1.2 --isolate-tail --tail-overlap 8 \
      --threads 2 --valid-every 500 --log-every 100 ${SS_ARGS:-} > "$R/runs/$name.out" 2>&1 < /dev/null &
  done
  if [ -n "$DECODER" ]; then
    setsid nohup $PY -m sstrain.codec.train --corpus "$R/data/corpus" --run "$R/runs/$DECODER" --init-from "$R/runs/codec-onnx/init.ckpt" \
      --freeze-encoder --adversarial --batch "${DEC_BATCH:-32}" --crop-frames 64 --adv-batch "${DEC_ADV_BATCH:-16}" --adv-crop 8000 --lr 2e-4 \
      --steps 1000000 --max-minutes "$left" --anneal-by-time --valid-every 2000 --threads 2 ${DEC_ARGS:-} > "$R/runs/$DECODER.out" 2>&1 < /dev/null &
  fi
  echo "training for $left minutes: $RUNS $DECODER" ;&
wait)
  while training && [ $(( $(date +%s) - T_CALL )) -lt 560 ]; do sleep 30; progress; done ;;
collect)
  while training && [ $(( $(date +%s) - T_CALL )) -lt 540 ]; do sleep 10; done
  training && { echo "still training: packing the last checkpoints"; pkill -f "$TRAINERS"; sleep 5; }
  for n in $(names); do $PY -m sstrain.parts pack --run "$R/runs/$n" --out "$OUT"; grep valid "$R/runs/$n/log.jsonl" | tail -n 2; done
  [ -n "$DECODER" ] && { $PY -m sstrain.parts pack --run "$R/runs/$DECODER" --prefix decoder. --out "$OUT"; tail -n 2 "$R/runs/$DECODER/log.jsonl"; }
  tar -czf "$OUT/logs.tgz" -C "$R/runs" $(cd "$R/runs" && ls ./*.out ./*/log.jsonl 2>/dev/null)
  ls -la "$OUT" ;;
*) echo "usage: $0 start|wait|collect" >&2; exit 2 ;;
esac
