#!/usr/bin/env bash
# How ingest's cost and memory grow with the input: one simulated send per
# size (100,000 recipients x 3 campaigns, the same mix of humans, proxies,
# prefetches, scanners and noise at every size), each ingested with GeoIP
# after its log is read once to warm the page cache. Prints wall seconds,
# lines/s, CPU microseconds per line (user + system) and peak memory.
#
#   bash benches/scale.sh [--dir DIR] [SIZE...]
#
# SIZES default to 1,000,000 10,000,000 50,000,000 lines (the largest takes
# 9.5 GB of disk). Sends are simulated into DIR (default: a temporary
# directory, removed at the end) and reused when DIR already has them, so
# two builds can be measured on the same logs: PIXELSIFT_BIN names the
# binary (default: the release build).
#
# Each size must be its own send: the first N lines of a bigger log are not
# a smaller send. The campaigns go out on successive days, and until one is
# sent its messages' share of the log is noise, so the first 10 M lines of
# the 50 M-line log hold 50% hits where the whole log holds 84%, and cost
# less per line.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pixelsift-target}"
BIN="${PIXELSIFT_BIN:-$CARGO_TARGET_DIR/release/pixelsift}"
DIR=""
SIZES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    *) SIZES+=("$1"); shift ;;
  esac
done
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000 10000000 50000000)
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
if [ -z "$DIR" ]; then
  DIR="$(mktemp -d)"
  trap 'rm -rf "$DIR"' EXIT
fi
mkdir -p "$DIR"
printf '%12s %9s %12s %12s %10s\n' lines seconds lines/s "CPU us/line" "peak MB"
for n in "${SIZES[@]}"; do
  sim="$DIR/sim-$n"
  if [ ! -f "$sim/logs/access.log" ]; then
    rm -rf "$sim"
    "$BIN" simulate --out "$sim" --campaigns 3 --recipients 100000 --lines "$n" --rotate-lines 1000000000 >/dev/null
  fi
  cat "$sim/logs/access.log" > /dev/null
  rm -rf "$DIR/data"
  /usr/bin/time -f '%e %U %S %M' -o "$DIR/time" "$BIN" ingest --manifest "$sim/minted" --data "$DIR/data" \
    --geoip-dir "$sim/geoip" "$sim/logs/access.log" >/dev/null 2>"$DIR/err" || { tail -3 "$DIR/err" >&2; exit 1; }
  read -r wall user sys kb < "$DIR/time"
  printf '%12d %9.2f %12.0f %12.2f %10d\n' "$n" "$wall" "$(echo "$n / $wall" | bc -l)" \
    "$(echo "($user + $sys) * 1000000 / $n" | bc -l)" $((kb / 1024))
  rm -rf "$DIR/data"
done
