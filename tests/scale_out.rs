//! Beyond one machine: logs read from and datasets written to a real
//! S3-compatible server (moto's standalone server on loopback), killed and
//! rerun, and the same reports on a real Ballista scheduler and executor.
//!
//! Needs moto's server (`pip install 'moto[server]'`, which `.ci/run`
//! installs) and `--features ballista` (or `cloud` for the S3 tests).
#![cfg(feature = "cloud")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::{ObjectStore, ObjectStoreExt};

mod common;
use common::{bin, free_port, ingest, mint_demo, run, stdout};

/// A process killed when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{what} is not listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An S3-compatible server on loopback with the buckets `logs` and `data`.
struct S3 {
    port: u16,
    _server: Server,
}

impl S3 {
    fn start() -> S3 {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs moto's server (pip install 'moto[server]'; .ci/run installs it)");
        let mut server = Server(child);
        wait_for_port(port, "moto_server", &mut server.0);
        for bucket in ["logs", "data"] {
            // The server may take the first connections and still be
            // starting: seen in CI, the next connection refused, and once
            // a request answered by a reset. The whole request is tried
            // again until it is answered.
            let t0 = Instant::now();
            let put = || -> std::io::Result<String> {
                let mut s = TcpStream::connect(("127.0.0.1", port))?;
                write!(
                    s,
                    "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )?;
                let mut reply = String::new();
                s.read_to_string(&mut reply)?;
                Ok(reply)
            };
            // A retried request may find the bucket its lost answer made.
            let made =
                |r: &str| r.starts_with("HTTP/1.1 200") || r.contains("BucketAlreadyOwnedByYou");
            let reply = loop {
                match put() {
                    Ok(r) if made(&r) => break r,
                    Ok(_) | Err(_) if t0.elapsed() < Duration::from_secs(20) => {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Ok(r) => break r,
                    Err(e) => panic!("moto_server on {port}, creating {bucket}: {e}"),
                }
            };
            assert!(made(&reply), "creating {bucket}: {reply}");
        }
        S3 {
            port,
            _server: server,
        }
    }

    /// The environment pixelsift (and the object_store crate) reads.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    fn cmd(&self) -> Command {
        let mut c = bin();
        c.envs(self.env());
        c
    }

    fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_endpoint(format!("http://127.0.0.1:{}", self.port))
                .with_allow_http(true)
                .with_access_key_id("testing")
                .with_secret_access_key("testing")
                .with_region("us-east-1")
                .with_bucket_name(bucket)
                .build()
                .unwrap(),
        )
    }

    fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        let store = self.store(bucket);
        rt().block_on(store.put(&key.into(), body.into())).unwrap();
    }

    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        use futures::TryStreamExt;
        let store = self.store(bucket);
        let mut keys: Vec<String> = rt()
            .block_on(store.list(Some(&prefix.into())).try_collect::<Vec<_>>())
            .unwrap()
            .into_iter()
            .map(|m| m.location.to_string())
            .collect();
        keys.sort();
        keys
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text).unwrap();
    e.finish().unwrap()
}

/// The demo log as a rotated pair: the older half gzipped, the rest plain.
fn rotated_demo() -> (Vec<u8>, Vec<u8>) {
    let lines: Vec<&str> = pixelsift::demo::ACCESS_LOG.lines().collect();
    let (old, new) = lines.split_at(lines.len() / 2);
    (
        gzip((old.join("\n") + "\n").as_bytes()),
        (new.join("\n") + "\n").into_bytes(),
    )
}

/// The rotated demo pair under `prefix` in the `logs` bucket and in the
/// local directory `dir/logs`, which is returned.
fn rotated_in_both(s3: &S3, prefix: &str, dir: &Path) -> PathBuf {
    let (old, new) = rotated_demo();
    s3.put("logs", &format!("{prefix}access.log.1.gz"), old.clone());
    s3.put("logs", &format!("{prefix}access.log"), new.clone());
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("access.log.1.gz"), &old).unwrap();
    std::fs::write(logs.join("access.log"), &new).unwrap();
    logs
}

