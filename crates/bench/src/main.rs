//! `ims-bench`: parse the flags, run, exit non-zero with one line when the run cannot be done.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = bench::cli::Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ims-bench: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench::cli::execute(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ims-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
