//! Exactly once: reruns, growth, rotation, concurrent runs and SIGKILL at
//! random moments all leave the dataset as if each line was ingested once;
//! forget, purge and compact change exactly what they say.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{bin, ingest, mint_demo, parquet_files, run, sql, stdout};

fn ingest_cmd(manifest: &Path, data: &Path, logs: &[&Path]) -> Command {
    let mut c = bin();
    c.arg("ingest")
        .arg("--manifest")
        .arg(manifest)
        .arg("--data")
        .arg(data)
        .args(logs);
    c
}

/// Every row of a table as a sorted multiset (see `common::rows`).
fn rows(data: &Path, table: &str, drop: &[&str]) -> Vec<String> {
    common::rows(&data.join(table), drop)
}

fn dataset_rows(data: &Path) -> Vec<String> {
    let mut all = Vec::new();
    for t in ["events", "rejects", "manifest", "links"] {
        all.extend(rows(data, t, &[]).into_iter().map(|r| format!("{t}: {r}")));
    }
    all
}

fn demo_lines() -> Vec<&'static str> {
    pixelsift::demo::ACCESS_LOG.lines().collect()
}

#[test]
fn rerun_adds_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let log = tmp.path().join("access.log");
    std::fs::write(&log, pixelsift::demo::ACCESS_LOG).unwrap();
    let data = tmp.path().join("data");
    ingest(&m, &data, &[&log]);
    let before = dataset_rows(&data);
    assert_eq!(rows(&data, "events", &[]).len(), 16);
    let again = ingest(&m, &data, &[&log]);
    assert!(
        again.contains("lines read: 0") && again.contains("after 27 lines taken by earlier runs"),
        "{again}"
    );
    assert!(again.contains("nothing new"), "{again}");
    assert_eq!(dataset_rows(&data), before);
}

#[test]
fn a_growing_log_continues_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let lines = demo_lines();
    let full: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let clean = tmp.path().join("clean");
    let log = tmp.path().join("access.log");
    std::fs::write(&log, &full).unwrap();
    ingest(&m, &clean, &[&log]);

    // The same file, first with 10 lines and half of the 11th (nginx mid-write).
    let grown = tmp.path().join("grown");
    let first: String = lines[..10].iter().map(|l| format!("{l}\n")).collect();
    let half = &lines[10][..lines[10].len() / 2];
    std::fs::write(&log, format!("{first}{half}")).unwrap();
    let out = ingest(&m, &grown, &[&log]);
    assert!(
        out.contains("10 lines") && out.contains("unfinished last line"),
        "{out}"
    );
    std::fs::write(&log, &full).unwrap();
    let out = ingest(&m, &grown, &[&log]);
    assert!(out.contains("17 lines (after 10 lines taken"), "{out}");
    assert_eq!(rows(&grown, "events", &[]), rows(&clean, "events", &[]));
    assert_eq!(rows(&grown, "rejects", &[]), rows(&clean, "rejects", &[]));
}

/// Asserts that `data` holds the events and rejects one log of `lines`
/// makes, but for where each line came from.
fn same_as_one_log(tmp: &Path, manifest: &Path, data: &Path, lines: &[&str]) {
    let clean = tmp.join("clean");
    let all = tmp.join("all.log");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&all, text).unwrap();
    ingest(manifest, &clean, &[&all]);
    let drop = ["source_file", "source_line"];
    assert_eq!(rows(data, "events", &drop), rows(&clean, "events", &drop));
    assert_eq!(rows(data, "rejects", &drop), rows(&clean, "rejects", &drop));
}

/// Many small inputs in one run, read as one stream, some compressed and
/// one the same file under a second name: the copy adds nothing, and the
/// dataset is the one a single log of every line makes. Over 20 inputs,
/// the summary counts them instead of naming each.
#[test]
fn many_small_inputs_in_one_run_are_each_taken_once() {
    for per_file in [2, 1] {
        small_inputs(per_file);
    }
}