/// Every row of a table through `sql --data` (any storage), sorted, without
/// `source_file` (a path locally, a URL in the bucket).
fn table_rows(mut cmd: Command, data: &str, table: &str) -> Vec<String> {
    let except = if table == "events" || table == "rejects" {
        " EXCEPT (source_file)"
    } else {
        ""
    };
    let out = stdout(&run(cmd
        .args(["sql", "--format", "ndjson", "--data", data])
        .arg(format!("SELECT *{except} FROM {table}"))));
    let mut rows: Vec<String> = out.lines().map(str::to_string).collect();
    rows.sort();
    rows
}

fn all_rows(cmd: impl Fn() -> Command, data: &str) -> Vec<String> {
    let mut all = Vec::new();
    for t in ["events", "rejects", "manifest", "links"] {
        all.extend(
            table_rows(cmd(), data, t)
                .into_iter()
                .map(|r| format!("{t}: {r}")),
        );
    }
    all
}

/// Equal row multisets, or a failure showing the first difference (not
/// thousands of rows).
#[track_caller]
fn same_rows(got: Vec<String>, want: Vec<String>) {
    if got != want {
        let first = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "rows differ: {} vs {} rows; first difference at {first}:\n got: {:?}\nwant: {:?}",
            got.len(),
            want.len(),
            got.get(first),
            want.get(first)
        );
    }
}

/// `report campaign-summary` as CSV on `data`, on `cluster` if given.
fn summary_cmd(mut cmd: Command, data: &str, cluster: Option<&str>) -> Command {
    cmd.args([
        "report",
        "campaign-summary",
        "--format",
        "csv",
        "--data",
        data,
    ]);
    if let Some(c) = cluster {
        cmd.args(["--cluster", c]);
    }
    cmd
}

fn summary(cmd: Command, data: &str, cluster: Option<&str>) -> String {
    stdout(&run(&mut summary_cmd(cmd, data, cluster)))
}

