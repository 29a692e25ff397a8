//! SQL over the dataset with DataFusion, and the named reports of `queries/`.
//!
//! Tables: `events`, `rejects`, `manifest`, `links` and `tallies`, each a
//! Parquet directory registered with its schema, so an empty dataset still
//! answers queries.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;

use crate::batch::{events_schema, links_schema, manifest_schema, rejects_schema};
use crate::commit::{AddedFile, Dataset, Snapshot};
use crate::error::{io_err, Error, Result};

/// A named report: a `.sql` file whose first comment line describes it and
/// whose `-- param name=default` lines declare its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// File stem, e.g. `campaign-summary`.
    pub name: String,
    /// The one-line description from the first comment.
    pub description: String,
    /// Declared parameters and their defaults.
    pub params: Vec<(String, String)>,
    /// The query.
    pub sql: String,
}

/// Reports compiled into the binary, so it works from any directory.
const BUILTIN: &[(&str, &str)] = &[
    (
        "campaign-summary",
        include_str!("../queries/campaign-summary.sql"),
    ),
    ("variants", include_str!("../queries/variants.sql")),
    ("time-to-open", include_str!("../queries/time-to-open.sql")),
    (
        "engagement-hours",
        include_str!("../queries/engagement-hours.sql"),
    ),
    ("clients", include_str!("../queries/clients.sql")),
    ("geo", include_str!("../queries/geo.sql")),
    ("links", include_str!("../queries/links.sql")),
    ("bots", include_str!("../queries/bots.sql")),
    ("inactive", include_str!("../queries/inactive.sql")),
    ("read-time", include_str!("../queries/read-time.sql")),
    ("leads", include_str!("../queries/leads.sql")),
    ("daily", include_str!("../queries/daily.sql")),
    ("recipients", include_str!("../queries/recipients.sql")),
];

impl Report {
    /// Builds a report from its name and SQL text.
    pub fn new(name: &str, sql: &str) -> Report {
        let description = sql
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .and_then(|l| l.strip_prefix("--"))
            .map(|l| l.trim().to_string())
            .unwrap_or_default();
        let params = sql
            .lines()
            .filter_map(|l| l.trim().strip_prefix("-- param "))
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Report {
            name: name.to_string(),
            description,
            params,
            sql: sql.to_string(),
        }
    }

    /// Binds parameters: given values over declared defaults. An undeclared
    /// name is refused. Values are bound as values (never pasted into the
    /// SQL): whole numbers as integers, everything else as text.
    pub fn bind(&self, given: &[(String, String)]) -> Result<Params> {
        let mut values = self.params.clone();
        for (k, v) in given {
            match values.iter_mut().find(|(n, _)| n == k) {
                Some(slot) => slot.1 = v.clone(),
                None => {
                    let names: Vec<&str> = self.params.iter().map(|(n, _)| n.as_str()).collect();
                    return Err(Error::Config(format!(
                        "report {} has no parameter {k:?}; it takes: {}",
                        self.name,
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    )));
                }
            }
        }
        Params::new(values)
    }
}

/// Bound parameter values, and the event days they restrict reading to.
#[derive(Debug, Clone, Default)]
pub struct Params {
    values: Vec<(String, String)>,
    /// Days of events the `since`/`until` parameters allow (partition pruning).
    pub days: DayRange,
}

impl Params {
    /// Checks values (`since`/`until` must be dates) and derives the day range.
    pub fn new(values: Vec<(String, String)>) -> Result<Params> {
        let mut days = DayRange::default();
        for (k, v) in &values {
            if (k == "since" || k == "until") && !v.is_empty() {
                if chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err() {
                    return Err(Error::Config(format!(
                        "--param {k}={v}: expected a date, YYYY-MM-DD"
                    )));
                }
                if k == "since" {
                    days.since = Some(v.clone());
                } else {
                    days.until = Some(v.clone());
                }
            }
        }
        Ok(Params { values, days })
    }

    /// The values as typed scalars, by name.
    pub fn scalars(&self) -> std::collections::HashMap<String, ScalarValue> {
        self.values
            .iter()
            .map(|(k, v)| {
                let s = match v.parse::<i64>() {
                    Ok(i) if !v.starts_with('+') => ScalarValue::Int64(Some(i)),
                    _ => ScalarValue::Utf8(Some(v.clone())),
                };
                (k.clone(), s)
            })
            .collect()
    }
}

