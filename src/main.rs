//! The `pixelsift` binary: parses flags, runs one command, maps errors to exit codes.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    ask_glibc_for_huge_pages();
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`pixelsift sql ... | head`) is not a failure.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("pixelsift: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// glibc's malloc backs its heaps with transparent huge pages only when
/// asked through `GLIBC_TUNABLES`, which it reads before `main` runs. An
/// ingest faults in a few hundred MB of fresh memory, and with 2 MB pages
/// instead of 4 KB ones it took about 5% less CPU (README, Performance).
/// So the binary starts itself again, once, with the tunable set, unless
/// the environment sets `GLIBC_TUNABLES` already: then that choice stands
/// (set it empty to run without huge pages). If the new start fails, this
/// one goes on as it is.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn ask_glibc_for_huge_pages() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut again = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        again.arg0(arg0);
    }
    // `exec` returns only when it failed.
    let _ = again
        .args(args)
        .env("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
        .exec();
}
