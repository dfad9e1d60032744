//! The `latchkey` command: serve, migrate, manage applications.

use clap::{Parser, Subcommand};

use latchkey::cli::audit::AuditCommand;
use latchkey::cli::import::{ImportArgs, VendorArgs};
use latchkey::cli::json_line;
use latchkey::cli::sinks::SinksCommand;
use latchkey::cli::staging::{ApplyArgs, ExportArgs, SnapshotCommand};
use latchkey::embedded_pg::EmbeddedPostgres;
use latchkey::http::wire::apps::AppBody;
use latchkey::service::{AppOptions, NewApp, RequestContext};
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
    /// Sinks: stream the audit log to webhooks, Splunk HEC and syslog (docs/streaming.md).
    #[command(subcommand)]
    Sinks(SinksCommand),
    /// Apply a fixture document (JSON or YAML) to an application.
    Apply(ApplyArgs),
    /// Print an application as a fixture document (no secrets).
    Export(ExportArgs),
    /// Save, restore, list and delete named snapshots of an application.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Import an application from the vendor (Config and Registration APIs): clients, secrets
    /// where disclosed, settings, entity types, access schemas (docs/migrating-from-akamai.md).
    Import(ImportArgs),
    /// Compare an application at the vendor with one at Latchkey, client by client; exit 1 on
    /// any difference.
    Compare(VendorArgs),
    /// The sealing keys of signed-requests and show_secrets applications.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// OAuth 2.0 client credentials (docs/oauth.md).
    #[command(subcommand)]
    Oauth(OAuthCommand),
}

#[derive(Subcommand)]
enum OAuthCommand {
    /// An application's token signing keys.
    #[command(subcommand)]
    Keys(OAuthKeysCommand),
}

