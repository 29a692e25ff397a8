#!/usr/bin/env bash
# pixelsift ingest beside the tools people would otherwise reach for, on the
# same simulated log, one after the other, page cache warm:
#   cat           reading only
#   mawk          one core splitting fields and counting (a floor for any parser)
#   ClickHouse    embedded (PyPI chdb), Regexp input format -> Parquet, 2 threads
#   DuckDB        (PyPI duckdb), regexp_extract -> Parquet, 2 threads
#   GoAccess      (Debian goaccess), a full report as JSON
#   pixelsift     ingest end to end: parse, join, enrich (GeoIP City and ASN
#                 databases simulate writes for its ranges, user agents),
#                 classify (message pass included), Parquet, commit
# and prints seconds, lines/s, peak memory and the ratios to pixelsift.
#
#   bash benches/compare.sh [LINES] [--install] [--runs N]
#
# Each tool runs N times (3 by default), in rounds of one run of each, and
# its median is what is printed and compared, with the fastest and slowest
# beside it: on a shared machine one run can be 10% off either way.
# GoAccess, 20 times slower than the rest, runs once.
# LINES defaults to 4,300,000 (about 800 MB). --install fetches chdb and
# duckdb with pip and goaccess with apt when missing; without it, missing
# tools are skipped. Needs a release build (cargo build --release), or
# PIXELSIFT_BIN naming another binary (an earlier build, to compare two in
# one sitting). Compare ratios, not absolute figures: machines differ by 2-3x.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pixelsift-target}"
BIN="${PIXELSIFT_BIN:-$CARGO_TARGET_DIR/release/pixelsift}"
LINES=4300000
INSTALL=0
RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --install) INSTALL=1 ;;
    --runs) RUNS="$2"; shift ;;
    *) LINES="$1" ;;
  esac
  shift
done
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
if [ "$INSTALL" = 1 ]; then
  python3 -c 'import chdb' 2>/dev/null || pip install --quiet chdb
  python3 -c 'import duckdb' 2>/dev/null || pip install --quiet duckdb
  command -v goaccess >/dev/null || { apt-get install -y goaccess >/dev/null 2>&1 || sudo apt-get install -y goaccess >/dev/null 2>&1 || true; }
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$BIN" simulate --out "$WORK/sim" --campaigns 3 --recipients 100000 --lines "$LINES" --rotate-lines 1000000000 >/dev/null
LOG="$WORK/sim/logs/access.log"
N=$(wc -l < "$LOG")
BYTES=$(stat -c %s "$LOG")

# run NAME CMD...: one run's wall seconds and peak RSS (MB) from GNU time,
# added to NAME's list.
declare -A TIMES MEM
run() {
  local name="$1"; shift
  # Warmed before each run, not once: here the page cache was seen to drop
  # part of the log between runs, and the tool then paid for reading it.
  cat "$LOG" > /dev/null
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" || { echo "$name failed:" >&2; tail -3 "$WORK/err" >&2; return 0; }
  read -r s kb < "$WORK/time"
  TIMES[$name]="${TIMES[$name]:-} $s"
  MEM[$name]=$(( ${MEM[$name]:-0} > kb / 1024 ? ${MEM[$name]:-0} : kb / 1024 ))
}

RE='^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d+) (\S+) "([^"]*)" "([^"]*)"'
CH=$(cat <<'PY'
import chdb, sys
log, out, rx = sys.argv[1:4]
quoted = rx.replace("\\", "\\\\").replace("'", "\\'")
chdb.query(
    f"INSERT INTO FUNCTION file('{out}', Parquet) "
    f"SELECT * FROM file('{log}', Regexp, 'ip String, ts String, method String, path String, status UInt16, bytes String, referer String, ua String') "
    f"SETTINGS format_regexp = '{quoted}', format_regexp_escaping_rule = 'Raw', format_regexp_skip_unmatched = 1, max_threads = 2"
)
PY
)
DUCK=$(cat <<'PY'
import duckdb, sys
log, out, rx = sys.argv[1:4]
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute(f"""COPY (SELECT regexp_extract(line, '{rx}', ['ip','ts','method','path','status','bytes','referer','ua']) AS r
  FROM read_csv('{log}', columns={{'line':'VARCHAR'}}, delim='\\x01', quote='', escape='', header=false, ignore_errors=true))
  TO '{out}' (FORMAT parquet)""")
PY
)
NAMES=("cat > /dev/null" "mawk field split (1 core)" "ClickHouse (chdb) regexp -> parquet" "DuckDB regexp -> parquet" "GoAccess full report (json)" "pixelsift ingest (end to end)")
echo "input: $N lines, $((BYTES / 1000000)) MB, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $RUNS runs each"
for round in $(seq "$RUNS"); do
  rm -rf "$WORK/ch.parquet" "$WORK/duck.parquet" "$WORK/data"
  run "cat > /dev/null" cat "$LOG"
  command -v mawk >/dev/null && run "mawk field split (1 core)" mawk '{c[$9]++} END {for (k in c) print k, c[k]}' "$LOG"
  python3 -c 'import chdb' 2>/dev/null && run "ClickHouse (chdb) regexp -> parquet" python3 -c "$CH" "$LOG" "$WORK/ch.parquet" "$RE"
  python3 -c 'import duckdb' 2>/dev/null && run "DuckDB regexp -> parquet" python3 -c "$DUCK" "$LOG" "$WORK/duck.parquet" "$RE"
  [ "$round" = 1 ] && command -v goaccess >/dev/null && run "GoAccess full report (json)" goaccess "$LOG" --log-format=COMBINED --no-global-config -o "$WORK/report.json"
  run "pixelsift ingest (end to end)" "$BIN" ingest --manifest "$WORK/sim/minted" --data "$WORK/data" --geoip-dir "$WORK/sim/geoip" "$LOG"
done

# The median of NAME's runs, and its range.
declare -A SECS
for k in "${NAMES[@]}"; do
  [ -n "${TIMES[$k]:-}" ] || continue
  read -r med lo hi < <(echo "${TIMES[$k]}" | tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print m, v[1], v[NR]}')
  SECS[$k]=$med
  printf '%-36s %8.2f s (%.2f-%.2f) %12.0f lines/s %8d MB peak\n' "$k" "$med" "$lo" "$hi" "$(echo "$N / $med" | bc -l)" "${MEM[$k]}"
done
echo
echo "pixelsift's speed as a multiple of each (higher is faster for pixelsift):"
P=${SECS["pixelsift ingest (end to end)"]:-}
[ -n "$P" ] || exit 1
for k in "mawk field split (1 core)" "ClickHouse (chdb) regexp -> parquet" "DuckDB regexp -> parquet" "GoAccess full report (json)"; do
  [ -n "${SECS[$k]:-}" ] && printf '  vs %-36s %5.2fx\n' "$k" "$(echo "${SECS[$k]} / $P" | bc -l)"
done
