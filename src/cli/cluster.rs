//! `pixelsift cluster`: a Ballista scheduler or executor that reads
//! buckets configured from the environment, as pixelsift does.

use std::net::SocketAddr;
use std::process::ExitCode;

use pixelsift::cluster::{run_executor, run_scheduler, ExecutorSettings};

/// Which process to run.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Run a scheduler: clients (`--cluster df://HOST:PORT`) and executors connect to it.
    Scheduler {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
    },
    /// Run an executor serving a scheduler.
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Host to listen on and advertise to the scheduler, other executors and clients.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Arrow Flight port: query results and shuffles are fetched from it.
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// gRPC port the scheduler sends tasks to.
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks run at once (default: one per core).
        #[arg(long)]
        slots: Option<usize>,
        /// Directory for intermediate (shuffle) files; a fresh temporary one by default.
        #[arg(long)]
        work_dir: Option<std::path::PathBuf>,
    },
}

/// Runs `cluster scheduler` or `cluster executor` until stopped.
pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    // Planning recurses deeply on big plans: the stack size Ballista's own binaries use.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 << 20)
        .build()?;
    match c {
        Command::Scheduler { bind } => {
            eprintln!("Ballista scheduler listening on {bind}");
            rt.block_on(run_scheduler(bind))?;
        }
        Command::Executor {
            scheduler,
            host,
            port,
            grpc_port,
            slots,
            work_dir,
        } => {
            let tmp;
            let work_dir = match work_dir {
                Some(d) => d,
                None => {
                    let swept;
                    (tmp, swept) = pixelsift::workdir::WorkDir::new("pixelsift-executor-")?;
                    super::report_swept("executor work", swept);
                    tmp.path().to_path_buf()
                }
            };
            eprintln!(
                "Ballista executor on {host}:{port} (gRPC {grpc_port}) for scheduler {scheduler}, work dir {}",
                work_dir.display()
            );
            rt.block_on(run_executor(ExecutorSettings {
                scheduler,
                host,
                port,
                grpc_port,
                slots: slots
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                work_dir: Some(work_dir.to_string_lossy().into_owned()),
            }))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
