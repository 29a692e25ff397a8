//! `pixelsift networks` and `pixelsift reclassify`: the lists verdicts rest
//! on, and making the verdicts again when they change.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use pixelsift::classify::networks::{normalise_list, Role, DATASET_DIR};
use pixelsift::classify::Networks;
use pixelsift::reclassify::{reclassify, ReclassifyConfig};

use super::OutputFormat;

/// Flags of `networks`.
#[derive(clap::Args)]
pub struct NetworksArgs {
    #[command(subcommand)]
    action: Option<NetAction>,
    /// Dataset whose added lists are shown with the built-in ones.
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum NetAction {
    /// Add a list of address ranges to a dataset: pixelsift's CSV
    /// (cidr,operator,role,source), Apple's iCloud Private Relay egress file
    /// (prefix,country,region,city,), or one CIDR per line with --role.
    Add {
        /// The list file.
        file: PathBuf,
        /// Dataset directory.
        #[arg(long)]
        data: PathBuf,
        /// Name of the list in the dataset (default: the file's name).
        #[arg(long)]
        name: Option<String>,
        /// Role of every range: scanner, datacenter, image_proxy, apple or apple_mpp.
        #[arg(long)]
        role: Option<String>,
        /// Operator named on every range.
        #[arg(long)]
        operator: Option<String>,
        /// Where the list comes from (kept beside every range; default: the file's path).
        #[arg(long)]
        source: Option<String>,
    },
    /// Remove a list added to a dataset.
    Remove {
        /// The list's name.
        name: String,
        /// Dataset directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// Show which listed networks an address is in, and their roles.
    Lookup {
        /// An IPv4 or IPv6 address.
        address: std::net::IpAddr,
        /// Dataset whose added lists count too.
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

fn load(data: Option<&Path>) -> anyhow::Result<Networks> {
    match data {
        Some(d) => super::on_dataset(d, &[], |local| {
            let mut n = Networks::for_dataset(local).map_err(|e| anyhow::anyhow!(e))?;
            n.relocate_origins(&local.display().to_string(), &d.display().to_string());
            Ok(n)
        }),
        None => Ok(Networks::builtin()),
    }
}

fn list_name(file: &Path, name: Option<&str>) -> anyhow::Result<String> {
    let n = match name {
        Some(n) => n.to_string(),
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect(),
    };
    pixelsift::manifest::check_id("list name", &n).map_err(|e| anyhow::anyhow!(e))?;
    anyhow::ensure!(
        !n.starts_with("builtin"),
        "list names starting with builtin are reserved"
    );
    Ok(n)
}

/// Runs `networks`.
pub fn networks(a: NetworksArgs) -> anyhow::Result<ExitCode> {
    match a.action {
        None => {
            let n = load(a.data.as_deref())?;
            let c = pixelsift::classify::Classifier::builtin();
            let s = n.sources();
            let cols: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(
                    s.iter().map(|x| x.name.as_str()),
                )),
                Arc::new(Int64Array::from_iter_values(
                    s.iter().map(|x| x.ranges as i64),
                )),
                Arc::new(Int64Array::from_iter_values(
                    s.iter().map(|x| x.asns as i64),
                )),
                Arc::new(StringArray::from_iter_values(
                    s.iter().map(|x| x.sha256.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    s.iter().map(|x| x.origin.as_str()),
                )),
            ];
            let schema = Arc::new(Schema::new(vec![
                Field::new("list", DataType::Utf8, false),
                Field::new("ranges", DataType::Int64, false),
                Field::new("asns", DataType::Int64, false),
                Field::new("sha256", DataType::Utf8, false),
                Field::new("from", DataType::Utf8, false),
            ]));
            let b = RecordBatch::try_new(schema.clone(), cols)?;
            super::print_result(OutputFormat::Table, &schema, &[b], None)?;
            println!(
                "rules version with the built-in rules: {} (sources of the built-in lists: rules/SOURCES.md)",
                c.version(&n)
            );
        }
        Some(NetAction::Add {
            file,
            data,
            name,
            role,
            operator,
            source,
        }) => {
            let name = list_name(&file, name.as_deref())?;
            let role = role
                .as_deref()
                .map(|r| {
                    Role::parse(r).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--role {r}: use scanner, datacenter, image_proxy, apple or apple_mpp"
                        )
                    })
                })
                .transpose()?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let source = source.unwrap_or_else(|| file.display().to_string());
            let (norm, n) = normalise_list(&text, role, operator.as_deref(), &source)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let (replaced, nets) = super::on_dataset(&data, &[], |data| {
                // Lists may come before the first ingest: they decide its verdicts.
                pixelsift::commit::Dataset::create(data)?;
                let (ds, _lock) = super::maintain::open(data)?;
                let dir = ds.root().join(DATASET_DIR);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let dest = dir.join(format!("{name}.csv"));
                let replaced = dest.exists();
                pixelsift::mint::write_atomic(&dest, norm.as_bytes())?;
                let nets = Networks::for_dataset(data).map_err(|e| anyhow::anyhow!(e))?;
                Ok((replaced, nets))
            })?;
            println!(
                "{} list {name}: {n} ranges; rules version with the built-in rules is now {}",
                if replaced { "replaced" } else { "added" },
                pixelsift::classify::Classifier::builtin().version(&nets)
            );
            println!(
                "stored events keep their verdicts until `pixelsift reclassify --data {}`",
                data.display()
            );
        }
        Some(NetAction::Remove { name, data }) => {
            super::on_dataset(&data, &[], |d| {
                let (ds, _lock) = super::maintain::open(d)?;
                let p = ds.root().join(DATASET_DIR).join(format!("{name}.csv"));
                anyhow::ensure!(
                    p.exists(),
                    "{} has no list named {name} (see `pixelsift networks --data {}`)",
                    data.display(),
                    data.display()
                );
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))
            })?;
            println!("removed list {name}; stored events keep their verdicts until `pixelsift reclassify --data {}`", data.display());
        }
        Some(NetAction::Lookup { address, data }) => {
            let n = load(data.as_deref())?;
            let (m, roles) = n.lookup_all(address);
            match m {
                Some(m) => println!("{address}: {} ({}), roles {}", m.operator, m.cidr, roles.names()),
                None => println!("{address}: in no listed network (ASN lists apply at ingest, with a GeoIP ASN database)"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Flags of `reclassify`.
#[derive(clap::Args)]
pub struct ReclassifyArgs {
    /// Dataset directory.
    #[arg(long)]
    data: PathBuf,
    /// Classification rules (TOML) instead of the built-in ones.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// First day (YYYY-MM-DD, UTC) of events to re-classify.
    #[arg(long)]
    since: Option<String>,
    /// Last day (YYYY-MM-DD, UTC) of events to re-classify.
    #[arg(long)]
    until: Option<String>,
    /// Show what would move; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Output format of the table of moves.
    #[arg(long, value_enum, default_value_t)]
    format: OutputFormat,
}

/// Runs `reclassify`.
pub fn reclassify_cmd(a: ReclassifyArgs) -> anyhow::Result<ExitCode> {
    // Only the events of the days in scope (and those the tallies count
    // with them) are read: on a bucket, only those are downloaded.
    let (since, until) = (a.since.as_deref(), a.until.as_deref());
    let r = super::on_dataset_planned(
        &a.data,
        |snap, _| {
            anyhow::ensure!(
                snap.last_seq > 0,
                "{} is not a pixelsift dataset (no commit in _log)",
                a.data.display()
            );
            Ok(((), pixelsift::reclassify::files_needed(snap, since, until)))
        },
        |ds, lock, ()| {
            let cfg = ReclassifyConfig {
                classifier: super::load_rules(a.rules.as_deref())?,
                networks: load(Some(ds.root()))?,
                since: a.since.clone(),
                until: a.until.clone(),
                dry_run: a.dry_run,
                limits: pixelsift::pipeline::Limits::default(),
            };
            Ok(reclassify(ds, lock, &cfg)?)
        },
    )?;
    let m = &r.moves;
    let s = |f: &dyn Fn(&pixelsift::reclassify::Move) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(m.iter().map(f)))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("from_class", DataType::Utf8, false),
        Field::new("to_class", DataType::Utf8, false),
        Field::new("hits", DataType::Int64, false),
        Field::new("from_rule", DataType::Utf8, false),
        Field::new("rule_id", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
    ]));
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            s(&|x| &x.from),
            s(&|x| &x.to),
            Arc::new(Int64Array::from_iter_values(
                m.iter().map(|x| x.hits as i64),
            )),
            s(&|x| &x.from_rule),
            s(&|x| &x.rule_id),
            s(&|x| &x.reason),
        ],
    )?;
    super::print_result(a.format, &schema, &[b], None)?;
    let moved: u64 = m.iter().map(|x| x.hits).sum();
    eprintln!(
        "{} events in scope under rules version {}: {moved} hits change verdict, {} rows change (evidence included) in {} files",
        r.events, r.rules_version, r.rows_changed, r.files_changed
    );
    if r.not_looked_up > 0 {
        eprintln!(
            "{} events have hashed or unreadable addresses: new address ranges cannot apply to them; their stored network evidence was kept",
            r.not_looked_up
        );
    }
    match (a.dry_run, r.commit) {
        (true, _) => eprintln!("dry run: nothing was written"),
        (false, Some(seq)) => eprintln!("committed as commit {seq}"),
        (false, None) => eprintln!("nothing changed; nothing was written"),
    }
    Ok(ExitCode::SUCCESS)
}
