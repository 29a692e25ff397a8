#!/usr/bin/env bash
# `pixelsift report NAME` beside DuckDB running the same SQL on the same
# Parquet files, alternately, page cache warm: seconds of each run, the
# medians and their ratio.
#
#   bash benches/report.sh DATA [NAME] [RUNS]
#
# DATA is a dataset (for the issue's figure, the 50 M-line send
# `benches/scale.sh` makes, ingested once); NAME defaults to
# campaign-summary, RUNS to 3. DuckDB (PyPI duckdb) reads each table as the
# files the commit log names (what pixelsift reads), with the report's
# parameters at their defaults. Needs a release build, or PIXELSIFT_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pixelsift-target}"
BIN="${PIXELSIFT_BIN:-$CARGO_TARGET_DIR/release/pixelsift}"
DATA="${1:?usage: bash benches/report.sh DATA [NAME] [RUNS]}"
NAME="${2:-campaign-summary}"
RUNS="${3:-3}"
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
python3 -c 'import duckdb' 2>/dev/null || pip install --quiet duckdb

exec python3 - "$BIN" "$DATA" "$NAME" "$RUNS" <<'EOF'
import glob, json, os, re, statistics, subprocess, sys, time
import duckdb

bin_, data, name, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sql = open(f"queries/{name}.sql").read()
params = dict(re.findall(r"^-- param (\w+)=(.*)$", sql, re.M))

# The live files of each table, replaying the commit log as pixelsift does.
live = {}
for rec in sorted(glob.glob(os.path.join(data, "_log", "*.json"))):
    r = json.load(open(rec))
    for p in r["remove"]:
        live.pop(p, None)
    for a in r["add"]:
        live[a["path"]] = a
tables = {}
for p in live:
    tables.setdefault(p.split("/")[0], []).append(os.path.join(data, p))

con = duckdb.connect()
con.execute("SET threads = 2")
for t, files in tables.items():
    con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet({files!r})")
ours, theirs = [], []
for _ in range(runs):
    t0 = time.perf_counter()
    subprocess.run([bin_, "report", name, "--format", "csv", "--data", data],
                   check=True, stdout=subprocess.DEVNULL)
    ours.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).fetchall()
    theirs.append(time.perf_counter() - t0)
rows = {t: sum(live[p]["rows"] for p in live if p.startswith(t + "/")) for t in tables}
print(f"{name} over {data}: " + ", ".join(f"{t} {n:,} rows" for t, n in sorted(rows.items())))
print("pixelsift  " + "  ".join(f"{s:.2f}" for s in ours) + f"   median {statistics.median(ours):.2f} s")
print("DuckDB     " + "  ".join(f"{s:.2f}" for s in theirs) + f"   median {statistics.median(theirs):.2f} s")
print(f"pixelsift / DuckDB: {statistics.median(ours) / statistics.median(theirs):.2f}")
EOF
