//! Throughput of each stage: parsing per dialect, user-agent work with and
//! without the per-UA cache, classification, Parquet writing of events, and
//! ingest end to end on a simulated send (`pixelsift simulate`).
//!
//! ```sh
//! cargo bench --bench ingest
//! ```
//! Figures are lines (items) and bytes per second; compare stages within
//! one run, since absolute speeds vary between machines.

use std::fmt::Write as _;
use std::sync::Arc;

use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use pixelsift::classify::{Classifier, Features, RoleSet};
use pixelsift::dialect::{json::JsonMap, log_format, Dialect};
use pixelsift::enrich::agent::AgentParser;
use pixelsift::track::Kind;

fn main() {
    divan::main();
}

const UAS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
];
const N: usize = 20_000;

/// `N` lines of one dialect, each a pixel or click hit with its own token.
fn lines(dialect: &str) -> (Dialect, Vec<u8>) {
    let mut s = String::new();
    if dialect == "cloudfront" {
        s.push_str("#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query\n");
    }
    for i in 0..N {
        let ip = format!("203.0.{}.{}", (i / 250) % 250, i % 250 + 1);
        let path = if i.is_multiple_of(5) {
            format!("/c/tok{i:019}/l-shop")
        } else {
            format!("/o/tok{i:019}.gif")
        };
        let ua = UAS[i % UAS.len()];
        let (m, sec) = ((i / 60) % 60, i % 60);
        match dialect {
            "combined" => writeln!(s, r#"{ip} - - [20/Nov/2026:10:{m:02}:{sec:02} +0100] "GET {path} HTTP/1.1" 200 43 "-" "{ua}""#),
            "log_format" => writeln!(s, r#"{ip} [2026-11-20T10:{m:02}:{sec:02}+01:00] "GET {path} HTTP/1.1" 200 43 "{ua}" "-" 0.001"#),
            "nginx-json" => writeln!(s, r#"{{"msec":"1763629{m:02}{sec:02}.123","remote_addr":"{ip}","request_method":"GET","request_uri":"{path}","status":"200","body_bytes_sent":"43","http_referer":"","http_user_agent":"{ua}"}}"#),
            "caddy" => writeln!(s, r#"{{"level":"info","ts":1763629{m:02}{sec:02}.12,"logger":"http.log.access","request":{{"client_ip":"{ip}","method":"GET","uri":"{path}","headers":{{"User-Agent":["{ua}"]}}}},"size":43,"status":200}}"#),
            "cloudfront" => writeln!(s, "2026-11-20\t09:{m:02}:{sec:02}\tLAX1\t43\t{ip}\tGET\tt.example.com\t{path}\t200\t-\t{}\t-", ua.replace(' ', "%20")),
            "s3" => writeln!(s, r#"owner bucket [20/Nov/2026:09:{m:02}:{sec:02} +0000] {ip} - REQ REST.GET.OBJECT key "GET {path} HTTP/1.1" 200 - 43 43 7 - "-" "{ua}" - id SigV4 - AuthHeader host TLSv1.2 - -"#),
            "alb" => writeln!(s, r#"https 2026-11-20T09:{m:02}:{sec:02}.186641Z app/lb/50dc {ip}:2817 10.0.0.1:80 0.0 0.001 0.0 200 200 34 43 "GET https://t.example.com:443{path} HTTP/1.1" "{ua}" - - arn "Root=1" "-" "-" 0 2026-11-20T09:00:00.000000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-""#),
            _ => unreachable!(),
        }
        .unwrap();
    }
    let d = match dialect {
        "log_format" => Dialect::LogFormat(
            Arc::new(
                log_format::LogFormat::compile(
                    r#"$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent "$http_user_agent" "$http_x_forwarded_for" $request_time"#,
                    log_format::Escape::Default,
                )
                .unwrap(),
            ),
            "log_format",
        ),
        "caddy" => Dialect::Json(Arc::new(JsonMap::caddy())),
        name => Dialect::from_name(name).unwrap().for_sample(s.as_bytes()),
    };
    (d, s.into_bytes())
}

#[divan::bench(args = ["combined", "log_format", "nginx-json", "caddy", "cloudfront", "s3", "alb"])]
fn parse(bencher: Bencher, dialect: &str) {
    let (d, data) = lines(dialect);
    bencher
        .counter(BytesCount::new(data.len()))
        .counter(ItemsCount::new(N))
        .bench(|| {
            let mut ok = 0usize;
            for (_, line) in pixelsift::lines::lines(&data, 1) {
                if !line.starts_with(b"#") && d.parse(line).is_ok() {
                    ok += 1;
                }
            }
            // A broken parser must not look fast.
            assert_eq!(ok, N);
            ok
        });
}

/// Parsing of the `combined` dialect on every core, as ingest does it:
/// 1 MiB blocks of whole lines from [`pixelsift::lines::BlockReader`],
/// parsed in parallel on rayon's pool (2 threads on the reference machine).
#[divan::bench(sample_count = 20)]
fn parse_all_cores(bencher: Bencher) {
    use rayon::prelude::*;
    let (d, one) = lines("combined");
    // About 64 MB: enough blocks for every thread.
    let data = one.repeat(16);
    let mut reader = pixelsift::lines::BlockReader::new(&data[..]);
    let mut blocks = Vec::new();
    while let Some(b) = reader.next_block().unwrap() {
        if let pixelsift::lines::Block::Lines { data, .. } = b {
            blocks.push(data);
        }
    }
    bencher
        .counter(BytesCount::new(data.len()))
        .counter(ItemsCount::new(N * 16))
        .bench(|| {
            let ok: usize = blocks
                .par_iter()
                .map(|b| {
                    pixelsift::lines::lines(b, 1)
                        .filter(|(_, line)| d.parse(line).is_ok())
                        .count()
                })
                .sum();
            assert_eq!(ok, N * 16);
            ok
        });
}

/// woothee plus the mail-client table for every hit: what the per-UA cache saves.
#[divan::bench]
fn agent_uncached(bencher: Bencher) {
    let p = AgentParser::default();
    bencher.counter(ItemsCount::new(1000usize)).bench(|| {
        (0..1000)
            .map(|i| p.parse(UAS[i % UAS.len()]).ua_name.is_some() as usize)
            .sum::<usize>()
    });
}

/// Classification per hit once each user agent's rule profile is cached.
#[divan::bench]
fn classify_with_cached_profiles(bencher: Bencher) {
    let c = Classifier::builtin();
    let lowers: Vec<String> = UAS.iter().map(|u| u.to_lowercase()).collect();
    let profiles: Vec<_> = UAS
        .iter()
        .zip(&lowers)
        .map(|(u, l)| c.ua_profile(u, l))
        .collect();
    bencher.counter(ItemsCount::new(1000usize)).bench(|| {
        (0..1000)
            .filter(|i| {
                let k = i % UAS.len();
                let v = c.classify(&Features {
                    kind: if i.is_multiple_of(5) {
                        Kind::Click
                    } else {
                        Kind::Open
                    },
                    method: b"GET",
                    ua_lower: &lowers[k],
                    ua: UAS[k],
                    ua_profile: Some(&profiles[k]),
                    network_roles: RoleSet::default(),
                    seconds_since_sent: Some(3600),
                    status: 200,
                });
                v.class == pixelsift::classify::Class::Human
            })
            .count()
    });
}

/// The rule profile of a user agent: every rule's user-agent conditions,
/// the public crawler patterns included. Paid once per distinct user agent.
#[divan::bench]
fn ua_profile(bencher: Bencher) {
    let c = Classifier::builtin();
    bencher.counter(ItemsCount::new(UAS.len())).bench(|| {
        UAS.iter()
            .map(|u| c.ua_profile(u, &u.to_lowercase()))
            .filter(|p| *p != Default::default())
            .count()
    });
}

/// Ingest end to end (parse, join, enrich, classify, message pass, Parquet,
/// commit) of the demo log repeated to 27,000 lines, into a new dataset each time.
#[divan::bench(sample_count = 10)]
fn ingest_end_to_end(bencher: Bencher) {
    use pixelsift::commit::Dataset;
    use pixelsift::pipeline::{ingest, IngestConfig};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, pixelsift::demo::ACCESS_LOG.repeat(1000)).unwrap();
    let files = pixelsift::demo::write_fixtures(&dir.path().join("in")).unwrap();
    let minted = dir.path().join("minted");
    pixelsift::mint::mint(&pixelsift::mint::MintConfig::new(
        files.recipients.clone(),
        files.links.clone(),
        "https://t.example.com",
        minted.clone(),
        pixelsift::mint::SecretSource::File(files.secret.clone()),
    ))
    .unwrap();
    let bytes = std::fs::metadata(&log).unwrap().len() as usize;
    let mut run = 0;
    bencher
        .counter(BytesCount::new(bytes))
        .counter(ItemsCount::new(27_000usize))
        .bench_local(|| {
            run += 1;
            let mut cfg = IngestConfig::new(
                pixelsift::manifest::Manifest::load(&minted).unwrap(),
                dir.path().join(format!("data-{run}")),
                vec![pixelsift::input::Input::File(log.clone())],
            );
            cfg.dialect = Some(Dialect::Combined);
            let ds = Dataset::create(&cfg.data).unwrap();
            let lock = ds.lock(true).unwrap().unwrap();
            let s = ingest(&cfg, &ds, &lock, None).unwrap();
            assert_eq!(s.lines, 27_000);
            s.events
        });
}

/// Parquet encoding of events as the dataset writes them (its writer
/// properties: dictionaries and statistics only where they pay).
/// `N` events as the pipeline hands them to the builder: each with its own
/// token and address, one of 1,500 user agents (about what a block's rows
/// hold) and, one in five, a link.
struct Events {
    tokens: Vec<String>,
    ips: Vec<String>,
    /// 300 places: country, city, time zone, AS organisation, interned as
    /// GeoIP's texts are.
    places: Vec<[&'static str; 4]>,
    network: std::sync::Arc<str>,
    campaign: std::sync::Arc<str>,
    variants: [std::sync::Arc<str>; 2],
}

impl Events {
    fn new() -> Self {
        Events {
            tokens: (0..N).map(|i| format!("tok{i:019}")).collect(),
            ips: (0..N)
                .map(|i| format!("100.64.{}.{}", i / 256 % 256, i % 256))
                .collect(),
            places: (0..300)
                .map(|p| {
                    [
                        format!("C{}", p % 30),
                        format!("City number {p}"),
                        format!("Region/Zone_{}", p % 20),
                        format!("Example Networks AS{} Ltd", p % 100),
                    ]
                    .map(|t| pixelsift::enrich::geo::intern(&t))
                })
                .collect(),
            network: "Example Proxy".into(),
            campaign: "c000".into(),
            variants: ["A".into(), "B".into()],
        }
    }

    fn row(&self, i: usize) -> pixelsift::batch::EventRow<'_> {
        // One address in 50 has no place (GeoIP knows nothing of it).
        let place = (!i.is_multiple_of(50)).then(|| &self.places[i * 7 % self.places.len()]);
        pixelsift::batch::EventRow {
            ts: 1_790_000_000_000_000 + i as i64 * 1_000_000,
            kind: if i.is_multiple_of(5) { "click" } else { "open" },
            token: &self.tokens[i],
            campaign_id: &self.campaign,
            recipient_id: &self.tokens[i][3..],
            variant: &self.variants[i % 2],
            link_id: i.is_multiple_of(5).then_some("c000-l1"),
            link_key: i.is_multiple_of(5).then_some(1),
            url: i
                .is_multiple_of(5)
                .then_some("https://shop.example.com/c0/l1"),
            sent_at: 1_790_000_000_000_000,
            ip: &self.ips[i],
            method: "GET",
            status: 200,
            bytes: Some(43),
            referer: "",
            user_agent: UAS[i % UAS.len()],
            ua_key: (i * 7919 % 1500) as u64,
            ua_name: Some("Outlook"),
            ua_category: Some("pc"),
            os: Some("Windows 10"),
            country: place.map(|p| p[0]),
            city: place.map(|p| p[1]),
            time_zone: place.map(|p| p[2]),
            asn: place.map(|_| (i % 100) as u32),
            as_org: place.map(|p| p[3]),
            network: i.is_multiple_of(10).then_some(&self.network),
            class: "human",
            rule_id: "default.human",
            reason: "no machine signal",
            source_file: "access.log",
            source_line: i as u64,
            local_weekday: None,
            local_hour: None,
            rules_version: "rs-000000000000",
            network_cidr: None,
            network_roles: "",
            ip_prefix: Some(24),
            read_seconds: None,
        }
    }
}

/// Making Arrow columns of events, row by row as the workers do.
#[divan::bench(sample_count = 20)]
fn event_rows(bencher: Bencher) {
    let events = Events::new();
    let mut b = pixelsift::batch::EventBuilder::with_capacity(N);
    bencher.counter(ItemsCount::new(N)).bench_local(|| {
        for i in 0..N {
            b.append(&events.row(i));
        }
        b.finish().num_rows()
    });
}

#[divan::bench(sample_count = 20)]
fn parquet_write_events(bencher: Bencher) {
    let events = Events::new();
    let mut b = pixelsift::batch::EventBuilder::with_capacity(N);
    for i in 0..N {
        b.append(&events.row(i));
    }
    let batch = b.finish();
    bencher.counter(ItemsCount::new(N)).bench(|| {
        let mut out = Vec::new();
        // The dataset's schema: the builder's dictionaries are written as
        // the plain strings they stand for.
        let mut w = parquet::arrow::ArrowWriter::try_new(
            &mut out,
            pixelsift::batch::events_schema(),
            Some(pixelsift::commit::writer_properties()),
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        out.len()
    });
}

/// The same rows through the dataset's own encoder (`pixelsift::encode`:
/// our dictionary columns, parquet's writer for the rest) into a file:
/// compare with `parquet_write_events`, parquet's writer for every column.
#[divan::bench(sample_count = 20)]
fn encode_events(bencher: Bencher) {
    let events = Events::new();
    let mut b = pixelsift::batch::EventBuilder::with_capacity(N);
    for i in 0..N {
        b.append(&events.row(i));
    }
    let batch = b.finish();
    // In memory where there is a tmpfs: the seal syncs each file it
    // writes, which is not what is measured here.
    let shm = std::path::Path::new("/dev/shm");
    let tmp = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    std::fs::create_dir_all(tmp.path().join("_staging/r")).unwrap();
    // On one thread, like the benchmark it is compared with: the encoder
    // spreads columns over rayon's threads.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    bencher.counter(ItemsCount::new(N)).bench_local(|| {
        one.install(|| {
            let mut enc = pixelsift::encode::Encoder::new(tmp.path(), "r");
            enc.declare("events", pixelsift::batch::events_schema(), Vec::new());
            enc.write("events", "2026-01-01", &batch, &[]).unwrap();
            let added = enc
                .seal("events", |_, _| Ok(()), &|_: &(), _, _| Vec::new())
                .unwrap();
            added.len()
        })
    });
}

/// Ingest end to end on a simulated send of 200,000 lines: people on many
/// clients, proxies, prefetches, scanners, crawlers and noise.
#[divan::bench(sample_count = 5)]
fn ingest_simulated(bencher: Bencher) {
    ingest_sim(bencher, 1_000_000);
}

/// The same send in 400 files of 500 lines, most of them gzipped, as a
/// night of CDN logs comes: beside [`ingest_simulated`], what each input
/// costs.
#[divan::bench(sample_count = 5)]
fn ingest_simulated_small_files(bencher: Bencher) {
    ingest_sim(bencher, 500);
}

fn ingest_sim(bencher: Bencher, rotate_lines: u64) {
    use pixelsift::commit::Dataset;
    use pixelsift::pipeline::{ingest, IngestConfig};
    let dir = tempfile::tempdir().unwrap();
    let sim = pixelsift::simulate::simulate(&pixelsift::simulate::SimConfig {
        campaigns: 3,
        recipients: 20_000,
        lines: 200_000,
        rotate_lines,
        seed: 1,
        out: dir.path().join("sim"),
    })
    .unwrap();
    let bytes: u64 = sim
        .files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let inputs: Vec<_> = sim
        .files
        .iter()
        .map(|f| pixelsift::input::Input::File(f.clone()))
        .collect();
    let mut run = 0;
    bencher
        .counter(BytesCount::new(bytes as usize))
        .counter(ItemsCount::new(sim.lines as usize))
        .bench_local(|| {
            run += 1;
            let cfg = IngestConfig::new(
                pixelsift::manifest::Manifest::load(&dir.path().join("sim/minted")).unwrap(),
                dir.path().join(format!("data-{run}")),
                inputs.clone(),
            );
            let ds = Dataset::create(&cfg.data).unwrap();
            let lock = ds.lock(true).unwrap().unwrap();
            ingest(&cfg, &ds, &lock, None).unwrap().events
        });
}
