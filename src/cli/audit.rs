//! `latchkey audit verify | export | report | entitlements | retention | prune`: the operator's audit tools.
//! They act as the platform operator, straight on the database (no server needed).

use std::io::{self, Write};

use anyhow::Context;
use chrono::Utc;
use clap::{Subcommand, ValueEnum};
use futures_util::StreamExt;

use super::json_line;
use crate::domain::audit_query::{
    parse_feature, parse_time, write_csv_row, AuditFilter, Order, CSV_HEADER,
};
use crate::domain::audit_verify::Anchor;
use crate::domain::ids::{AppId, Named};
use crate::http::wire::audit::{PruneBody, ReportBody, VerdictBody};
use crate::service::{Latchkey, RequestContext, ServiceError};

#[derive(Subcommand, Debug, Clone)]
pub enum AuditCommand {
    /// Verify an application's hash chain. Prints JSON: the head hash and count when intact,
    /// else the first broken or missing seq. Exit status 0 intact, 2 broken, 1 error.
    ///
    /// With --offline: check an export (--events) or one event with its inclusion proof
    /// (--event, --proof) against a signed checkpoint (--checkpoint) and the verifier key
    /// (--key), with no database and no server. Exit status 1 and the first bad revision on
    /// failure.
    Verify {
        #[arg(long, required_unless_present = "offline")]
        app: Option<Named<AppId>>,
        /// A (seq, hash) noted earlier, e.g. a previous head, that must still be in the chain.
        /// Repeatable.
        #[arg(long = "anchor", value_name = "SEQ:HASH", conflicts_with = "offline")]
        anchors: Vec<String>,
        #[command(flatten)]
        offline: OfflineArgs,
    },
    /// Retire the key signing audit checkpoints and start a new one (written to every
    /// application's log). Checkpoints signed before stay verifiable with the old key, still
    /// listed at GET /audit/keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sign a checkpoint now for every application whose log grew (the server does this every
    /// LATCHKEY_CHECKPOINT_SECS); prints how many.
    Checkpoint,
    /// Put an application's audit log under legal hold: prune refuses to remove its events until
    /// then (a past time ends the hold). Without --until: show the hold. Audited.
    Hold {
        #[arg(long)]
        app: Named<AppId>,
        /// RFC 3339 time, or a date (its midnight UTC).
        #[arg(long)]
        until: Option<String>,
    },
    /// Stream an application's events to stdout in constant memory (chain order by default,
    /// so the output can be verified offline; see docs/audit_verify.py).
    Export {
        #[arg(long)]
        app: Named<AppId>,
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
        app: Named<AppId>,
        /// Start of the period (included).
        #[arg(long)]
        since: String,
        /// End of the period (excluded).
        #[arg(long)]
        until: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Access reviews (docs/audit.md): every client at a moment with its features, IP allow
    /// list and access schemas, as it was (--at, default now); or, with --from (and --to,
    /// default now), what changed between two moments.
    Entitlements {
        #[arg(long)]
        app: Named<AppId>,
        /// The moment (RFC 3339, or a date: its midnight UTC).
        #[arg(long, conflicts_with_all = ["from", "to"])]
        at: Option<String>,
        /// Changes after this moment…
        #[arg(long)]
        from: Option<String>,
        /// …up to and including this one (default now).
        #[arg(long, requires = "from")]
        to: Option<String>,
        #[arg(long, value_enum, default_value_t = TableFormat::Json)]
        format: TableFormat,
    },
    /// Show or set how long an application keeps its audit events (default: forever).
    Retention {
        #[arg(long)]
        app: Named<AppId>,
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
        app: Option<Named<AppId>>,
        /// Only report what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Prune even events that active sinks have not delivered yet (recorded in the
        /// checkpoint event; docs/streaming.md).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum KeyCommand {
    /// Retire the current signing key and create a new one; prints the new verifier key.
    Rotate,
}

/// `audit verify --offline`: files an auditor holds.
#[derive(clap::Args, Debug, Clone)]
pub struct OfflineArgs {
    /// Verify files, with no database and no server.
    #[arg(long, requires_all = ["checkpoint", "key"])]
    pub offline: bool,
    /// An unfiltered NDJSON export, oldest first (`latchkey audit export`, or the NDJSON
    /// stream of GET /config/{appId}/audit).
    #[arg(long, conflicts_with = "event", requires = "offline")]
    pub events: Option<std::path::PathBuf>,
    /// One exported event (one NDJSON line), checked with --proof.
    #[arg(long, requires_all = ["proof", "offline"])]
    pub event: Option<std::path::PathBuf>,
    /// Its inclusion proof (the JSON of GET …/audit/proof/inclusion).
    #[arg(long, requires = "event")]
    pub proof: Option<std::path::PathBuf>,
    /// The signed checkpoint (GET …/audit/checkpoint).
    #[arg(long, requires = "offline")]
    pub checkpoint: Option<std::path::PathBuf>,
    /// The verifier key(s), one a line (from GET /audit/keys).
    #[arg(long, requires = "offline")]
    pub key: Option<std::path::PathBuf>,
}

/// `audit verify --offline` found a problem (exit status 1; the report is already printed).
#[derive(Debug, thiserror::Error)]
#[error("offline verification failed")]
pub struct OfflineFailed;

fn read(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

#[derive(serde::Serialize)]
struct OfflineReport {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tree_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// `latchkey audit verify --offline …`: prints one JSON line; exit status 1 on failure.
pub fn verify_offline(args: &OfflineArgs) -> anyhow::Result<()> {
    use crate::domain::evidence;
    let (Some(checkpoint), Some(key)) = (&args.checkpoint, &args.key) else {
        anyhow::bail!("--offline needs --checkpoint and --key");
    };
    let (checkpoint, keys) = (read(checkpoint)?, read(key)?);
    let result = match (&args.events, &args.event, &args.proof) {
        (Some(events), _, _) => evidence::verify_export(&read(events)?, &checkpoint, &keys),
        (None, Some(event), Some(proof)) => {
            evidence::verify_event(&read(event)?, &read(proof)?, &checkpoint, &keys)
        }
        _ => anyhow::bail!("--offline needs --events, or --event with --proof"),
    };
    let report = match &result {
        Ok(v) => OfflineReport {
            status: "verified",
            origin: Some(v.checkpoint.origin.clone()),
            tree_size: Some(v.checkpoint.size),
            key_id: Some(v.key_id.clone()),
            events: Some(v.events),
            revision: None,
            message: None,
        },
        Err(f) => OfflineReport {
            status: "failed",
            origin: None,
            tree_size: None,
            key_id: None,
            events: None,
            revision: f.revision,
            message: Some(f.message.clone()),
        },
    };
    println!("{}", serde_json::to_string(&report)?);
    match result {
        Ok(_) => Ok(()),
        Err(_) => Err(OfflineFailed.into()),
    }
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

/// How `audit entitlements` prints: the JSON of the HTTP API, or its CSV.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Json,
    Csv,
}

/// `latchkey audit entitlements`: the same body as GET …/audit/entitlements(/changes).
async fn entitlements(
    service: &Latchkey,
    ctx: &RequestContext,
    app: &Named<AppId>,
    at: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    format: TableFormat,
) -> anyhow::Result<()> {
    use crate::http::wire::entitlements::{
        changes_csv, entitlements_csv, ChangesBody, EntitlementsBody,
    };
    let time = |name: &'static str, t: Option<&str>| t.map(|t| parse_time(name, t)).transpose();
    let out = match from {
        Some(from) => {
            let from = parse_time("from", from)?;
            let c = service
                .audit()
                .entitlement_changes(ctx, app, from, time("to", to)?)
                .await?;
            match format {
                TableFormat::Csv => changes_csv(&c),
                TableFormat::Json => serde_json::to_string_pretty(&ChangesBody::of(c))? + "\n",
            }
        }
        None => {
            let e = service
                .audit()
                .entitlements_at(ctx, app, time("at", at)?)
                .await?;
            match format {
                TableFormat::Csv => entitlements_csv(&e),
                TableFormat::Json => serde_json::to_string_pretty(&EntitlementsBody::of(e))? + "\n",
            }
        }
    };
    io::stdout().write_all(out.as_bytes())?;
    Ok(())
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
        AuditCommand::Verify {
            app,
            anchors,
            offline,
        } => match app {
            Some(app) if !offline.offline => verify(service, &ctx, app, anchors).await,
            _ => verify_offline(offline),
        },
        AuditCommand::Key(KeyCommand::Rotate) => {
            let info = super::wrote(service, service.evidence().rotate_key(&ctx).await?);
            println!(
                "{}",
                serde_json::json!({
                    "key": info.key.encode(),
                    "key_id": info.key.key_id(),
                    "valid_from": crate::domain::audit::format_time(&info.valid_from),
                })
            );
            Ok(())
        }
        AuditCommand::Checkpoint => {
            let made = service.evidence().make_checkpoints().await?;
            println!("{}", serde_json::json!({ "checkpoints": made }));
            Ok(())
        }
        AuditCommand::Hold { app, until } => {
            let held = match until {
                Some(until) => {
                    let until = parse_time("until", until)?;
                    super::wrote(
                        service,
                        service.evidence().set_hold(&ctx, app, until).await?,
                    );
                    Some(until)
                }
                None => service.evidence().hold(&ctx, app).await?,
            };
            println!(
                "{}",
                serde_json::json!({
                    "app_id": app,
                    "hold_until": held.as_ref().map(crate::domain::audit::format_time),
                })
            );
            Ok(())
        }
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
        AuditCommand::Entitlements {
            app,
            at,
            from,
            to,
            format,
        } => {
            entitlements(
                service,
                &ctx,
                app,
                at.as_deref(),
                from.as_deref(),
                to.as_deref(),
                *format,
            )
            .await
        }
        AuditCommand::Retention {
            app,
            keep_days,
            forever,
        } => retention(service, &ctx, app, *keep_days, *forever).await,
        AuditCommand::Prune {
            app,
            dry_run,
            force,
        } => prune(service, &ctx, app.as_ref(), *dry_run, *force).await,
    }
}

/// Prints the verdict; a broken chain is the `ChainBroken` error (exit status 2).
async fn verify(
    service: &Latchkey,
    ctx: &RequestContext,
    app: &Named<AppId>,
    anchors: &[String],
) -> anyhow::Result<()> {
    let anchors = anchors
        .iter()
        .map(|a| a.parse::<Anchor>())
        .collect::<Result<Vec<_>, _>>()?;
    let verdict = service.audit().verify(ctx, app, anchors).await?;
    let intact = verdict.is_intact();
    println!("{}", json_line(&VerdictBody::new(verdict, app.as_str()))?);
    if !intact {
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
    app: &Named<AppId>,
    since: &str,
    until: &str,
    format: ReportFormat,
) -> anyhow::Result<()> {
    let since = parse_time("since", since)?;
    let until = parse_time("until", until)?;
    let report = service.audit().report(ctx, app, since, until).await?;
    if format == ReportFormat::Json {
        println!("{}", json_line(&ReportBody::new(report))?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

/// Shows the retention period, or sets it (`--keep-days N`, `--forever`).
async fn retention(
    service: &Latchkey,
    ctx: &RequestContext,
    app: &Named<AppId>,
    keep_days: Option<i64>,
    forever: bool,
) -> anyhow::Result<()> {
    let days = if forever || keep_days.is_some() {
        super::wrote(
            service,
            service.audit().set_retention(ctx, app, keep_days).await?,
        )
    } else {
        service.audit().retention(ctx, app).await?
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
    app: Option<&Named<AppId>>,
    dry_run: bool,
    force: bool,
) -> anyhow::Result<()> {
    let apps = match app {
        Some(a) => vec![a.clone()],
        None => service
            .audit()
            .apps_with_retention(ctx)
            .await?
            .into_iter()
            .map(Named::Id)
            .collect(),
    };
    let mut held = None;
    for app in apps {
        let outcome = match service
            .audit()
            .prune_with(ctx, &app, Utc::now(), dry_run, force)
            .await
        {
            // A legal hold stops this application only: the others are still pruned, and the
            // command fails at the end with the (first) hold's message.
            Err(e @ ServiceError::AuditHold { .. }) => {
                held.get_or_insert(e);
                continue;
            }
            other => other.with_context(|| format!("pruning application {app}"))?,
        };
        let outcome = super::wrote(service, outcome);
        println!("{}", json_line(&PruneBody::new(outcome))?);
    }
    match held {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Streams to stdout through a buffer; a closed pipe (`| head`) ends the export quietly.
async fn export(
    service: &Latchkey,
    ctx: &RequestContext,
    app: &Named<AppId>,
    filter: AuditFilter,
    order: Order,
    format: ExportFormat,
) -> anyhow::Result<()> {
    let mut stream = service.audit().stream(ctx, app, filter, order).await?;
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
