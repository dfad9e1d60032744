//! `latchkey audit verify | export | report | retention | prune`: the operator's audit tools.
//! They act as the platform operator, straight on the database (no server needed).

use std::io::{self, Write};

use anyhow::Context;
use chrono::Utc;
use clap::{Subcommand, ValueEnum};
use futures_util::StreamExt;

use crate::domain::audit_query::{
    parse_feature, parse_time, write_csv_row, AuditFilter, Order, CSV_HEADER,
};
use crate::domain::audit_verify::Anchor;
use crate::domain::ids::AppId;
use crate::service::{Latchkey, RequestContext};

#[derive(Subcommand, Debug, Clone)]
pub enum AuditCommand {
    /// Verify an application's hash chain. Prints JSON: the head hash and count when intact,
    /// else the first broken or missing seq. Exit status 0 intact, 2 broken, 1 error.
    Verify {
        #[arg(long)]
        app: AppId,
        /// A (seq, hash) noted earlier, e.g. a previous head, that must still be in the chain.
        /// Repeatable.
        #[arg(long = "anchor", value_name = "SEQ:HASH")]
        anchors: Vec<String>,
    },
    /// Stream an application's events to stdout in constant memory (chain order by default,
    /// so the output can be verified offline; see docs/audit_verify.py).
    Export {
        #[arg(long)]
        app: AppId,
        /// Events at or after this time (RFC 3339, or a date: its midnight UTC).
        #[arg(long)]
        since: Option<String>,
        /// Events before this time.
        #[arg(long)]
        until: Option<String>,
        /// Events about this client (its id).
        #[arg(long)]
        client: Option<String>,
        /// Events that added or removed this feature.
        #[arg(long)]
        feature: Option<String>,
        /// Events made by this actor (a client id, or `operator`).
        #[arg(long)]
        actor: Option<String>,
        /// Events with this action, e.g. client.update.
        #[arg(long)]
        action: Option<String>,
        #[arg(long, default_value = "oldest", value_parser = ["oldest", "newest"])]
        order: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Ndjson)]
        format: ExportFormat,
    },
    /// Summarise who held which feature over a period: per client, the features at the start
    /// and at the end, and each grant or revocation in between, with actor and time.
    Report {
        #[arg(long)]
        app: AppId,
        /// Start of the period (included).
        #[arg(long)]
        since: String,
        /// End of the period (excluded).
        #[arg(long)]
        until: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Show or set how long an application keeps its audit events (default: forever).
    Retention {
        #[arg(long)]
        app: AppId,
        /// Keep events this many days (1..36500); older ones go at the next `prune`.
        #[arg(long, conflicts_with = "forever")]
        keep_days: Option<i64>,
        /// Keep every event forever (the default).
        #[arg(long)]
        forever: bool,
    },
    /// Remove events older than the retention period, behind a checkpoint event that keeps the
    /// rest of the chain verifiable. Without --app: every application that has a retention.
    Prune {
        #[arg(long)]
        app: Option<AppId>,
        /// Only report what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

/// How `audit export` writes events: CSV with a header, one JSON record a line, or one array.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Ndjson,
    Json,
}

/// How `audit report` prints: for people, or JSON.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Text,
    Json,
}

/// `audit verify` found the chain broken (exit status 2; the report is already printed).
#[derive(Debug, thiserror::Error)]
#[error("the audit chain of application {app_id} is broken")]
pub struct ChainBroken {
    pub app_id: String,
}

pub async fn run(cmd: &AuditCommand, service: &Latchkey) -> anyhow::Result<()> {
    let ctx = RequestContext::command_line();
    match cmd {
        AuditCommand::Verify { app, anchors } => verify(service, &ctx, app, anchors).await,
        AuditCommand::Export {
            app,
            since,
            until,
            client,
            feature,
            actor,
            action,
            order,
            format,
        } => {
            let filter = AuditFilter {
                client: client.clone(),
                actor: actor.clone(),
                action: action.clone(),
                feature: feature.as_deref().map(parse_feature).transpose()?,
                since: since
                    .as_deref()
                    .map(|t| parse_time("since", t))
                    .transpose()?,
                until: until
                    .as_deref()
                    .map(|t| parse_time("until", t))
                    .transpose()?,
            };
            export(service, &ctx, app, filter, order.parse()?, *format).await
        }
        AuditCommand::Report {
            app,
            since,
            until,
            format,
        } => report(service, &ctx, app, since, until, *format).await,
        AuditCommand::Retention {
            app,
            keep_days,
            forever,
        } => retention(service, &ctx, app, *keep_days, *forever).await,
        AuditCommand::Prune { app, dry_run } => prune(service, &ctx, app.as_ref(), *dry_run).await,
    }
}