#[derive(Subcommand)]
enum OAuthKeysCommand {
    /// Publish a new signing key now; it signs after the JWKS max-age, and the old key stays
    /// published until its last token has expired (audited). Prints the rotation as JSON.
    Rotate {
        #[arg(long)]
        app: latchkey::domain::ids::Named<latchkey::domain::ids::AppId>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new random sealing key (base64 of 32 bytes).
    Generate,
    /// Re-seal every sealed secret under the current key (after configuring a new key as
    /// current and the old one as previous); prints a JSON report.
    Rotate,
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
        app_id: Option<latchkey::domain::ids::Named<latchkey::domain::ids::AppId>>,
        /// Check `janrain-signed` requests (needs a sealing key).
        #[arg(long)]
        signed_requests: bool,
        /// Show secrets to owners in reads, as the vendor does (needs a sealing key).
        #[arg(long)]
        show_secrets: bool,
    },
    /// List applications as JSON.
    List,
    /// Change an application's options (audited); prints it as JSON.
    Set {
        #[arg(long)]
        app_id: latchkey::domain::ids::Named<latchkey::domain::ids::AppId>,
        #[arg(long)]
        signed_requests: Option<bool>,
        #[arg(long)]
        show_secrets: Option<bool>,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    latchkey::telemetry::init(cli.settings.log_format);
    if let Err(e) = run(cli).await {
        // One line: the reason, with its causes.
        eprintln!("latchkey: {e:#}");
        std::process::exit(latchkey::cli::exit_code(&e));
    }
}

async fn run(mut cli: Cli) -> anyhow::Result<()> {
    cli.settings.validate().map_err(anyhow::Error::msg)?;
    // Offline verification needs no database: files only.
    if let Command::Audit(AuditCommand::Verify { offline, .. }) = &cli.command {
        if offline.offline {
            return latchkey::cli::audit::verify_offline(offline);
        }
    }
    // Without DATABASE_URL: a private cluster under <data-dir>/pg, stopped when we exit.
    let embedded = match &cli.settings.database.url {
        Some(_) => None,
        None => Some(EmbeddedPostgres::start(&cli.settings.database.data_dir.join("pg")).await?),
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
    let url = match (&cli.settings.database.url, embedded) {
        (Some(url), _) => url.clone(),
        (None, Some(pg)) => pg.database_url("postgres"),
        (None, None) => anyhow::bail!("DATABASE_URL is not set"),
    };
    let pool = startup::connect(
        &url,
        cli.settings.database.max_connections,
        cli.settings.database.max_lifetime_secs,
    )
    .await?;
    startup::migrate(&pool).await?;
    let mut settings = cli.settings.clone();
    if embedded.is_some() && settings.sealing.key.is_none() && settings.sealing.key_file.is_none() {
        // The embedded mode keeps its sealing key beside the cluster, created on first use.
        let path = settings.database.data_dir.join("sealing.key");
        latchkey::auth::sealing::ensure_key_file(&path)?;
        settings.sealing.key_file = Some(path);
    }
    let settings = &settings;
    match &cli.command {
        Command::Migrate => {
            println!("migrations applied");
        }
        Command::Serve => {
            startup::service(settings, pool.clone())?
                .check_sealing_ready()
                .await?;
            if settings.database.bootstrap.unwrap_or(embedded.is_some()) {
                bootstrap_default_app(settings, &pool).await?;
            }
            let app = Application::build(settings, pool)?;
            tracing::info!(port = app.port(), "latchkey listening");
            app.run_until_stopped().await?;
        }
        Command::Apps(AppsCommand::Create {
            name,
            region,
            app_id,
            signed_requests,
            show_secrets,
        }) => {
            let service = startup::service(settings, pool)?;
            let created = service
                .apps()
                .create(
                    &RequestContext::command_line(),
                    NewApp {
                        name: name.clone(),
                        region: region.clone(),
                        app_id: app_id.clone(),
                        signed_requests: *signed_requests,
                        show_secrets: *show_secrets,
                    },
                )
                .await?;
            let (app, owner) = latchkey::cli::wrote(&service, created);
            println!("{}", json_line(&AppBody::new(app, Some(owner)))?);
        }
        Command::Apps(AppsCommand::Set {
            app_id,
            signed_requests,
            show_secrets,
        }) => {
            let service = startup::service(settings, pool)?;
            let app = service
                .apps()
                .set_options(
                    &RequestContext::command_line(),
                    app_id,
                    AppOptions {
                        signed_requests: *signed_requests,
                        show_secrets: *show_secrets,
                    },
                )
                .await?;
            let app = latchkey::cli::wrote(&service, app);
            println!("{}", json_line(&AppBody::new(app, None))?);
        }
        Command::Keys(KeysCommand::Generate) => {
            println!("{}", latchkey::auth::sealing::generate_key());
        }
        Command::Keys(KeysCommand::Rotate) => {
            let service = startup::service(settings, pool)?;
            let report = service
                .apps()
                .reseal_secrets(&RequestContext::command_line())
                .await?;
            println!("{}", serde_json::to_value(&report)?);
            if !report.unopenable.is_empty() {
                anyhow::bail!(
                    "{} sealed secret(s) open with no configured key",
                    report.unopenable.len()
                );
            }
        }
        Command::Oauth(OAuthCommand::Keys(OAuthKeysCommand::Rotate { app })) => {
            let oauth = startup::oauth(settings, startup::service(settings, pool)?, None);
            let committed = oauth
                .rotate_keys(&RequestContext::command_line(), app)
                .await?;
            let report = latchkey::cli::wrote(oauth.core(), committed);
            println!("{}", latchkey::http::oauth::manage::rotation_json(report));
        }
        Command::Apps(AppsCommand::List) => {
            let service = startup::service(settings, pool)?;
            let apps = service.apps().list(&RequestContext::command_line()).await?;
            let list: Vec<_> = apps.into_iter().map(|a| AppBody::new(a, None)).collect();
            println!("{}", json_line(&list)?);
        }
        Command::Audit(cmd) => {
            let service = startup::service(settings, pool)?;
            latchkey::cli::audit::run(cmd, &service).await?;
        }
        Command::Sinks(cmd) => {
            let service = startup::service(settings, pool)?;
            latchkey::cli::sinks::run(cmd, &service).await?;
        }
        Command::Apply(args) => {
            latchkey::cli::staging::apply(args, &startup::service(settings, pool)?).await?
        }
        Command::Export(args) => {
            latchkey::cli::staging::export(args, &startup::service(settings, pool)?).await?
        }
        Command::Snapshot(cmd) => {
            latchkey::cli::staging::snapshot(cmd, &startup::service(settings, pool)?).await?
        }
        Command::Import(args) => {
            latchkey::cli::import::import(args, &startup::service(settings, pool)?).await?
        }
        Command::Compare(args) => {
            latchkey::cli::import::compare(args, &startup::service(settings, pool)?).await?
        }
    }
    Ok(())
}

/// First start on an empty database: create the application `default` and print its owner
/// credentials (the only time its secret is ever shown).
async fn bootstrap_default_app(settings: &Settings, pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let service = startup::service(settings, pool.clone())?;
    let ctx = RequestContext::command_line();
    if !service.apps().list(&ctx).await?.is_empty() {
        return Ok(());
    }
    let created = service
        .apps()
        .create(
            &ctx,
            NewApp {
                name: "default".into(),
                region: "us".into(),
                ..Default::default()
            },
        )
        .await?;
    let (app, owner) = latchkey::cli::wrote(&service, created);
    println!("Created application \"default\". Its owner client (the secret is shown only now):");
    println!("{}", json_line(&AppBody::new(app, Some(owner)))?);
    Ok(())
}