/// Logs in one bucket, dataset in another: the same rows and report as the
/// same files ingested from disk into a local dataset.
#[test]
fn ingest_from_and_to_s3_equals_local() {
    let s3 = S3::start();
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let logs = rotated_in_both(&s3, "cf/2026/11/21/", tmp.path());
    // Under another prefix: must not be read.
    s3.put("logs", "cf/2026/11/22/access.log", rotated_demo().1);
    let local = tmp.path().join("local");
    let local_out = ingest(&m, &local, &[&logs]);

    let data = "s3://data/pixelsift";
    let remote_out = stdout(&run(s3
        .cmd()
        .arg("ingest")
        .arg("--manifest")
        .arg(&m)
        .args(["--data", data, "s3://logs/cf/2026/11/21/"])));
    assert!(
        remote_out.contains("read s3://logs/cf/2026/11/21/access.log as combined: 14 lines")
            && remote_out
                .contains("read s3://logs/cf/2026/11/21/access.log.1.gz as combined: 13 lines"),
        "{remote_out}"
    );
    assert!(!remote_out.contains("2026/11/22"), "{remote_out}");
    let counts = |out: &str| -> Vec<String> {
        out.lines()
            .skip_while(|l| !l.starts_with("lines read"))
            .take_while(|l| !l.starts_with("committed"))
            .map(|l| match l.split_once(" (kept in ") {
                Some((head, _)) => head.to_string(),
                None => l.to_string(),
            })
            .collect()
    };
    assert_eq!(counts(&remote_out), counts(&local_out));
    assert!(remote_out.contains("lines read: 27"), "{remote_out}");
    assert!(
        remote_out.contains("committed as s3://data/pixelsift/_log/00000000000000000001.json"),
        "{remote_out}"
    );

    let local_s = local.to_string_lossy().to_string();
    same_rows(all_rows(|| s3.cmd(), data), all_rows(bin, &local_s));
    assert_eq!(table_rows(s3.cmd(), data, "events").len(), 16);
    assert_eq!(
        summary(s3.cmd(), data, None),
        summary(bin(), &local_s, None)
    );

    // The bucket holds the log and the live files, nothing staged.
    let keys = s3.keys("data", "pixelsift");
    assert!(
        keys.iter()
            .any(|k| k.ends_with("_log/00000000000000000001.json")),
        "{keys:?}"
    );
    assert!(keys.iter().any(|k| k.contains("/events/date=")), "{keys:?}");
    assert!(
        !keys
            .iter()
            .any(|k| k.contains("_staging") || k.contains("_lock")),
        "{keys:?}"
    );

    // Again: the registry in the bucket knows both objects.
    let again = stdout(&run(s3
        .cmd()
        .arg("ingest")
        .arg("--manifest")
        .arg(&m)
        .args(["--data", data, "s3://logs/cf/2026/11/21/"])));
    assert!(again.contains("nothing new"), "{again}");
    assert_eq!(s3.keys("data", "pixelsift"), keys);

    // Erasure reaches the bucket: r01's rows are gone, and so are the
    // objects that held them (same counts as the local forget test). The
    // look-over reads columns with range requests, and only the files it
    // found (the events, the rejects and the manifest copy that name r01,
    // and the events counted with them by the tallies) are downloaded:
    // not the links copy nor the tallies.
    let forget = [
        "forget",
        "--recipient",
        "r01",
        "--campaign",
        "spring-sale",
        "--data",
    ];
    let done = run(s3.cmd().args(forget).arg(data));
    let out = stdout(&done);
    let err = String::from_utf8_lossy(&done.stderr);
    let live = keys.iter().filter(|k| k.ends_with(".parquet")).count();
    assert!(
        err.contains(&format!("checking out 4 of the dataset's {live} files")),
        "{err}\n{keys:?}"
    );
    let local_forget = stdout(&run(bin().args(forget).arg(&local)));
    assert_eq!(out, local_forget);
    same_rows(all_rows(|| s3.cmd(), data), all_rows(bin, &local_s));
    assert_eq!(
        summary(s3.cmd(), data, None),
        summary(bin(), &local_s, None)
    );
    assert!(out.contains("removed from events    3"), "{out}");
    assert!(out.contains("removed from rejects   1"), "{out}");
    assert!(out.contains("removed from manifest  1"), "{out}");
    let left = stdout(&run(s3.cmd().args([
        "sql",
        "--format",
        "csv",
        "--data",
        data,
        "SELECT count(*) AS n FROM events WHERE recipient_id = 'r01' AND campaign_id = 'spring-sale'",
    ])));
    assert_eq!(left, "n\n0\n");
    assert_eq!(table_rows(s3.cmd(), data, "events").len(), 13);
    let after = s3.keys("data", "pixelsift");
    let rewritten: Vec<&String> = keys
        .iter()
        .filter(|k| (k.contains("/events/") || k.contains("/manifest/")) && !after.contains(k))
        .collect();
    assert!(
        !rewritten.is_empty(),
        "the files holding r01 are deleted: {after:?}"
    );
    assert!(after
        .iter()
        .any(|k| k.ends_with("_log/00000000000000000002.json")));

    // Re-classification reads events only, of the days in scope and those
    // the tallies count with them: since `forget` rewrote the 20th, the
    // 21st is counted alone, so it is the one file downloaded. It finds
    // what it finds on the local copy.
    let reclassify = [
        "reclassify",
        "--since",
        "2026-11-21",
        "--format",
        "csv",
        "--data",
    ];
    let done = run(s3.cmd().args(reclassify).arg(data));
    let err = String::from_utf8_lossy(&done.stderr);
    let events = after
        .iter()
        .filter(|k| k.contains("/events/date=2026-11-2") && !k.contains("date=2026-11-20"))
        .count();
    let live = after.iter().filter(|k| k.ends_with(".parquet")).count();
    assert_eq!(events, 1, "{after:?}");
    assert!(
        err.contains(&format!(
            "checking out {events} of the dataset's {live} files"
        )),
        "{err}\n{after:?}"
    );
    assert_eq!(
        stdout(&done),
        stdout(&run(bin().args(reclassify).arg(&local)))
    );
    same_rows(all_rows(|| s3.cmd(), data), all_rows(bin, &local_s));

    // Compaction sorts the two days' events (one file each, in log order)
    // and leaves the rest: it downloads those two. Once sorted, their
    // footers (one range request each) say so, and nothing is downloaded.
    let compact = ["compact", "--data"];
    let done = run(s3.cmd().args(compact).arg(data));
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(
        err.contains(&format!("checking out 2 of the dataset's {live} files")),
        "{err}"
    );
    assert_eq!(stdout(&done), stdout(&run(bin().args(compact).arg(&local))));
    same_rows(all_rows(|| s3.cmd(), data), all_rows(bin, &local_s));
    assert_eq!(
        summary(s3.cmd(), data, None),
        summary(bin(), &local_s, None)
    );
    let again = run(s3.cmd().args(compact).arg(data));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("checking out 0 of the dataset's"), "{err}");
    assert!(stdout(&again).contains("nothing to compact"));
}

