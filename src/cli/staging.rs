//! `latchkey apply | export | snapshot`: the staging toolkit on the command line. The
//! commands act as the platform operator, straight on the database (no server needed), and
//! print JSON (export: the document itself).

use std::io::Read;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::json_line;
use crate::domain::fixture::{self, Format};
use crate::domain::ids::{AppId, Named};
use crate::http::wire::staging::{ApplyReportBody, FixtureDocument, RestoreReportBody, Snapshot};
use crate::service::{ApplyOptions, Latchkey, RequestContext};

#[derive(Args, Debug, Clone)]
pub struct ApplyArgs {
    #[arg(long)]
    pub app: Named<AppId>,
    /// The fixture document (JSON or YAML); `-` reads standard input.
    #[arg(short = 'f', long = "file")]
    pub file: String,
    /// Print the changes it would make, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete what the document does not mention.
    #[arg(long)]
    pub prune: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    #[arg(long)]
    pub app: Named<AppId>,
    #[arg(long, default_value = "json", value_parser = ["json", "yaml"])]
    pub format: String,
    /// Leave out the clients' `_id`s (to copy into another application on the same server).
    #[arg(long)]
    pub without_ids: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum SnapshotCommand {
    /// Save the application's whole state (secret hashes included) under a name.
    Save {
        #[arg(long)]
        app: Named<AppId>,
        #[arg(long)]
        name: String,
    },
    /// Put the application back into a saved state.
    Restore {
        #[arg(long)]
        app: Named<AppId>,
        #[arg(long)]
        name: String,
    },
    List {
        #[arg(long)]
        app: Named<AppId>,
    },
    Delete {
        #[arg(long)]
        app: Named<AppId>,
        #[arg(long)]
        name: String,
    },
}

fn read_document(file: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
    } else {
        text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    }
    Ok(text)
}

pub async fn apply(args: &ApplyArgs, service: &Latchkey) -> anyhow::Result<()> {
    let doc = fixture::parse_text(&read_document(&args.file)?)?;
    apply_document(service, &args.app, &doc, args.dry_run, args.prune).await
}

/// Applies a document as the operator and prints the report.
async fn apply_document(
    service: &Latchkey,
    app_id: &Named<AppId>,
    doc: &serde_json::Value,
    dry_run: bool,
    prune: bool,
) -> anyhow::Result<()> {
    let options = ApplyOptions { dry_run, prune };
    let report = service
        .staging()
        .apply_fixture(&RequestContext::command_line(), app_id, doc, options)
        .await?;
    let report = super::wrote(service, report);
    println!("{}", json_line(&ApplyReportBody::new(report))?);
    Ok(())
}

pub async fn export(args: &ExportArgs, service: &Latchkey) -> anyhow::Result<()> {
    let app = service
        .staging()
        .export_fixture(&RequestContext::command_line(), &args.app)
        .await?;
    let doc = FixtureDocument::export(app, !args.without_ids);
    let format: Format = args.format.parse().map_err(anyhow::Error::msg)?;
    print!("{}", fixture::to_text(&doc, format)?);
    Ok(())
}

pub async fn snapshot(cmd: &SnapshotCommand, service: &Latchkey) -> anyhow::Result<()> {
    let ctx = RequestContext::command_line();
    let out = match cmd {
        SnapshotCommand::Save { app, name } => {
            let saved = super::wrote(
                service,
                service.staging().save_snapshot(&ctx, app, name).await?,
            );
            json_line(&Snapshot::new(saved))?
        }
        SnapshotCommand::Restore { app, name } => {
            let restored = service.staging().restore_snapshot(&ctx, app, name).await?;
            json_line(&RestoreReportBody::new(super::wrote(service, restored)))?
        }
        SnapshotCommand::List { app } => {
            let list = service.staging().list_snapshots(&ctx, app).await?;
            json_line(&list.into_iter().map(Snapshot::new).collect::<Vec<_>>())?
        }
        SnapshotCommand::Delete { app, name } => {
            super::wrote(
                service,
                service.staging().delete_snapshot(&ctx, app, name).await?,
            );
            serde_json::json!({ "deleted": name }).to_string()
        }
    };
    println!("{out}");
    Ok(())
}
