#!/usr/bin/env bash
# End-to-end throughput of `pixelsift ingest` beside baselines measured in
# the same run on the same file: `cat` (reading), mawk (a one-core field
# split) and, when installed, DuckDB (regexp parse to Parquet).
#
#   bash benches/compare.sh [REPEATS]     (REPEATS x the 27-line demo log; default 40000 = 1.08 M lines)
#
# Needs a release build (cargo build --release). Ratios, not absolute
# figures, are what carry from one machine to another.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pixelsift-target}"
BIN="$CARGO_TARGET_DIR/release/pixelsift"
REPEATS="${1:-40000}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$BIN" demo --keep "$WORK/demo" >/dev/null
LOG="$WORK/access.log"
python3 -c 'import sys; d = open(sys.argv[1]).read(); open(sys.argv[2], "w").write(d * int(sys.argv[3]))' "$WORK/demo/inputs/access.log" "$LOG" "$REPEATS"
LINES=$(wc -l < "$LOG")
BYTES=$(stat -c %s "$LOG")
cat "$LOG" > /dev/null   # warm the page cache

secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
row() { printf '%-34s %8.3f s %12.0f lines/s %8.1f MB/s\n' "$1" "$2" "$(echo "$LINES / $2" | bc -l)" "$(echo "$BYTES / 1000000 / $2" | bc -l)"; }

echo "input: $LINES lines, $BYTES bytes, $(nproc) cores"
T_CAT=$(secs cat "$LOG"); row "cat > /dev/null" "$T_CAT"
if command -v mawk >/dev/null; then T_AWK=$(secs mawk '{c[$9]++} END {for (k in c) print k, c[k]}' "$LOG"); row "mawk field split (1 core)" "$T_AWK"; fi
if python3 -c 'import duckdb' 2>/dev/null; then
  T_DUCK=$(secs python3 - "$LOG" "$WORK/duck.parquet" <<'PY'
import duckdb, sys
duckdb.sql(f"""COPY (SELECT regexp_extract(line, '^(\\S+) \\S+ \\S+ \\[([^\\]]+)\\] "(\\S+) (\\S+) [^"]*" (\\d+) (\\S+) "([^"]*)" "([^"]*)"', ['ip','ts','method','path','status','bytes','referer','ua']) AS r
  FROM read_csv('{sys.argv[1]}', columns={{'line':'VARCHAR'}}, delim='\\x01', quote='', header=false)) TO '{sys.argv[2]}' (FORMAT parquet)""")
PY
); row "duckdb regexp -> parquet" "$T_DUCK"
fi
T_PS=$(secs "$BIN" ingest --manifest "$WORK/demo/minted" --data "$WORK/data" --geoip-city "$WORK/demo/inputs/fixture-city.mmdb" --geoip-asn "$WORK/demo/inputs/fixture-asn.mmdb" "$LOG")
row "pixelsift ingest (end to end)" "$T_PS"
echo
echo "ratios (higher is faster for pixelsift):"
[ -n "${T_AWK:-}" ] && printf '  vs mawk:   %.2fx\n' "$(echo "$T_AWK / $T_PS" | bc -l)"
[ -n "${T_DUCK:-}" ] && printf '  vs duckdb: %.2fx\n' "$(echo "$T_DUCK / $T_PS" | bc -l)"
printf '  cat / pixelsift time: %.3f\n' "$(echo "$T_CAT / $T_PS" | bc -l)"