/// `purge` on a bucket downloads none of the files it drops, only the
/// events counted with them by the ingest's tallies (the demo's 21st,
/// counted with the 20th): its commit counts them again, as a local
/// purge's does, instead of leaving them to be counted from their rows at
/// every report.
#[test]
fn purge_on_s3_counts_again_the_days_left() {
    use pixelsift::remote::{runtime, RemoteDataset};
    let s3 = S3::start();
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let local = tmp.path().join("local");
    ingest(&m, &local, &[&common::fixtures().join("access.log")]);
    let data = "s3://data/purge";
    run(s3
        .cmd()
        .arg("ingest")
        .arg("--manifest")
        .arg(&m)
        .args(["--data", data])
        .arg(common::fixtures().join("access.log")));
    let purge = ["purge", "--before", "2026-11-21", "--data"];
    let done = run(s3.cmd().args(purge).arg(data));
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(err.contains("checking out 1 of the dataset's"), "{err}");
    assert_eq!(stdout(&done), stdout(&run(bin().args(purge).arg(&local))));
    let local_s = local.to_string_lossy().to_string();
    same_rows(all_rows(|| s3.cmd(), data), all_rows(bin, &local_s));
    // Both purges' records add a tallies file counting the 21st's events.
    let remote = RemoteDataset::with_store(data, s3.store("data")).unwrap();
    let last = runtime().block_on(remote.log()).unwrap().pop().unwrap();
    let counted = |add: &[pixelsift::commit::AddedFile]| -> Vec<String> {
        add.iter()
            .filter(|a| a.path.starts_with("tallies/"))
            .flat_map(|a| a.counts.clone())
            .collect()
    };
    let local_last = pixelsift::commit::Dataset::open(&local)
        .unwrap()
        .log()
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(last.op, "purge");
    let remote_counted = counted(&last.add);
    assert_eq!(remote_counted.len(), 1, "{:?}", last.add);
    assert!(remote_counted[0].starts_with("events/date=2026-11-21/"));
    assert_eq!(counted(&local_last.add).len(), 1, "{:?}", local_last.add);
}

/// The commit protocol itself: two writers that checked out the same log
/// both ingest; the first to publish commits, the second is refused, its
/// uploads are deleted, and on the new log it finds nothing left to take.
#[test]
fn second_writer_on_the_same_log_is_refused_and_finds_nothing_new() {
    use pixelsift::commit::Dataset;
    use pixelsift::pipeline::{ingest, IngestConfig};
    use pixelsift::remote::{runtime, Published, RemoteDataset};
    let s3 = S3::start();
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let log = tmp.path().join("access.log");
    std::fs::write(&log, pixelsift::demo::ACCESS_LOG).unwrap();
    let remote = RemoteDataset::with_store("s3://data/race", s3.store("data")).unwrap();
    let work = |name: &str| {
        let dir = tmp.path().join(name);
        let base = runtime()
            .block_on(remote.checkout(&dir, &["manifest", "links"]))
            .unwrap();
        let manifest = pixelsift::manifest::Manifest::load(&m).unwrap();
        let cfg = IngestConfig::new(
            manifest,
            dir.clone(),
            vec![pixelsift::input::Input::File(log.clone())],
        );
        let ds = Dataset::open(&dir).unwrap();
        let lock = ds.lock(true).unwrap().unwrap();
        let summary = ingest(&cfg, &ds, &lock, None).unwrap();
        (dir, base, summary)
    };
    let (dir_a, base_a, sum_a) = work("a");
    let (dir_b, base_b, sum_b) = work("b");
    assert_eq!((base_a, base_b), (0, 0));
    assert_eq!((sum_a.events, sum_b.events), (16, 16));
    let first = runtime().block_on(remote.publish(&dir_a, base_a)).unwrap();
    assert_eq!(first, Published::Committed(vec![1]));
    let keys_after_a = s3.keys("data", "race");
    let second = runtime().block_on(remote.publish(&dir_b, base_b)).unwrap();
    assert_eq!(second, Published::Conflict(1));
    // B's uploads are gone: the bucket is as A left it.
    assert_eq!(s3.keys("data", "race"), keys_after_a);
    // B again, on the new log: the registry shows A took every line.
    let (dir_c, base_c, sum_c) = work("c");
    assert_eq!(
        (base_c, sum_c.lines, sum_c.events, sum_c.commit),
        (1, 0, 0, None)
    );
    assert_eq!(
        runtime().block_on(remote.publish(&dir_c, base_c)).unwrap(),
        Published::Nothing
    );
    let snap = runtime().block_on(remote.snapshot()).unwrap();
    assert_eq!(snap.last_seq, 1);
    let events: u64 = snap.files["events"].values().map(|f| f.rows).sum();
    assert_eq!(events, 16);
}

