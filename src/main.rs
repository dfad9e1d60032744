//! The `latchkey` command: serve, migrate, manage applications.

use clap::{Parser, Subcommand};

use latchkey::cli::audit::AuditCommand;
use latchkey::cli::staging::{ApplyArgs, ExportArgs, ImportArgs, SnapshotCommand};
use latchkey::embedded_pg::EmbeddedPostgres;
use latchkey::http::config::app_json;
use latchkey::service::{NewApp, RequestContext};
use latchkey::settings::Settings;
use latchkey::startup::{self, Application};

#[derive(Parser)]
#[command(
    name = "latchkey",
    version,
    about = "API clients and their permissions, self-hosted"
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage applications (tenants).
    #[command(subcommand)]
    Apps(AppsCommand),
    /// The audit log: verify, export, report, retention, prune.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Apply a fixture document (JSON or YAML) to an application.
    Apply(ApplyArgs),
    /// Print an application as a fixture document (no secrets).
    Export(ExportArgs),
    /// Save, restore, list and delete named snapshots of an application.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Read clients and settings from the vendor's Configuration API and apply them.
    Import(ImportArgs),
}

#[derive(Subcommand)]
enum AppsCommand {
    /// Create an application and its first owner client; prints them as JSON.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "us")]
        region: String,
        /// Pin the application id (26 characters of a-z and 0-9) instead of a random one.
        #[arg(long)]
        app_id: Option<String>,
    },
    /// List applications as JSON.
    List,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    latchkey::telemetry::init(&cli.settings.log_format);
    if let Err(e) = run(cli).await {
        // One line: the reason, with its causes.
        eprintln!("latchkey: {e:#}");
        std::process::exit(latchkey::cli::exit_code(&e));
    }
}

async fn run(mut cli: Cli) -> anyhow::Result<()> {
    cli.settings.validate().map_err(anyhow::Error::msg)?;
    // Without DATABASE_URL: a private cluster under <data-dir>/pg, stopped when we exit.
    let embedded = match &cli.settings.database_url {
        Some(_) => None,
        None => Some(EmbeddedPostgres::start(&cli.settings.data_dir.join("pg")).await?),
    };
    let result = run_with_database(&cli, embedded.as_ref()).await;
    if let Some(pg) = embedded {
        if let Err(e) = pg.stop().await {
            tracing::warn!(error = %e, "could not stop the embedded PostgreSQL");
        }
    }
    result
}

async fn run_with_database(cli: &Cli, embedded: Option<&EmbeddedPostgres>) -> anyhow::Result<()> {
    let url = match (&cli.settings.database_url, embedded) {
        (Some(url), _) => url.clone(),
        (None, Some(pg)) => pg.database_url("postgres"),
        (None, None) => anyhow::bail!("DATABASE_URL is not set"),
    };
    let pool = startup::connect(&url, cli.settings.db_max_connections).await?;
    startup::migrate(&pool).await?;
    match &cli.command {
        Command::Migrate => {
            println!("migrations applied");
        }
        Command::Serve => {
            if cli.settings.bootstrap.unwrap_or(embedded.is_some()) {
                bootstrap_default_app(&cli.settings, &pool).await?;
            }
            let app = Application::build(&cli.settings, pool)?;
            tracing::info!(port = app.port(), "latchkey listening");
            app.run_until_stopped().await?;
        }
        Command::Apps(AppsCommand::Create {
            name,
            region,
            app_id,
        }) => {
            let service = startup::service(&cli.settings, pool)?;
            let (app, owner) = service
                .create_app(
                    &RequestContext::command_line(),
                    NewApp {
                        name: name.clone(),
                        region: region.clone(),
                        app_id: app_id.clone(),
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", app_json(app, Some(owner)));
        }
        Command::Apps(AppsCommand::List) => {
            let service = startup::service(&cli.settings, pool)?;
            let apps = service
                .list_apps(&RequestContext::command_line())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let list: Vec<_> = apps.into_iter().map(|a| app_json(a, None)).collect();
            println!("{}", serde_json::Value::Array(list));
        }
        Command::Audit(cmd) => {
            let service = startup::service(&cli.settings, pool)?;
            latchkey::cli::audit::run(cmd, &service).await?;
        }
        Command::Apply(args) => {
            latchkey::cli::staging::apply(args, &startup::service(&cli.settings, pool)?).await?
        }
        Command::Export(args) => {
            latchkey::cli::staging::export(args, &startup::service(&cli.settings, pool)?).await?
        }
        Command::Snapshot(cmd) => {
            latchkey::cli::staging::snapshot(cmd, &startup::service(&cli.settings, pool)?).await?
        }
        Command::Import(args) => {
            latchkey::cli::staging::import(args, &startup::service(&cli.settings, pool)?).await?
        }
    }
    Ok(())
}

/// First start on an empty database: create the application `default` and print its owner
/// credentials (the only time its secret is ever shown).
async fn bootstrap_default_app(settings: &Settings, pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let service = startup::service(settings, pool.clone())?;
    let ctx = RequestContext::command_line();
    if !service
        .list_apps(&ctx)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .is_empty()
    {
        return Ok(());
    }
    let (app, owner) = service
        .create_app(
            &ctx,
            NewApp {
                name: "default".into(),
                region: "us".into(),
                app_id: None,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("Created application \"default\". Its owner client (the secret is shown only now):");
    println!("{}", app_json(app, Some(owner)));
    Ok(())
}