/// The built-in reports, then those of `dir` (a report there replaces a built-in one of the same name).
pub fn reports(dir: Option<&Path>) -> Result<Vec<Report>> {
    let mut out: Vec<Report> = BUILTIN.iter().map(|(n, s)| Report::new(n, s)).collect();
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        {
            let sql = std::fs::read_to_string(&p).map_err(io_err(&p))?;
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let r = Report::new(&name, &sql);
            match out.iter_mut().find(|x| x.name == name) {
                Some(x) => *x = r,
                None => out.push(r),
            }
        }
    }
    Ok(out)
}

/// Finds a report by name.
pub fn find_report(dir: Option<&Path>, name: &str) -> Result<Report> {
    let all = reports(dir)?;
    let names: Vec<String> = all.iter().map(|r| r.name.clone()).collect();
    all.into_iter().find(|r| r.name == name).ok_or_else(|| {
        Error::Config(format!(
            "no report named {name:?}; available: {}",
            names.join(", ")
        ))
    })
}

/// Which days of events a query needs, for partition pruning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayRange {
    /// First day, `YYYY-MM-DD`, inclusive.
    pub since: Option<String>,
    /// Last day, `YYYY-MM-DD`, inclusive.
    pub until: Option<String>,
}

/// The view `tiers` every session has: each recipient's tier per campaign.
pub const TIERS_VIEW: &str = include_str!("../queries/views/tiers.sql");

/// A session with the dataset's tables registered: the live files of the
/// last commit (never half a commit), events pruned to `days`.
pub async fn context(data: &Path) -> Result<SessionContext> {
    context_for(data, &DayRange::default()).await
}

/// Like [`context`], reading only the `events` partitions within `days`.
/// `data` is a directory, or a URL (`s3://bucket/prefix`) in a build with
/// object storage.
pub async fn context_for(data: &Path, days: &DayRange) -> Result<SessionContext> {
    let ctx = SessionContext::new_with_config(session_config());
    register(&ctx, data, days).await?;
    Ok(ctx)
}

/// The session settings every pixelsift query runs with.
pub fn session_config() -> SessionConfig {
    SessionConfig::new().with_information_schema(true)
}

/// Registers the dataset's tables and the `tiers` view in `ctx`, which may
/// be a local session or a client of a cluster: tables are file listings
/// (never in-memory data), so they can be planned anywhere.
pub async fn register(ctx: &SessionContext, data: &Path, days: &DayRange) -> Result<()> {
    let (snapshot, locate) = locate(ctx, data).await?;
    let since = days.since.clone().unwrap_or_else(|| "0000-00-00".into());
    let until = days.until.clone().unwrap_or_else(|| "9999-99-99".into());
    for (table, schema) in [
        ("events", events_schema()),
        ("rejects", rejects_schema()),
        ("manifest", manifest_schema()),
        ("links", links_schema()),
    ] {
        let range = (table == "events").then_some((since.as_str(), until.as_str()));
        let files = snapshot.table_files(table, range);
        if files.is_empty() {
            ctx.register_table(table, Arc::new(EmptyTable::new(schema)))?;
            continue;
        }
        ctx.register_table(table, listing(&files, &locate, &schema)?)?;
    }
    register_tallies(ctx, &snapshot, &locate, (since.as_str(), until.as_str()))?;
    ctx.sql(TIERS_VIEW).await?;
    Ok(())
}

/// Registers `tallies` ([`crate::tally`]) for the events files within
/// `days`: the tallies files that count only live files within them, and,
/// for the events files none of those counts (written before tallies
/// existed, or counted with files of other days), the same counts made
/// from their rows. The answers are the same either way; only the time
/// differs.
fn register_tallies(
    ctx: &SessionContext,
    snapshot: &Snapshot,
    locate: &Locate,
    days: (&str, &str),
) -> Result<()> {
    use datafusion::functions_aggregate::expr_fn::{count, max, min};
    use datafusion::prelude::{col, lit};
    let schema = crate::tally::schema();
    let events = snapshot.files.get("events");
    let within = |e: &String| {
        events.is_some_and(|l| l.contains_key(e))
            && crate::commit::partition_day(e).is_none_or(|d| d >= days.0 && d <= days.1)
    };
    // Tallies files whose every events file is live and within the days
    // asked for, and the files they count.
    let mut counted = std::collections::HashSet::new();
    let stored: Vec<&AddedFile> = snapshot
        .table_files(crate::tally::TABLE, None)
        .into_iter()
        .filter(|t| !t.counts.is_empty() && t.counts.iter().all(within))
        .inspect(|t| counted.extend(t.counts.iter()))
        .collect();
    let uncounted: Vec<&AddedFile> = snapshot
        .table_files("events", Some(days))
        .into_iter()
        .filter(|e| !counted.contains(&e.path))
        .collect();
    if uncounted.is_empty() {
        let table: Arc<dyn datafusion::catalog::TableProvider> = if stored.is_empty() {
            Arc::new(EmptyTable::new(schema))
        } else {
            listing(&stored, locate, &schema)?
        };
        ctx.register_table(crate::tally::TABLE, table)?;
        return Ok(());
    }
    let counted = ctx
        .read_table(listing(&uncounted, locate, &events_schema())?)?
        .aggregate(
            ["campaign_id", "recipient_id", "kind", "class"]
                .into_iter()
                .map(col)
                .collect(),
            vec![
                count(lit(1)).alias("hits"),
                min(col("seconds_since_sent")).alias("first_seconds"),
                min(col("ts")).alias("first_ts"),
                max(col("ts")).alias("last_ts"),
            ],
        )?;
    let all = if stored.is_empty() {
        counted
    } else {
        ctx.read_table(listing(&stored, locate, &schema)?)?
            .union(counted)?
    };
    ctx.register_table(crate::tally::TABLE, all.into_view())?;
    Ok(())
}