fn small_inputs(per_file: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let lines = demo_lines();
    let text = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
    let dir = tmp.path().join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    let mut logs = Vec::new();
    for (i, part) in lines.chunks(per_file).enumerate() {
        let path = if i % 3 == 0 {
            let p = dir.join(format!("part-{i:02}.log.gz"));
            let mut enc = flate2::write::GzEncoder::new(
                std::fs::File::create(&p).unwrap(),
                flate2::Compression::default(),
            );
            enc.write_all(text(part).as_bytes()).unwrap();
            enc.finish().unwrap();
            p
        } else {
            let p = dir.join(format!("part-{i:02}.log"));
            std::fs::write(&p, text(part)).unwrap();
            p
        };
        logs.push(path);
    }
    let copy = dir.join("copy-of-part-01.log");
    std::fs::copy(&logs[1], &copy).unwrap();
    logs.push(copy);
    let data = tmp.path().join("data");
    let refs: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
    let out = ingest(&m, &data, &refs);
    assert!(
        out.contains(&format!("lines read: {}", lines.len())),
        "{out}"
    );
    let again = ingest(&m, &data, &refs);
    assert!(again.contains("lines read: 0"), "{again}");
    if logs.len() <= 20 {
        assert_eq!(
            out.matches(&format!("after {per_file} lines taken"))
                .count(),
            1,
            "the copy continues its original: {out}"
        );
        assert_eq!(
            again.matches("lines taken by earlier runs").count(),
            logs.len()
        );
    } else {
        assert!(
            out.contains(&format!("read {} files (", logs.len())),
            "{out}"
        );
        assert_eq!(out.matches("read ").count(), 1, "no file named: {out}");
        assert!(
            out.contains("1 of them taken whole by earlier runs, 0 continued"),
            "the copy: {out}"
        );
        assert!(
            again.contains(&format!(
                "{} of them taken whole by earlier runs",
                logs.len()
            )),
            "{again}"
        );
    }

    same_as_one_log(tmp.path(), &m, &data, &lines);
}

#[test]
fn a_rotated_and_compressed_log_is_not_taken_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let lines = demo_lines();
    let (a, b) = lines.split_at(14);
    let text = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
    let dir = tmp.path().join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let data = tmp.path().join("data");
    std::fs::write(&log, text(a)).unwrap();
    ingest(&m, &data, &[&log]);

    // logrotate: access.log -> access.log.1, a new access.log begins.
    let rotated = dir.join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    std::fs::write(&log, text(b)).unwrap();
    let out = ingest(&m, &data, &[&rotated, &log]);
    assert!(out.contains("lines read: 13"), "{out}");
    // Next night: access.log.1 is compressed (delaycompress) and ingested again by a careless glob.
    let gz = dir.join("access.log.1.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(text(a).as_bytes()).unwrap();
    enc.finish().unwrap();
    std::fs::remove_file(&rotated).unwrap();
    let out = ingest(&m, &data, &[&gz, &log]);
    assert!(out.contains("lines read: 0"), "{out}");

    same_as_one_log(tmp.path(), &m, &data, &lines);
}

/// A dataset of format 1 (SHA-256 prefix hashes, no `format` in its
/// records) is read by this pixelsift: a rerun takes nothing, a grown log
/// only its new lines, and the input's record moves to BLAKE3. A record of
/// a format newer than this pixelsift's stops the run by name.
#[test]
fn a_format_1_dataset_continues_and_a_newer_one_is_refused() {
    use sha2::Digest;
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let lines = demo_lines();
    let text = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
    let log = tmp.path().join("access.log");
    let data = tmp.path().join("data");
    std::fs::write(&log, text(&lines[..12])).unwrap();
    ingest(&m, &data, &[&log]);

    // Rewrite the commit as format 1 wrote it: SHA-256 of the prefix taken.
    let rec_path = data.join("_log").join(format!("{:020}.json", 1));
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&rec_path).unwrap()).unwrap();
    assert_eq!(rec["format"], pixelsift::commit::FORMAT);
    let prefix = text(&lines[..12]);
    let input = &mut rec["inputs"][0];
    assert_eq!(input["bytes"], prefix.len() as u64);
    assert_eq!(
        input["prefix_blake3"],
        pixelsift::commit::hex(blake3::hash(prefix.as_bytes()).as_bytes())
    );
    input.as_object_mut().unwrap().remove("prefix_blake3");
    input["prefix_hash"] = pixelsift::commit::hex(&sha2::Sha256::digest(prefix.as_bytes())).into();
    rec.as_object_mut().unwrap().remove("format");
    std::fs::write(&rec_path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();

    let again = ingest(&m, &data, &[&log]);
    assert!(again.contains("lines read: 0"), "{again}");
    std::fs::write(&log, text(&lines)).unwrap();
    let grown = ingest(&m, &data, &[&log]);
    assert!(grown.contains("after 12 lines taken"), "{grown}");
    let clean = tmp.path().join("clean");
    let all = tmp.path().join("all.log");
    std::fs::write(&all, text(&lines)).unwrap();
    ingest(&m, &clean, &[&all]);
    let drop = ["source_file"];
    assert_eq!(rows(&data, "events", &drop), rows(&clean, "events", &drop));
    assert_eq!(
        rows(&data, "rejects", &drop),
        rows(&clean, "rejects", &drop)
    );

    // The grown input's record is BLAKE3 now, and still the same input.
    let newest = pixelsift::commit::Dataset::open(&data)
        .unwrap()
        .snapshot()
        .unwrap();
    let r = &newest.registry[0];
    assert_eq!(newest.registry.len(), 1);
    assert_eq!(r.prefix_hash, "");
    assert_eq!(
        r.prefix_blake3.as_deref(),
        Some(pixelsift::commit::hex(blake3::hash(text(&lines).as_bytes()).as_bytes()).as_str())
    );

    // A record from a newer pixelsift: refused, with the file named.
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&rec_path).unwrap()).unwrap();
    rec["format"] = (pixelsift::commit::FORMAT + 1).into();
    std::fs::write(&rec_path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    let out = ingest_cmd(&m, &data, &[&log]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("00000000000000000001.json")
            && err.contains(&format!("dataset format {}", pixelsift::commit::FORMAT + 1)),
        "{err}"
    );
}

