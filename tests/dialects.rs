//! One campaign written in several log dialects gives one campaign summary,
//! each file's dialect recognised by itself.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use pixelsift::dialect::combined;

mod common;
use common::{bin, ok};

fn mint(dir: &Path) -> PathBuf {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let out = dir.join("minted");
    ok(bin()
        .args(["mint", "--base-url", "https://t.example.com"])
        .arg("--recipients")
        .arg(f.join("recipients.csv"))
        .arg("--links")
        .arg(f.join("links.csv"))
        .arg("--secret-file")
        .arg(f.join("secret.key"))
        .arg("--out")
        .arg(&out));
    out
}

struct Hit {
    ip: String,
    ts: chrono::DateTime<chrono::Utc>,
    method: String,
    target: String,
    status: u16,
    bytes: u64,
    ua: String,
}

/// The demo log's lines that parse, as fields.
fn hits() -> Vec<Hit> {
    pixelsift::demo::ACCESS_LOG
        .lines()
        .filter_map(|l| combined::parse(l.as_bytes()).ok())
        .map(|h| Hit {
            ip: String::from_utf8_lossy(&h.ip).into(),
            ts: chrono::DateTime::from_timestamp_micros(h.ts).unwrap(),
            method: String::from_utf8_lossy(&h.method).into(),
            target: String::from_utf8_lossy(&h.target).into(),
            status: h.status,
            bytes: h.bytes.unwrap_or(0),
            ua: String::from_utf8_lossy(&h.user_agent).into(),
        })
        .collect()
}

fn summary(minted: &Path, data: &Path, log: &Path, extra: &[&str]) -> (String, String) {
    let out = ok(bin()
        .arg("ingest")
        .arg("--manifest")
        .arg(minted)
        .arg("--data")
        .arg(data)
        .args(extra)
        .arg(log));
    let csv = ok(bin()
        .args(["report", "campaign-summary", "--format", "csv", "--data"])
        .arg(data));
    (out, csv)
}

#[test]
fn one_campaign_in_every_dialect_gives_one_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let minted = mint(dir);
    let hits = hits();
    assert_eq!(
        hits.len(),
        24,
        "the demo's 27 lines less a blank, a malformed and a bad-time line"
    );

    let mut logs: Vec<(&str, String, Vec<&str>)> = Vec::new();
    logs.push(("combined", pixelsift::demo::ACCESS_LOG.to_string(), vec![]));

    let fmt = r#"$remote_addr [$time_iso8601] "$request_method $request_uri $server_protocol" $status $body_bytes_sent "$http_user_agent" rt=$request_time"#;
    let mut custom = String::new();
    for h in &hits {
        let ua = h.ua.replace('"', "\\x22");
        writeln!(
            custom,
            "{} [{}] \"{} {} HTTP/1.1\" {} {} \"{ua}\" rt=0.001",
            h.ip,
            h.ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
                .replace("Z", "+00:00"),
            h.method,
            h.target,
            h.status,
            h.bytes
        )
        .unwrap();
    }
    logs.push(("log_format", custom, vec!["--log-format", fmt]));

    let mut json = String::new();
    for h in &hits {
        let v = serde_json::json!({
            "msec": format!("{}.000", h.ts.timestamp()), "remote_addr": h.ip, "request_method": h.method,
            "request_uri": h.target, "status": h.status.to_string(), "body_bytes_sent": h.bytes.to_string(),
            "http_referer": "", "http_user_agent": h.ua,
        });
        writeln!(json, "{v}").unwrap();
    }
    logs.push(("nginx-json", json, vec![]));

    let mut caddy = String::new();
    for h in &hits {
        let v = serde_json::json!({"level":"info","ts": h.ts.timestamp() as f64 + 0.25,"logger":"http.log.access","msg":"handled request",
            "request":{"client_ip":h.ip,"method":h.method,"uri":h.target,"headers":{"User-Agent":[h.ua]}},"size":h.bytes,"status":h.status});
        writeln!(caddy, "{v}").unwrap();
    }
    logs.push(("caddy", caddy, vec![]));

    let mut cf = String::from("#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query\n");
    for h in &hits {
        let (stem, query) = h.target.split_once('?').unwrap_or((&h.target, "-"));
        let ua = h.ua.replace(' ', "%20");
        writeln!(
            cf,
            "{}\t{}\tLAX1\t{}\t{}\t{}\tt.example.com\t{stem}\t{}\t-\t{ua}\t{query}",
            h.ts.format("%Y-%m-%d"),
            h.ts.format("%H:%M:%S"),
            h.bytes,
            h.ip,
            h.method,
            h.status
        )
        .unwrap();
    }
    logs.push(("cloudfront", cf, vec![]));

    let mut first: Option<String> = None;
    for (name, text, extra) in &logs {
        let log = dir.join(format!("{name}.log"));
        std::fs::write(&log, text).unwrap();
        let (out, csv) = summary(&minted, &dir.join(format!("data-{name}")), &log, extra);
        assert!(
            out.contains(&format!("as {name}:")),
            "{name} was not recognised:\n{out}"
        );
        match &first {
            None => first = Some(csv),
            Some(want) => assert_eq!(&csv, want, "{name} gives another summary"),
        }
    }
    assert_eq!(
        first.unwrap(),
        "campaign_id,recipients,unique_opens,machine_only_opens,unique_clicks,bot_clicks,open_rate,click_rate,click_to_open_rate,median_seconds_to_open,untracked,open_hits,click_hits,note\n\
         newsletter-47,4,2,1,1,0,0.5,0.25,0.5,900.0,0,2,1,\nspring-sale,10,5,1,2,3,0.5,0.2,0.4,750.0,0,5,2,\n"
    );
}

#[test]
fn client_ip_from_x_forwarded_for_skips_trusted_proxies() {
    let tmp = tempfile::tempdir().unwrap();
    let minted = mint(tmp.path());
    let token = std::fs::read_to_string(minted.join("manifest.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let fmt = r#"$remote_addr [$time_local] "$request" $status $body_bytes_sent "$http_user_agent" "$http_x_forwarded_for""#;
    // The client claims 1.1.1.1; the CDN (10.1.0.0/16) saw 17.58.0.5 and the load balancer (10.0.0.0/16) connected.
    let line = format!("10.0.0.2 [20/Nov/2026:10:02:00 +0100] \"GET /o/{token}.gif HTTP/1.1\" 200 43 \"Mozilla/5.0\" \"1.1.1.1, 17.58.0.5, 10.1.2.3\"\n");
    let log = tmp.path().join("x.log");
    std::fs::write(&log, line).unwrap();
    let data = tmp.path().join("d");
    ok(bin()
        .arg("ingest")
        .arg("--manifest")
        .arg(&minted)
        .arg("--data")
        .arg(&data)
        .args([
            "--log-format",
            fmt,
            "--client-ip",
            "x_forwarded_for",
            "--trusted-proxy",
            "10.0.0.0/16",
            "--trusted-proxy",
            "10.1.0.0/16",
            "--ip-policy",
            "keep",
        ])
        .arg(&log));
    let got = ok(bin()
        .args(["sql", "--format", "csv", "--data"])
        .arg(&data)
        .arg("SELECT ip, class FROM events"));
    assert_eq!(got, "ip,class\n17.58.0.5,apple_mpp\n");
}

#[test]
fn formats_lists_every_dialect() {
    let out = ok(bin().arg("formats"));
    for name in [
        "combined",
        "common",
        "log_format",
        "nginx-json",
        "caddy",
        "cloudflare",
        "json",
        "cloudfront",
        "s3",
        "alb",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{out}"
        );
    }
}
