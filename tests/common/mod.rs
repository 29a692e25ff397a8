//! Helpers shared by the integration tests: run the binary, mint the demo
//! campaigns, read Parquet files independently.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `pixelsift` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pixelsift"))
}

/// Runs a command, failing the test with its output if it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("pixelsift runs");
    assert!(
        out.status.success(),
        "pixelsift failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A command's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

/// The bundled demo fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo")
}

/// Mints the demo campaigns with the demo secret into `dir/minted`.
pub fn mint_demo(dir: &Path) -> PathBuf {
    mint_demo_with(dir, "minted", &[])
}

/// Mints the demo campaigns with the demo secret and `extra` flags into `dir/name`.
pub fn mint_demo_with(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let f = fixtures();
    run(bin()
        .args([
            "mint",
            "--base-url",
            "https://t.example.com",
            "--listen",
            "127.0.0.1:8080",
        ])
        .args(extra)
        .arg("--recipients")
        .arg(f.join("recipients.csv"))
        .arg("--links")
        .arg(f.join("links.csv"))
        .arg("--secret-file")
        .arg(f.join("secret.key"))
        .arg("--out")
        .arg(&out)
        .env_remove("PIXELSIFT_SECRET"));
    out
}

/// Every Parquet file under a directory, partitions included.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(parquet_files(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

/// Every row of every Parquet file under `dir`, read with the parquet
/// crate's record API (not Arrow, not DataFusion), as sorted text (a
/// multiset), the partition directory first; `drop` names columns left out.
pub fn rows(dir: &Path, drop: &[&str]) -> Vec<String> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let mut out = Vec::new();
    for p in parquet_files(dir) {
        let part = p
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let r = SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
        for row in r.get_row_iter(None).unwrap() {
            let row = row.unwrap();
            let cells: Vec<String> = row
                .get_column_iter()
                .filter(|(n, _)| !drop.contains(&n.as_str()))
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            out.push(format!("{part} {}", cells.join(" ")));
        }
    }
    out.sort();
    out
}

/// Runs a command and returns its stdout, failing the test if it fails.
pub fn ok(cmd: &mut Command) -> String {
    stdout(&run(cmd))
}

/// The nginx binary, if installed.
pub fn nginx_binary() -> Option<PathBuf> {
    let candidates = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"];
    if let Some(p) = candidates.iter().map(PathBuf::from).find(|p| p.exists()) {
        return Some(p);
    }
    let found = Command::new("sh")
        .args(["-c", "command -v nginx"])
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&found.stdout).trim().to_string();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// `pixelsift ingest --manifest M --data D LOGS...`, failing the test if it fails; its stdout.
pub fn ingest(manifest: &Path, data: &Path, logs: &[&Path]) -> String {
    ok(bin()
        .arg("ingest")
        .arg("--manifest")
        .arg(manifest)
        .arg("--data")
        .arg(data)
        .args(logs))
}

/// A query's result as CSV.
pub fn sql(data: &Path, q: &str) -> String {
    ok(bin()
        .args(["sql", "--format", "csv", "--data"])
        .arg(data)
        .arg(q))
}

/// A free TCP port on loopback (free when asked; tests bind it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Random moments for kill tests: xorshift64 seeded from the clock, with the
/// seed printed so a failure can be replayed.
pub struct Moments(u64);

impl Moments {
    /// Seeded from the clock; prints the seed.
    pub fn new(what: &str) -> Moments {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("{what} seed {seed}");
        Moments(seed)
    }

    /// The next moment in `0..span` milliseconds.
    pub fn next(&mut self, span: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % span
    }
}

/// Asserts that `tallies` says what the events say: per campaign, person,
/// kind and class, the hits, the least seconds since sent, the first and
/// the last hit. Gives the events' figures.
pub fn assert_tallies_match(data: &Path) -> String {
    let by = "GROUP BY campaign_id, recipient_id, kind, class ORDER BY 1, 2, 3, 4";
    let from_events = sql(
        data,
        &format!(
            "SELECT campaign_id, recipient_id, kind, class, count(*) AS hits, \
             min(seconds_since_sent) AS first_seconds, min(ts) AS first_ts, max(ts) AS last_ts \
             FROM events {by}"
        ),
    );
    let from_tallies = sql(
        data,
        &format!(
            "SELECT campaign_id, recipient_id, kind, class, sum(hits) AS hits, \
             min(first_seconds) AS first_seconds, min(first_ts) AS first_ts, max(last_ts) AS last_ts \
             FROM tallies {by}"
        ),
    );
    assert_eq!(from_tallies, from_events);
    from_events
}
