//! Queries on an Apache DataFusion Ballista cluster, and the scheduler and
//! executor processes of one.
//!
//! The client registers the same tables as a local session (file listings
//! of the last commit, by URL) and hands each query to the scheduler, which
//! plans it and has executors read the Parquet files from object storage.
//! Scheduler and executors are Ballista's own (`ballista-scheduler` and
//! `ballista-executor` 55, the release built on our DataFusion 55), started
//! with an object-store registry that configures buckets from the
//! environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`), as pixelsift itself does.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;

use crate::error::{Error, Result};
use crate::query::{collect, plan_sql, register, DayRange, Params};

/// A session whose queries run on the cluster at `cluster`
/// (`df://HOST:PORT`), with the dataset at `data` registered.
pub async fn context_for(cluster: &str, data: &Path, days: &DayRange) -> Result<SessionContext> {
    if !cluster.starts_with("df://") {
        return Err(Error::Config(format!(
            "--cluster {cluster}: expected df://HOST:PORT (a Ballista scheduler)"
        )));
    }
    let config = SessionConfig::new_with_ballista().with_information_schema(true);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(crate::remote::runtime_env()?)
        .with_default_features()
        .build();
    let ctx = SessionContext::remote_with_state(cluster, state).await?;
    register(&ctx, data, days).await?;
    Ok(ctx)
}

/// Runs one statement on the cluster. The final `ORDER BY` (and `LIMIT`) is
/// applied here, on the collected rows: Ballista 55 can hash-shuffle rows it
/// has sorted and then merge them as if still sorted, so its order is not
/// trusted (the rows themselves are the cluster's).
pub async fn run_sql_with(
    ctx: &SessionContext,
    sql: &str,
    params: &Params,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
    use datafusion::common::Column;
    use datafusion::logical_expr::{Expr, LogicalPlan, SortExpr};
    let df = plan_sql(ctx, sql, params).await?;
    let (state, plan) = df.into_parts();
    let LogicalPlan::Sort(sort) = plan else {
        return collect(DataFrame::new(state, plan)).await;
    };
    let (schema, batches) = collect(DataFrame::new(state, sort.input.as_ref().clone())).await?;
    // The keys name output columns: the collected rows have no qualifiers.
    let mut keys = Vec::with_capacity(sort.expr.len());
    for e in &sort.expr {
        let expr = e
            .expr
            .clone()
            .transform(|x| {
                Ok(match x {
                    Expr::Column(c) => {
                        Transformed::yes(Expr::Column(Column::new_unqualified(c.name)))
                    }
                    other => Transformed::no(other),
                })
            })
            .data()?;
        keys.push(SortExpr::new(expr, e.asc, e.nulls_first));
    }
    let local = SessionContext::new();
    let table = MemTable::try_new(schema.clone(), vec![batches])?;
    let mut out = local.read_table(Arc::new(table))?.sort(keys)?;
    if let Some(n) = sort.fetch {
        out = out.limit(0, Some(n))?;
    }
    Ok((schema, out.collect().await?))
}

/// Like Ballista's default session builder, with buckets from the environment.
fn session_state(config: SessionConfig) -> datafusion::common::Result<SessionState> {
    use ballista_core::extension::{
        ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
    };
    Ok(SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(crate::remote::runtime_env()?)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(ballista_scalar_functions())
        .with_aggregate_functions(ballista_aggregate_functions())
        .with_window_functions(ballista_window_functions())
        .build())
}

fn ballista_err(what: &str) -> impl FnOnce(ballista_core::error::BallistaError) -> Error + '_ {
    move |e| Error::Config(format!("{what}: {e}"))
}

/// Runs a Ballista scheduler on `bind` until the process is stopped.
pub async fn run_scheduler(bind: SocketAddr) -> Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    let config = SchedulerConfig::default()
        .with_hostname(bind.ip().to_string())
        .with_port(bind.port())
        .with_override_session_builder(Arc::new(session_state));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista_err("starting the scheduler"))?;
    ballista_scheduler::scheduler_process::start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(ballista_err("scheduler"))
}

/// Where an executor listens and which scheduler it serves.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// The scheduler, `HOST:PORT`.
    pub scheduler: String,
    /// Address to listen on (and advertise).
    pub host: String,
    /// Arrow Flight port (results and shuffles are fetched from it).
    pub port: u16,
    /// gRPC port the scheduler talks to.
    pub grpc_port: u16,
    /// Concurrent tasks.
    pub slots: usize,
    /// Directory for shuffle files (a temporary one if `None`).
    pub work_dir: Option<String>,
}

/// Runs a Ballista executor until the process is stopped.
pub async fn run_executor(s: ExecutorSettings) -> Result<()> {
    use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
    let (host, port) = s
        .scheduler
        .rsplit_once(':')
        .ok_or_else(|| Error::Config(format!("--scheduler {}: expected HOST:PORT", s.scheduler)))?;
    let port: u16 = port
        .parse()
        .map_err(|_| Error::Config(format!("--scheduler {}: bad port", s.scheduler)))?;
    let config = ExecutorProcessConfig {
        bind_host: s.host.clone(),
        external_host: Some(s.host.clone()),
        port: s.port,
        grpc_port: s.grpc_port,
        scheduler_host: host.to_string(),
        scheduler_port: port,
        scheduler_connect_timeout_seconds: 30,
        vcores: s.slots,
        work_dir: s.work_dir.clone(),
        print_thread_info: false,
        override_runtime_producer: Some(Arc::new(|_: &SessionConfig| crate::remote::runtime_env())),
        ..Default::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(ballista_err("executor"))
}