/// Prints the verdict; a broken chain is the `ChainBroken` error (exit status 2).
async fn verify(
    service: &Latchkey,
    ctx: &RequestContext,
    app: &AppId,
    anchors: &[String],
) -> anyhow::Result<()> {
    let anchors = anchors
        .iter()
        .map(|a| a.parse::<Anchor>())
        .collect::<Result<Vec<_>, _>>()?;
    let verdict = service.verify_audit(ctx, app, anchors).await?;
    println!("{}", verdict.to_json(app));
    if !verdict.is_intact() {
        return Err(ChainBroken {
            app_id: app.to_string(),
        }
        .into());
    }
    Ok(())
}

async fn report(
    service: &Latchkey,
    ctx: &RequestContext,
    app: &AppId,
    since: &str,
    until: &str,
    format: ReportFormat,
) -> anyhow::Result<()> {
    let since = parse_time("since", since)?;
    let until = parse_time("until", until)?;
    let report = service.audit_report(ctx, app, since, until).await?;
    if format == ReportFormat::Json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

/// Shows the retention period, or sets it (`--keep-days N`, `--forever`).
async fn retention(
    service: &Latchkey,
    ctx: &RequestContext,
    app: &AppId,
    keep_days: Option<i64>,
    forever: bool,
) -> anyhow::Result<()> {
    let days = if forever || keep_days.is_some() {
        super::wrote(
            service,
            service.set_audit_retention(ctx, app, keep_days).await?,
        )
    } else {
        service.audit_retention(ctx, app).await?
    };
    println!(
        "{}",
        serde_json::json!({ "app_id": app, "keep_days": days })
    );
    Ok(())
}

/// Prunes one application, or every application with a retention period; one JSON line each.
async fn prune(
    service: &Latchkey,
    ctx: &RequestContext,
    app: Option<&AppId>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let apps = match app {
        Some(a) => vec![a.clone()],
        None => service.apps_with_audit_retention(ctx).await?,
    };
    for app in apps {
        let outcome = service
            .prune_audit(ctx, &app, Utc::now(), dry_run)
            .await
            .with_context(|| format!("pruning application {app}"))?;
        let outcome = super::wrote(service, outcome);
        println!("{}", outcome.to_json());
    }
    Ok(())
}

/// Streams to stdout through a buffer; a closed pipe (`| head`) ends the export quietly.
async fn export(
    service: &Latchkey,
    ctx: &RequestContext,
    app: &AppId,
    filter: AuditFilter,
    order: Order,
    format: ExportFormat,
) -> anyhow::Result<()> {
    let mut stream = service.audit_stream(ctx, app, filter, order).await?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut text = String::with_capacity(256 * 1024);
    let mut first = true;
    let result: io::Result<()> = async {
        match format {
            ExportFormat::Csv => out.write_all(CSV_HEADER.as_bytes())?,
            ExportFormat::Json => out.write_all(b"[")?,
            ExportFormat::Ndjson => {}
        }
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(io::Error::other)?;
            text.clear();
            for e in &batch {
                match format {
                    ExportFormat::Csv => write_csv_row(&mut text, &e.event, &e.prev_hash, &e.hash),
                    ExportFormat::Json => {
                        text.push_str(if first { "\n" } else { ",\n" });
                        first = false;
                        e.write_record(&mut text);
                    }
                    ExportFormat::Ndjson => {
                        e.write_record(&mut text);
                        text.push('\n');
                    }
                }
            }
            out.write_all(text.as_bytes())?;
        }
        if format == ExportFormat::Json {
            out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
        }
        out.flush()
    }
    .await;
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the export"),
    }
}