/// SIGKILL at random moments of ingests from and to the bucket, then a
/// rerun: exactly the rows of one clean run, and readers never see part of a
/// commit.
#[test]
fn ingest_to_s3_killed_and_rerun_is_exactly_once() {
    let s3 = S3::start();
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let reps = 1000;
    let mut big = Vec::new();
    for _ in 0..reps {
        big.extend_from_slice(pixelsift::demo::ACCESS_LOG.as_bytes());
    }
    let cut = big[..big.len() / 3]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    let (a, b) = big.split_at(cut);
    s3.put("logs", "big/part-1.log.gz", gzip(a));
    s3.put("logs", "big/part-2.log", b.to_vec());
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("part-1.log.gz"), gzip(a)).unwrap();
    std::fs::write(logs.join("part-2.log"), b).unwrap();
    let clean = tmp.path().join("clean");
    ingest(&m, &clean, &[&logs]);
    let clean_s = clean.to_string_lossy().to_string();
    let want = all_rows(bin, &clean_s);
    assert_eq!(table_rows(bin(), &clean_s, "events").len(), 16 * reps);

    // The runs' checkouts go here, where the test can see what killed
    // runs leave behind.
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let checkouts = || {
        std::fs::read_dir(&scratch)
            .unwrap()
            .filter(|e| {
                let e = e.as_ref().unwrap();
                e.file_name()
                    .to_string_lossy()
                    .starts_with("pixelsift-checkout-")
            })
            .count()
    };
    let ingest_cmd = |data: &str| {
        let mut c = s3.cmd();
        c.env("TMPDIR", &scratch)
            .arg("ingest")
            .arg("--manifest")
            .arg(&m)
            .args(["--data", data, "s3://logs/big/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let t0 = Instant::now();
    assert!(ingest_cmd("s3://data/timing").status().unwrap().success());
    let span = t0.elapsed().as_millis() as u64 * 12 / 10 + 1;

    let mut moments = common::Moments::new("kill test");
    eprintln!("span {span} ms");
    let mut generation = 0;
    let data = |g: usize| format!("s3://data/killed-{g}");
    let (mut kills, mut completed, mut trials) = (0, 0, 0);
    while kills < 8 {
        trials += 1;
        assert!(
            trials < 40,
            "only {kills} of {trials} runs were killed mid-way"
        );
        let at = moments.next(span);
        let mut child = ingest_cmd(&data(generation)).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(at));
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap();
            kills += 1;
        }
        let status = child.wait().unwrap();
        let mut q = s3.cmd();
        let out = q
            .args(["sql", "--format", "csv", "--data", &data(generation)])
            .arg("SELECT count(*) AS n FROM events")
            .output()
            .unwrap();
        let n = if out.status.success() {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .nth(1)
                .unwrap_or_default()
                .to_string()
        } else {
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(err.contains("no pixelsift dataset here"), "{err}");
            "0".into()
        };
        assert!(
            n == "0" || n == (16 * reps).to_string(),
            "a reader saw a partial dataset: {n} events"
        );
        if finished || status.success() {
            completed += 1;
            assert_eq!(
                all_rows(|| s3.cmd(), &data(generation)),
                want,
                "after a completed run"
            );
            generation += 1;
        }
    }
    eprintln!(
        "{kills} kills, {completed} runs completed between them, {} checkouts left",
        checkouts()
    );
    assert!(ingest_cmd(&data(generation)).status().unwrap().success());
    // Each run removed the checkouts of the killed ones before it; its own
    // went when it ended.
    assert_eq!(checkouts(), 0, "checkouts of killed runs were left behind");
    same_rows(all_rows(|| s3.cmd(), &data(generation)), want.clone());
    // And once more: nothing new.
    let mut again = ingest_cmd(&data(generation));
    let out = stdout(&run(again.stdout(Stdio::piped())));
    assert!(out.contains("nothing new"), "{out}");
    same_rows(all_rows(|| s3.cmd(), &data(generation)), want);
}

