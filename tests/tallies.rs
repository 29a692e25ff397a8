//! `tallies`: each events file's hits counted per person, kind and class,
//! kept beside it through every change to the dataset, and read by
//! `campaign-summary` with the same answers as the events would give.

mod common;

use std::path::Path;

use common::{assert_tallies_match, bin, ingest, ok, parquet_files, sql};

/// The dataset's files of `table`, as they are on disk.
fn files(data: &Path, table: &str) -> Vec<String> {
    let mut names: Vec<String> = parquet_files(&data.join(table))
        .iter()
        .map(|p| {
            p.strip_prefix(data.join(table))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Every live events file is counted by one live tallies file, and the
/// tallies files on disk are the live ones.
fn assert_counted(data: &Path) {
    let snap = pixelsift::commit::Dataset::open(data)
        .unwrap()
        .snapshot()
        .unwrap();
    let tallies = snap.table_files("tallies", None);
    let mut counted: Vec<String> = tallies.iter().flat_map(|t| t.counts.clone()).collect();
    counted.sort();
    let events: Vec<String> = snap
        .table_files("events", None)
        .iter()
        .map(|f| f.path.clone())
        .collect();
    assert!(!events.is_empty());
    assert_eq!(counted, events);
    let live: Vec<String> = tallies
        .iter()
        .map(|t| t.path.trim_start_matches("tallies/").to_string())
        .collect();
    assert_eq!(files(data, "tallies"), live);
}

fn summary(data: &Path) -> String {
    ok(bin()
        .args(["report", "campaign-summary", "--format", "csv", "--data"])
        .arg(data))
}

fn simulated(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("sim");
    ok(bin()
        .args([
            "simulate",
            "--campaigns",
            "2",
            "--recipients",
            "400",
            "--lines",
            "20000",
            "--rotate-lines",
            "8000",
            "--seed",
            "11",
            "--out",
        ])
        .arg(&out));
    out
}

#[test]
fn a_run_without_events_leaves_no_tallies() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = simulated(tmp.path());
    let log = tmp.path().join("junk.log");
    std::fs::write(&log, "not a log line\nnor this one\n").unwrap();
    let data = tmp.path().join("data");
    let out = ingest(&sim.join("minted"), &data, &[&log]);
    assert!(out.contains("rejects:  2"), "{out}");
    assert!(files(&data, "tallies").is_empty());
    assert_eq!(sql(&data, "SELECT count(*) AS n FROM tallies"), "n\n0\n");
}

#[test]
fn tallies_follow_every_change_and_give_the_events_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = simulated(tmp.path());
    let data = tmp.path().join("data");
    // Two runs: the oldest rotated log, then the rest.
    ingest(
        &sim.join("minted"),
        &data,
        &[&sim.join("logs").join("access.log.2.gz")],
    );
    ingest(&sim.join("minted"), &data, &[&sim.join("logs")]);
    assert_counted(&data);
    let counted = assert_tallies_match(&data);
    let rows = |table: &str| -> u64 {
        let n = sql(&data, &format!("SELECT count(*) AS n FROM {table}"));
        n.lines().nth(1).unwrap().parse().unwrap()
    };
    let (events, tallies) = (rows("events"), rows("tallies"));
    assert!(
        tallies * 2 < events,
        "{tallies} tallies for {events} events"
    );
    let before = summary(&data);

    // A report limited to some days reads tallies only where they count
    // nothing else (a run's tallies span its days), and counts the rest of
    // those days' events from their rows: the same as the events of those
    // days say.
    let queries = tmp.path().join("queries");
    std::fs::create_dir_all(&queries).unwrap();
    let by = "GROUP BY campaign_id, recipient_id, kind, class ORDER BY 1, 2, 3, 4";
    std::fs::write(
        queries.join("tallied.sql"),
        format!(
            "-- Tallies of some days.\n-- param since=\n-- param until=\n\
             SELECT campaign_id, recipient_id, kind, class, sum(hits) AS hits FROM tallies {by}"
        ),
    )
    .unwrap();
    let days = files(&data, "events");
    let day = days[days.len() / 2]
        .split('/')
        .next()
        .unwrap()
        .trim_start_matches("date=")
        .to_string();
    let ranged = ok(bin()
        .args(["report", "tallied", "--format", "csv", "--param"])
        .arg(format!("since={day}"))
        .arg("--param")
        .arg(format!("until={day}"))
        .arg("--queries")
        .arg(&queries)
        .arg("--data")
        .arg(&data));
    let of_day = sql(
        &data,
        &format!(
            "SELECT campaign_id, recipient_id, kind, class, count(*) AS hits FROM events \
             WHERE date_trunc('day', ts) = TIMESTAMP '{day}T00:00:00Z' {by}"
        ),
    );
    assert!(of_day.lines().count() > 10, "{of_day}");
    assert_eq!(ranged, of_day);

    // Without tallies (a dataset written before them), the same answers:
    // the events files lacking theirs are counted from their rows.
    let kept = files(&data, "tallies").len();
    let dropped: Vec<String> = files(&data, "tallies")
        .into_iter()
        .step_by(2)
        .map(|f| format!("tallies/{f}"))
        .collect();
    {
        let ds = pixelsift::commit::Dataset::open(&data).unwrap();
        let lock = ds.lock(true).unwrap().unwrap();
        ds.begin(&lock)
            .unwrap()
            .commit(
                "test",
                dropped.clone(),
                Vec::new(),
                None,
                serde_json::json!({}),
            )
            .unwrap();
    }
    assert!(kept > dropped.len() && !dropped.is_empty(), "{kept} files");
    assert_eq!(files(&data, "tallies").len(), kept - dropped.len());
    assert_tallies_match(&data);
    assert_eq!(summary(&data), before);

    // `compact` rewrites every events file, and each new one gets its tallies.
    ok(bin().args(["compact", "--data"]).arg(&data));
    assert_counted(&data);
    assert_eq!(assert_tallies_match(&data), counted);
    assert_eq!(summary(&data), before);

    // `forget` leaves no trace of the person in tallies either.
    let who = sql(
        &data,
        "SELECT recipient_id FROM events WHERE kind = 'open' ORDER BY recipient_id LIMIT 1",
    );
    let who = who.lines().nth(1).unwrap().to_string();
    // Read from the files themselves, not through the tables.
    let kept = |data: &Path| {
        common::rows(&data.join("tallies"), &[])
            .iter()
            .filter(|r| r.contains(&format!("recipient_id=\"{who}\"")))
            .count()
    };
    assert!(kept(&data) > 0);
    ok(bin()
        .args(["forget", "--recipient", &who, "--data"])
        .arg(&data));
    assert_counted(&data);
    assert_tallies_match(&data);
    assert_eq!(kept(&data), 0, "{who} is still in tallies");
    assert_eq!(
        sql(
            &data,
            &format!("SELECT count(*) AS n FROM tallies WHERE recipient_id = '{who}'")
        ),
        "n\n0\n"
    );

    // `purge` drops a day's tallies with its events.
    let days = files(&data, "events");
    let last = days.last().unwrap().split('/').next().unwrap().to_string();
    let last_day = last.trim_start_matches("date=");
    ok(bin()
        .args(["purge", "--before", last_day, "--data"])
        .arg(&data));
    assert_counted(&data);
    assert!(files(&data, "events").iter().all(|f| f.starts_with(&last)));
    assert_tallies_match(&data);
}