/// A table of the given files of one table, read with `schema`'s strings
/// as views.
fn listing(files: &[&AddedFile], locate: &Locate, schema: &SchemaRef) -> Result<Arc<ListingTable>> {
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(locate.url(f)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let opts =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(opts)
        .with_schema(view_types(schema));
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// The schema queries see: strings as views (`Utf8View`), the layout
/// DataFusion compares and groups fastest (short strings inline). Grouping
/// 37M events by campaign and recipient took 3.1 s instead of 4.6-5.0 s.
fn view_types(schema: &arrow::datatypes::SchemaRef) -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema};
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 => Field::new(f.name(), DataType::Utf8View, f.is_nullable()),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

/// Where the files of a snapshot are.
enum Locate {
    /// A local dataset (canonical root).
    Local(PathBuf),
    /// A dataset in object storage (its URL).
    #[cfg(feature = "cloud")]
    Remote(String),
}

impl Locate {
    fn url(&self, f: &AddedFile) -> String {
        match self {
            Locate::Local(root) => crate::commit::located(root, f)
                .to_string_lossy()
                .into_owned(),
            #[cfg(feature = "cloud")]
            Locate::Remote(url) => format!("{url}/{}", f.path),
        }
    }
}

/// Reads the log of the dataset at `data` and makes its files readable by `ctx`.
async fn locate(ctx: &SessionContext, data: &Path) -> Result<(Snapshot, Locate)> {
    if crate::remote::is_remote(data) {
        #[cfg(feature = "cloud")]
        {
            let url = data.to_string_lossy();
            let remote = crate::remote::RemoteDataset::open(&url)?;
            ctx.register_object_store(remote.bucket(), remote.store());
            let snapshot = remote.snapshot().await?;
            if snapshot.last_seq == 0 {
                return Err(Error::Config(format!(
                    "{url}: no pixelsift dataset here (no commit in {url}/_log; run `pixelsift ingest --data {url}` first)"
                )));
            }
            return Ok((snapshot, Locate::Remote(remote.url().to_string())));
        }
        #[cfg(not(feature = "cloud"))]
        return Err(crate::remote::not_built(&data.to_string_lossy()));
    }
    let _ = ctx;
    let dataset = Dataset::open(data)?;
    let root = std::fs::canonicalize(data).map_err(io_err(data))?;
    Ok((dataset.snapshot()?, Locate::Local(root)))
}

/// Runs one SQL statement, returning the result's schema and rows.
pub async fn run_sql(ctx: &SessionContext, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    run_sql_with(ctx, sql, &Params::default()).await
}

/// Plans one SQL statement with bound parameters, without running it.
pub async fn plan_sql(
    ctx: &SessionContext,
    sql: &str,
    params: &Params,
) -> Result<datafusion::dataframe::DataFrame> {
    let mut df = ctx.sql(sql).await?;
    if !params.values.is_empty() {
        df = df.with_param_values(params.scalars())?;
    }
    Ok(df)
}

/// Runs one SQL statement with bound parameters (`$name` in the SQL).
pub async fn run_sql_with(
    ctx: &SessionContext,
    sql: &str,
    params: &Params,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    collect(plan_sql(ctx, sql, params).await?).await
}

/// Runs a planned statement, returning the result's schema and rows.
pub async fn collect(
    df: datafusion::dataframe::DataFrame,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    Ok((schema, df.collect().await?))
}