/// A log big enough that an ingest takes a while: the demo lines, repeated.
fn big_log(dir: &Path, reps: usize) -> PathBuf {
    let p = dir.join("big.log");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    for _ in 0..reps {
        f.write_all(pixelsift::demo::ACCESS_LOG.as_bytes()).unwrap();
    }
    f.flush().unwrap();
    p
}

#[test]
fn two_ingests_started_together_take_each_line_once() {
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let log = big_log(tmp.path(), 2000);
    let clean = tmp.path().join("clean");
    ingest(&m, &clean, &[&log]);
    let data = tmp.path().join("data");
    let a = ingest_cmd(&m, &data, &[&log])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = ingest_cmd(&m, &data, &[&log])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let outs = [stdout(&a), stdout(&b)];
    assert_eq!(
        outs.iter().filter(|o| o.contains("nothing new")).count(),
        1,
        "{outs:?}"
    );
    assert_eq!(dataset_rows(&data), dataset_rows(&clean));
    // With --no-wait, a second writer exits with a clear message instead.
    let ds = pixelsift::commit::Dataset::open(&data).unwrap();
    let _held = ds.lock(false).unwrap().expect("free");
    let out = ingest_cmd(&m, &data, &[&log])
        .arg("--no-wait")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another pixelsift is writing to"));
}

#[test]
fn sigkill_at_random_moments_then_rerun_equals_one_clean_run() {
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let reps = 1500;
    let log = big_log(tmp.path(), reps);
    let clean = tmp.path().join("clean");
    let t0 = Instant::now();
    ingest(&m, &clean, &[&log]);
    let span = t0.elapsed().as_millis() as u64 * 12 / 10 + 1;
    let want = dataset_rows(&clean);
    assert_eq!(rows(&clean, "events", &[]).len(), 16 * reps);

    let data = tmp.path().join("data");
    let mut moments = common::Moments::new("kill test");
    eprintln!("span {span} ms");
    let (mut kills, mut completed, mut trials) = (0, 0, 0);
    while kills < 20 {
        trials += 1;
        assert!(
            trials < 80,
            "only {kills} of {trials} runs were killed mid-way"
        );
        let at = moments.next(span);
        let mut child = ingest_cmd(&m, &data, &[&log])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(at));
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let status = child.wait().unwrap();
        // Whatever moment it died at, readers see a whole commit or none.
        let n = if data.join("_log").exists() {
            sql(&data, "SELECT count(*) AS n FROM events")
                .lines()
                .nth(1)
                .map(str::to_string)
                .unwrap_or_default()
        } else {
            "0".into()
        };
        assert!(
            n == "0" || n == (16 * reps).to_string(),
            "a reader saw a partial dataset: {n} events"
        );
        if finished || status.success() {
            // A run that completed took everything: compare, and start again.
            completed += 1;
            assert_eq!(dataset_rows(&data), want, "after a completed run");
            std::fs::remove_dir_all(&data).unwrap();
        }
    }
    eprintln!("{kills} kills, {completed} runs completed between them");
    // Rerun after the last kill: exactly one clean run's rows.
    ingest(&m, &data, &[&log]);
    assert_eq!(dataset_rows(&data), want);
    assert!(
        std::fs::read_dir(data.join("_staging"))
            .unwrap()
            .next()
            .is_none(),
        "staging is cleaned up"
    );
}

