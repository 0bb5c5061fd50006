//! `ims`: the IMS 2.0 service and its operator commands.

use clap::{Parser, Subcommand};
use ims::config::Config;

/// mimalloc instead of glibc's allocator: under load glibc's malloc and free took about a
/// fifth of the service's CPU, and its per-thread arenas kept the 19 MiB each password check
/// (argon2) allocates on a blocking thread, so resident memory climbed past a gigabyte and
/// stayed there; mimalloc is faster for many small short-lived allocations and returns freed
/// large blocks to the system (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ims",
    version,
    about = "IMS 2.0: inventory management for a chain of optical stores",
    long_about = "IMS 2.0: inventory management for a chain of optical stores.\n\n\
    Configured through IMS_* environment variables: IMS_DATABASE_URL and IMS_REDIS_URL \
    (or IMS_REDIS_SENTINELS, or IMS_REDIS_CLUSTER) are required; see the README for the rest."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API on IMS_LISTEN until SIGTERM or Ctrl-C (in-flight requests drain).
    Serve,
    /// Apply pending database migrations and create the coming months' order partitions.
    Migrate,
    /// Load the small demo data set (stores, categories, products, stock, customers) into an
    /// empty database (does nothing when data exists), or with --scale a generated chain.
    Seed {
        /// Generate a realistic chain instead: scale 1 is 50 stores, 20,000 products, 200,000
        /// customers, 1,000,000 orders over 24 months (--months); every count is multiplied by this.
        #[arg(long)]
        scale: Option<f64>,
        /// Months of history the generated orders spread over (1 to 120; 36 gives
        /// `ims archive` a year to archive at its default of 24 months).
        #[arg(long, default_value_t = 24, requires = "scale", value_parser = clap::value_parser!(u32).range(1..=120))]
        months: u32,
        /// The random seed of the generated chain: the same seed gives the same data.
        #[arg(long, default_value_t = 42, requires = "scale")]
        seed: u64,
        /// Wipe all business data and user accounts first (the generator refuses a database
        /// that has data otherwise).
        #[arg(long, requires = "scale")]
        force: bool,
    },
    /// Run EXPLAIN (ANALYZE, BUFFERS) on the query behind every hot endpoint and print one row
    /// per query; exits non-zero when one reads a large table sequentially or touches order
    /// partitions it does not need.
    Explain,
    /// Work with the Redis cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Move old months of orders (with their stock movements, job history and audit rows) to
    /// Parquet files in the archive (IMS_ARCHIVE_URL), list, verify or restore them.
    Archive {
        #[command(subcommand)]
        command: ArchiveCommand,
    },
    /// Manage staff accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Load the start-of-day reads (every active category's first page of products, the
    /// bestsellers, the dashboards) into Redis; logs how many keys and how long. The service
    /// also does this at start-up.
    Warm,
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// Archive every month older than --older-than months (default IMS_ARCHIVE_AFTER_MONTHS),
    /// oldest first; first undoes what an interrupted run left.
    Run {
        /// Months to keep in PostgreSQL, the current one not counted (at least 1).
        #[arg(long, value_name = "MONTHS")]
        older_than: Option<u32>,
        /// Print the months that would be archived, and their size, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the manifest: every month ever archived, its state, orders and sizes.
    List,
    /// Read archived months back and check every object's SHA-256, rows and sums against the
    /// manifest (every archived month, or MONTH as YYYY-MM).
    Verify { month: Option<String> },
    /// Bring an archived month (YYYY-MM) back into PostgreSQL, checked row for row.
    Restore { month: String },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create an administrator, or reset the one with this username or email (password, role,
    /// status); its old tokens stop working.
    CreateAdmin {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// 10 to 128 characters. Prefer IMS_ADMIN_PASSWORD: arguments show in `ps`.
        #[arg(long, env = "IMS_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ims: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Err(e) = ims::telemetry::init(&config.log.filter, config.log.format) {
        eprintln!("ims: {e}");
        return std::process::ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Serve => ims::serve::run(config).await,
        Command::Migrate => ims::admin::migrate(&config).await,
        Command::Seed { scale: None, .. } => ims::admin::seed_demo(&config).await,
        Command::Seed {
            scale: Some(scale),
            seed,
            force,
            months,
        } => ims::admin::seed_generated(&config, scale, seed, force, months).await,
        Command::Explain => ims::explain::run(&config).await,
        Command::Cache {
            command: CacheCommand::Warm,
        } => ims::admin::warm_cache(&config).await,
        Command::Archive { command } => match command {
            ArchiveCommand::Run {
                older_than,
                dry_run,
            } => ims::archive::run_command(&config, older_than, dry_run).await,
            ArchiveCommand::List => ims::archive::list_command(&config).await,
            ArchiveCommand::Verify { month } => {
                ims::archive::verify_command(&config, month.as_deref()).await
            }
            ArchiveCommand::Restore { month } => {
                ims::archive::restore_command(&config, &month).await
            }
        },
        Command::Users {
            command:
                UsersCommand::CreateAdmin {
                    username,
                    email,
                    password,
                },
        } => ims::admin::create_admin(&config, &username, &email, &password).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "ims failed");
            eprintln!("ims: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