/// Ingest past one machine: independent jobs for different log prefixes,
/// started together against one dataset in the bucket. The big job read the
/// log before the small one committed, so its commit is refused; it reads
/// the new log, ingests again and commits second. Together they equal one
/// local ingest of both prefixes.
#[test]
fn parallel_jobs_on_prefixes_commit_to_one_dataset() {
    let s3 = S3::start();
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let mut big = Vec::new();
    for _ in 0..1500 {
        big.extend_from_slice(pixelsift::demo::ACCESS_LOG.as_bytes());
    }
    // Another edge's log: the same hits in another order (a log that
    // started like edge-a's would be taken for its growth).
    let mut other: Vec<&str> = pixelsift::demo::ACCESS_LOG.lines().collect();
    other.reverse();
    let other = gzip((other.join("\n") + "\n").as_bytes());
    s3.put("logs", "edge-a/2026-11-21.log", big.clone());
    s3.put("logs", "edge-b/2026-11-21.log.gz", other.clone());
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("a.log"), &big).unwrap();
    std::fs::write(logs.join("b.log.gz"), &other).unwrap();
    // Message-level rules see one job's hits: the same two jobs, locally.
    let local = tmp.path().join("local");
    ingest(&m, &local, &[&logs.join("a.log")]);
    ingest(&m, &local, &[&logs.join("b.log.gz")]);
    let local_s = local.to_string_lossy().to_string();

    let data = "s3://data/shared";
    let job = |prefix: &str| {
        s3.cmd()
            .arg("ingest")
            .arg("--manifest")
            .arg(&m)
            .args(["--data", data, prefix])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = job("s3://logs/edge-a/");
    std::thread::sleep(Duration::from_millis(20));
    let b = job("s3://logs/edge-b/");
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let a_err = String::from_utf8_lossy(&a.stderr);
    assert!(
        a_err.contains(
            "another writer committed s3://data/shared/_log/00000000000000000001.json first"
        ),
        "{a_err}"
    );
    assert!(
        stdout(&b).contains("_log/00000000000000000001.json"),
        "{}",
        stdout(&b)
    );
    assert!(
        stdout(&a).contains("_log/00000000000000000002.json"),
        "{}",
        stdout(&a)
    );
    same_rows(all_rows(|| s3.cmd(), data), all_rows(bin, &local_s));
    assert_eq!(table_rows(s3.cmd(), data, "events").len(), 16 * 1501);
}