#[test]
fn forget_erases_a_person_everywhere_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let log = tmp.path().join("access.log");
    std::fs::write(&log, pixelsift::demo::ACCESS_LOG).unwrap();
    let data = tmp.path().join("data");
    ingest(&m, &data, &[&log]);
    let token = std::fs::read_to_string(m.join("manifest.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let before = dataset_rows(&data);
    let r01: Vec<&String> = before
        .iter()
        .filter(|r| r.contains("\"r01\"") || r.contains(&token))
        .collect();
    // r01: 3 events, 1 reject (the unknown link carries its token), 1 manifest row.
    assert_eq!(r01.len(), 5, "{r01:#?}");

    let out = stdout(&run(bin()
        .args([
            "forget",
            "--recipient",
            "r01",
            "--campaign",
            "spring-sale",
            "--data",
        ])
        .arg(&data)));
    assert!(out.contains("removed from events    3"), "{out}");
    assert!(out.contains("removed from rejects   1"), "{out}");
    assert!(out.contains("removed from manifest  1"), "{out}");
    for t in ["events", "rejects", "manifest"] {
        let q =
            format!("SELECT count(*) AS n FROM {t} WHERE CAST({t}.* AS VARCHAR) LIKE '%{token}%'");
        let q = q.replace(
            &format!("CAST({t}.* AS VARCHAR)"),
            match t {
                "rejects" => "raw_line",
                _ => "token",
            },
        );
        assert_eq!(sql(&data, &q), "n\n0\n", "{t}");
    }
    assert_eq!(
        sql(
            &data,
            "SELECT count(*) AS n FROM events WHERE recipient_id = 'r01'"
        ),
        "n\n0\n"
    );
    let after = dataset_rows(&data);
    let expected: Vec<String> = before
        .iter()
        .filter(|r| !r01.contains(r))
        .cloned()
        .collect();
    assert_eq!(after, expected, "every other row is unchanged");
    // The log records the erasure without the id.
    let log_text: String = std::fs::read_dir(data.join("_log"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(log_text.contains("\"op\": \"forget\"") && !log_text.contains("\"r01\""));
}

/// Several people in one `forget` (an erasure queue) leave what forgetting
/// them one at a time leaves, and the days none of them appeared on are not
/// rewritten.
#[test]
fn forget_of_several_equals_one_at_a_time_and_leaves_other_days_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let log = tmp.path().join("access.log");
    std::fs::write(&log, pixelsift::demo::ACCESS_LOG).unwrap();
    let one_by_one = tmp.path().join("one");
    ingest(&m, &one_by_one, &[&log]);
    let together = tmp.path().join("together");
    ingest(&m, &together, &[&log]);
    let forget = |data: &Path, args: &[&str]| {
        stdout(&run(bin().arg("forget").args(args).arg("--data").arg(data)))
    };
    for who in ["r01", "r04"] {
        forget(&one_by_one, &["--recipient", who]);
    }
    let files = |data: &Path, day: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(data.join("events").join(day))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let (day_r, day_s) = ("date=2026-11-20", "date=2026-11-21");
    let (before_r, before_s) = (files(&together, day_r), files(&together, day_s));
    let queue = tmp.path().join("erase.txt");
    std::fs::write(&queue, "r04\n\n  r01  \nr04\n").unwrap();
    let out = forget(&together, &["--recipients-file", queue.to_str().unwrap()]);
    // r01: 3 events, r04: 2; r01's unknown-link line is the one reject.
    assert!(out.starts_with("2 recipients: 2 token(s)"), "{out}");
    assert!(out.contains("removed from events    5"), "{out}");
    assert!(out.contains("removed from rejects   1"), "{out}");
    assert!(out.contains("removed from manifest  2"), "{out}");
    assert_eq!(dataset_rows(&together), dataset_rows(&one_by_one));
    assert_ne!(files(&together, day_r), before_r, "r01's day is rewritten");
    assert_eq!(
        files(&together, day_s),
        before_s,
        "a day without them is not"
    );
    assert_eq!(
        sql(
            &together,
            "SELECT count(*) AS n FROM events WHERE recipient_id IN ('r01', 'r04')"
        ),
        "n\n0\n"
    );
    let log_text: String = std::fs::read_dir(together.join("_log"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(log_text.contains("recipients_sha256"), "{log_text}");
    assert!(!log_text.contains("\"r01\"") && !log_text.contains("\"r04\""));
    // Nobody left to erase: no commit.
    let again = forget(&together, &["--recipient", "r01", "--recipient", "r04"]);
    assert!(again.contains("nothing to remove"), "{again}");
}

/// (campaign_id, recipient_id, ts) of each row of an events file, in file order.
fn event_keys(p: &Path) -> Vec<(String, String, i64)> {
    use arrow::array::AsArray;
    pixelsift::commit::read_parquet(p)
        .unwrap()
        .iter()
        .flat_map(|b| {
            let c = b
                .column_by_name("campaign_id")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let r = b
                .column_by_name("recipient_id")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let t = b
                .column_by_name("ts")
                .unwrap()
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .clone();
            (0..b.num_rows())
                .map(|i| (c.value(i).to_string(), r.value(i).to_string(), t.value(i)))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn compact_keeps_rows_and_purge_drops_old_days() {
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    let lines = demo_lines();
    let (a, b) = lines.split_at(14);
    let (la, lb) = (tmp.path().join("a.log"), tmp.path().join("b.log"));
    std::fs::write(&la, a.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    std::fs::write(&lb, b.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let data = tmp.path().join("data");
    ingest(&m, &data, &[&la]);
    ingest(&m, &data, &[&lb]);
    let before = rows(&data, "events", &[]);
    let files_before = parquet_files(&data.join("events")).len();
    assert!(parquet_files(&data.join("events"))
        .iter()
        .any(|p| !event_keys(p).is_sorted() && !pixelsift::commit::in_events_order(p).unwrap()));
    let out = stdout(&run(bin().args(["compact", "--data"]).arg(&data)));
    assert!(
        out.contains("compacted") && out.contains("rows unchanged"),
        "{out}"
    );
    assert!(parquet_files(&data.join("events")).len() < files_before);
    assert_eq!(rows(&data, "events", &[]), before);
    // Compacted events are in (campaign, recipient, time) order, and the
    // files say so (they were in time order before); a second compact
    // finds nothing to do.
    for p in parquet_files(&data.join("events")) {
        assert!(
            pixelsift::commit::in_events_order(&p).unwrap(),
            "{}",
            p.display()
        );
        let keys = event_keys(&p);
        assert!(
            keys.len() > 1 && keys.is_sorted(),
            "{}: {keys:?}",
            p.display()
        );
    }
    let out = stdout(&run(bin().args(["compact", "--data"]).arg(&data)));
    assert!(out.contains("nothing to compact"), "{out}");
    assert_eq!(rows(&data, "events", &[]), before);

    // Events fall on 2026-11-20 (spring-sale) and 2026-11-21 (newsletter-47).
    let out = stdout(&run(bin()
        .args(["purge", "--before", "2026-11-21", "--data"])
        .arg(&data)));
    assert!(out.contains("dropped"), "{out}");
    assert_eq!(
        sql(&data, "SELECT DISTINCT campaign_id FROM events"),
        "campaign_id\nnewsletter-47\n"
    );
    assert!(!data
        .join("events/date=2026-11-20")
        .read_dir()
        .map(|mut d| d.next().is_some())
        .unwrap_or(false));
}

#[test]
fn a_truncated_gzip_fails_by_name_or_keeps_what_was_read_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let m = mint_demo(tmp.path());
    // A gzip cut in the middle, as a copy interrupted by a full disk leaves it.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for _ in 0..400 {
        enc.write_all(pixelsift::demo::ACCESS_LOG.as_bytes())
            .unwrap();
    }
    let full = enc.finish().unwrap();
    let gz = tmp.path().join("access.log.2.gz");
    std::fs::write(&gz, &full[..full.len() / 2]).unwrap();
    let data = tmp.path().join("data");
    let out = ingest_cmd(&m, &data, &[&gz]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("access.log.2.gz") && err.contains("reading stopped after"),
        "{err}"
    );
    assert!(
        !data.join("_log").exists()
            || std::fs::read_dir(data.join("_log"))
                .unwrap()
                .next()
                .is_none(),
        "nothing committed"
    );

    let out = stdout(&run(ingest_cmd(&m, &data, &[&gz]).arg("--keep-partial")));
    assert!(
        out.contains("is damaged") && out.contains("--keep-partial"),
        "{out}"
    );
    let n: usize = sql(&data, "SELECT count(*) AS n FROM events")
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        n > 0 && n < 16 * 400,
        "kept {n} events of the part before the damage"
    );
}
