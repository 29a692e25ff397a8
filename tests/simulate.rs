//! `simulate` writes what it says, and ingest sees it as it is.

mod common;

use common::{bin, ingest, ok, sql};

#[test]
fn ingest_of_a_simulated_send_matches_its_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sim");
    ok(bin()
        .args([
            "simulate",
            "--campaigns",
            "2",
            "--recipients",
            "500",
            "--lines",
            "30000",
            "--rotate-lines",
            "12000",
            "--seed",
            "3",
            "--out",
        ])
        .arg(&out));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("truth.json")).unwrap()).unwrap();
    let t = |k: &str| truth["truth"][k].as_u64().unwrap_or(0);
    let lines = truth["lines"].as_u64().unwrap();
    let logs: Vec<String> = std::fs::read_dir(out.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(logs.contains(&"access.log.2.gz".to_string()), "{logs:?}");
    let data = tmp.path().join("data");
    ingest(&out.join("minted"), &data, &[&out.join("logs")]);
    let got = sql(
        &data,
        "SELECT kind || '/' || class AS k, count(*) AS n FROM events GROUP BY 1 \
         UNION ALL SELECT 'reject/' || reason, count(*) FROM rejects GROUP BY 1 ORDER BY 1",
    );
    let n = |k: &str| -> u64 {
        got.lines()
            .find(|l| l.starts_with(&format!("{k},")))
            .map_or(0, |l| l.split(',').nth(1).unwrap().parse().unwrap())
    };
    let events_and_rejects: u64 = got
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        events_and_rejects + t("other_path"),
        lines,
        "every line is accounted for:\n{got}"
    );
    assert_eq!(n("reject/malformed_line"), t("malformed"));
    assert_eq!(n("reject/unknown_token"), t("unknown_token"));
    assert_eq!(n("open/apple_mpp"), t("mpp_open"));
    assert_eq!(n("open/image_proxy"), t("proxy_open"));
    assert_eq!(n("click/crawler"), t("crawler_click"));
    // A person whose session happens to fall within seconds of their
    // gateway's scan is counted with the scan: a handful at most, and never
    // the other way round.
    let close = |got: u64, want: u64| got <= want && want - got <= want / 100 + 3;
    assert!(close(n("open/human"), t("human_open")), "{got}\n{truth}");
    assert!(close(n("click/human"), t("human_click")), "{got}\n{truth}");
    assert!(
        n("click/scanner") >= t("scanner_click") && n("open/scanner") >= t("scanner_open"),
        "{got}\n{truth}"
    );

    // With the GeoIP databases simulate writes, every event gets a place
    // and a network, Apple's prefetches are Apple's, and no verdict moves.
    let geo_data = tmp.path().join("data-geo");
    ok(bin()
        .arg("ingest")
        .arg("--manifest")
        .arg(out.join("minted"))
        .arg("--data")
        .arg(&geo_data)
        .arg("--geoip-dir")
        .arg(out.join("geoip"))
        .arg(out.join("logs")));
    assert_eq!(
        sql(
            &geo_data,
            "SELECT count(*) FILTER (WHERE country IS NULL OR city IS NULL OR time_zone IS NULL \
             OR asn IS NULL OR as_org IS NULL) AS missing, count(*) > 0 AS some FROM events"
        ),
        "missing,some\n0,true\n"
    );
    assert_eq!(
        sql(
            &geo_data,
            "SELECT DISTINCT asn, city FROM events WHERE class = 'apple_mpp'"
        ),
        "asn,city\n714,Cupertino\n"
    );
    assert_eq!(
        sql(
            &geo_data,
            "SELECT kind || '/' || class AS k, count(*) AS n FROM events GROUP BY 1 \
             UNION ALL SELECT 'reject/' || reason, count(*) FROM rejects GROUP BY 1 ORDER BY 1",
        ),
        got
    );
}