/// `report` and `sql` with `--cluster` on a real Ballista scheduler and
/// executor (`pixelsift cluster ...`), reading the dataset from the bucket:
/// the same campaign summary as the local dataset made from the same logs.
#[cfg(feature = "ballista")]
#[test]
fn campaign_summary_on_ballista_equals_local() {
    let s3 = S3::start();
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let logs = rotated_in_both(&s3, "cf/", tmp.path());
    let local = tmp.path().join("local");
    ingest(&m, &local, &[&logs]);
    let local_s = local.to_string_lossy().to_string();
    let data = "s3://data/cluster";
    run(s3
        .cmd()
        .arg("ingest")
        .arg("--manifest")
        .arg(&m)
        .args(["--data", data, "s3://logs/cf/"]));

    let sched_port = free_port();
    // Nothing listens there yet: the query must go to the cluster, so it fails.
    let out = summary_cmd(
        s3.cmd(),
        data,
        Some(&format!("df://127.0.0.1:{sched_port}")),
    )
    .output()
    .unwrap();
    assert!(!out.status.success(), "{}", stdout(&out));
    let mut scheduler = Server(
        s3.cmd()
            .args(["cluster", "scheduler", "--bind"])
            .arg(format!("127.0.0.1:{sched_port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(sched_port, "scheduler", &mut scheduler.0);
    let (flight, grpc) = (free_port(), free_port());
    let mut executor = Server(
        s3.cmd()
            .args(["cluster", "executor", "--scheduler"])
            .arg(format!("127.0.0.1:{sched_port}"))
            .args([
                "--port",
                &flight.to_string(),
                "--grpc-port",
                &grpc.to_string(),
            ])
            .args(["--slots", "2"])
            .arg("--work-dir")
            .arg(tmp.path().join("executor"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(flight, "executor", &mut executor.0);
    let cluster = format!("df://127.0.0.1:{sched_port}");

    let want = summary(bin(), &local_s, None);
    assert!(want.lines().count() >= 3, "{want}");
    // The executor registers with the scheduler shortly after it listens.
    let t0 = Instant::now();
    let got = loop {
        let out = summary_cmd(s3.cmd(), data, Some(&cluster))
            .output()
            .unwrap();
        if out.status.success() {
            break stdout(&out);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "report on the cluster failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(got, want);

    // Every named report, not only the summary.
    let list = stdout(&run(bin().args(["report", "--list"])));
    let names: Vec<&str> = list
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with("nightly"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() >= 13, "{names:?}");
    for name in names {
        let local_out = stdout(&run(
            bin().args(["report", name, "--format", "csv", "--data", &local_s])
        ));
        let on_cluster = stdout(&run(s3.cmd().args([
            "report",
            name,
            "--format",
            "csv",
            "--data",
            data,
            "--cluster",
            &cluster,
        ])));
        assert_eq!(on_cluster, local_out, "report {name}");
    }

    // A report limited to one day: the run's tallies span two, so that
    // day's events are counted from their rows, a plan of its own.
    let queries = tmp.path().join("queries");
    std::fs::create_dir_all(&queries).unwrap();
    std::fs::write(
        queries.join("tallied.sql"),
        "-- Tallies of some days.\n-- param since=\n-- param until=\n\
         SELECT campaign_id, recipient_id, kind, class, sum(hits) AS hits, \
         min(first_seconds) AS first_seconds FROM tallies GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    )
    .unwrap();
    let tallied = |mut cmd: Command, data: &str, day: &str, extra: &[&str]| {
        cmd.args(["report", "tallied", "--format", "csv", "--queries"])
            .arg(&queries)
            .args(["--param", &format!("since={day}"), "--param"])
            .arg(format!("until={day}"))
            .args(["--data", data])
            .args(extra);
        stdout(&run(&mut cmd))
    };
    for day in ["2026-11-20", "2026-11-21"] {
        let locally = tallied(bin(), &local_s, day, &[]);
        let on_cluster = tallied(s3.cmd(), data, day, &["--cluster", &cluster]);
        assert_eq!(on_cluster, locally, "{day}");
        assert!(locally.lines().count() >= 3, "{locally}");
    }

    for q in [
        "SELECT kind, class, count(*) AS hits FROM events GROUP BY kind, class ORDER BY kind, class",
        // A join under ORDER BY: Ballista 55 shuffles the sorted join output
        // and merges it as if sorted; pixelsift orders the collected rows.
        "WITH t AS (SELECT campaign_id, count(*) AS n FROM events WHERE kind = 'open' GROUP BY 1), \
         h AS (SELECT campaign_id, 'hidden' AS dimension, class, count(*) AS hits FROM events \
               WHERE kind = 'open' AND class IN ('image_proxy', 'apple_mpp') GROUP BY 1, 2, 3) \
         SELECT h.campaign_id, h.dimension, h.class, h.hits, t.n FROM h JOIN t ON t.campaign_id = h.campaign_id \
         ORDER BY 1, 2, 3",
    ] {
        let mut c = s3.cmd();
        c.args(["sql", "--format", "csv", "--data", data, "--cluster", &cluster, q]);
        let on_cluster = stdout(&run(&mut c));
        let locally = stdout(&run(bin().args(["sql", "--format", "csv", "--data", &local_s, q])));
        assert_eq!(on_cluster, locally, "{q}");
        assert!(locally.lines().count() >= 3, "{locally}");
    }
}
