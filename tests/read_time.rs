//! The read-time report on a hand-written log, counted by hand.

mod common;

use common::{bin, ingest, mint_demo, ok, sql};

const TBIRD: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0";
const GIMG: &str =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";

#[test]
fn read_time_report_equals_the_hand_count() {
    let tmp = tempfile::tempdir().unwrap();
    let minted = mint_demo(tmp.path());
    let urls = std::fs::read_to_string(minted.join("urls.csv")).unwrap();
    let token = |rid: &str| -> String {
        urls.lines()
            .find(|l| l.split(',').nth(1) == Some(rid))
            .unwrap()
            .split(',')
            .nth(3)
            .unwrap()
            .to_string()
    };
    // A whole 60-second image, as mint --read-time writes it.
    let whole = pixelsift::readtime::read_time_gif(60).len();
    let line = |ip: &str,
                hms: &str,
                kind: &str,
                rid: &str,
                bytes: usize,
                ua: &str,
                rt: Option<f64>| {
        let rt = rt.map(|r| format!(" rt={r:.3}")).unwrap_or_default();
        format!("{ip} - - [20/Nov/2026:{hms} +0000] \"GET /{kind}/{}.gif HTTP/1.1\" 200 {bytes} \"-\" \"{ua}\"{rt}\n", token(rid))
    };
    let log = [
        // Variant A: five people, every read measured.
        line("203.0.113.1", "10:00:00", "o", "r01", 43, TBIRD, None),
        line("203.0.113.1", "10:00:01", "t", "r01", 300, TBIRD, Some(0.8)), // glance
        line("203.0.113.3", "10:00:00", "o", "r03", 43, TBIRD, None),
        line(
            "203.0.113.3",
            "10:00:03",
            "t",
            "r03",
            1024,
            TBIRD,
            Some(3.0),
        ), // skim
        line("203.0.113.5", "10:00:00", "o", "r05", 43, TBIRD, None),
        line(
            "203.0.113.5",
            "10:00:08",
            "t",
            "r05",
            2304,
            TBIRD,
            Some(8.0),
        ), // skim (8 s is not over 8)
        line("203.0.113.7", "10:00:00", "o", "r07", 43, TBIRD, None),
        line(
            "203.0.113.7",
            "10:00:13",
            "t",
            "r07",
            3456,
            TBIRD,
            Some(12.5),
        ), // read
        line("203.0.113.9", "10:00:00", "o", "r09", 43, TBIRD, None),
        line(
            "203.0.113.9",
            "10:01:01",
            "t",
            "r09",
            whole,
            TBIRD,
            Some(61.02),
        ), // read, capped at 60
        // Variant B.
        line("203.0.113.2", "11:00:00", "o", "r02", 43, TBIRD, None),
        line(
            "203.0.113.2",
            "11:00:00",
            "t",
            "r02",
            whole,
            TBIRD,
            Some(0.004),
        ), // whole at once: not measured
        line("203.0.113.4", "11:00:00", "o", "r04", 43, TBIRD, None), // no read-time hit: blocked
        line("66.249.84.10", "11:00:00", "o", "r06", 43, GIMG, None), // proxy
        line(
            "66.249.84.10",
            "11:00:00",
            "t",
            "r06",
            whole,
            GIMG,
            Some(0.001),
        ),
        line(
            "17.58.63.10",
            "11:00:00",
            "o",
            "r08",
            43,
            "Mozilla/5.0",
            None,
        ), // Apple's prefetch
        line(
            "17.58.63.10",
            "11:00:00",
            "t",
            "r08",
            whole,
            "Mozilla/5.0",
            Some(0.001),
        ),
        line("203.0.113.10", "11:00:00", "o", "r10", 43, TBIRD, None),
        line(
            "203.0.113.10",
            "11:00:02",
            "t",
            "r10",
            512,
            TBIRD,
            Some(1.5),
        ), // glance
    ]
    .concat();
    std::fs::write(tmp.path().join("access.log"), log).unwrap();
    let data = tmp.path().join("data");
    ingest(&minted, &data, &[&tmp.path().join("access.log")]);

    let rep = ok(bin()
        .args([
            "report",
            "read-time",
            "--format",
            "csv",
            "--param",
            "campaign=spring-sale",
            "--data",
        ])
        .arg(&data));
    assert_eq!(
        rep,
        "campaign_id,variant,human_opens,measured,glance_share,skim_share,read_share,median_read_seconds,blocked,whole,proxy_opens,mpp_opens\n\
         spring-sale,A,5,5,0.2,0.4,0.4,8.0,0,0,0,0\n\
         spring-sale,B,3,1,1.0,0.0,0.0,1.5,1,1,1,1\n"
    );
    // A read hit is stamped when the message was opened: nginx logged r07's
    // at 10:00:13 after 12.5 s, so it began at 10:00:00.5.
    let ts = sql(
        &data,
        "SELECT ts, read_seconds FROM events WHERE kind = 'read' AND recipient_id = 'r07'",
    );
    assert_eq!(ts, "ts,read_seconds\n2026-11-20T10:00:00.500Z,12.5\n");
}
