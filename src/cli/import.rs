//! `latchkey import` and `latchkey compare`: moving an application off the vendor
//! (docs/migrating-from-akamai.md). Reading the vendor is `service::vendor`, the rules of the
//! import and of the comparison are `service::migration`; this module parses the options, runs
//! the passes and prints.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::{json, Value};

use super::json_line;
use crate::domain::ids::{AppId, Named};
use crate::http::wire::staging::ApplyReportBody;
use crate::service::vendor::{derive_registration_url, VendorAuth, VendorSource};
use crate::service::{ApplyOptions, Comparison, Latchkey, RequestContext};

/// Where the vendor's application is and how to read it (both commands).
#[derive(Args, Debug, Clone)]
pub struct VendorArgs {
    /// The Latchkey application to import into (or compare with).
    #[arg(long)]
    pub app: Named<AppId>,
    /// The vendor's Config API base of the application: `https://…/config/{appId}`.
    #[arg(long)]
    pub from: String,
    /// The vendor's Registration API base (`https://{app}.{region}.janraincapture.com`);
    /// derived from `--from` when that is a Latchkey address (`…/config/{appId}`).
    #[arg(long)]
    pub registration_url: Option<String>,
    /// An owner client of the vendor's application.
    #[arg(long)]
    pub client_id: String,
    #[arg(long, env = "LATCHKEY_IMPORT_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// Send HTTP Basic credentials to the Registration API instead of signing the requests.
    #[arg(long)]
    pub basic: bool,
    /// Print the comparison as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl VendorArgs {
    fn source(&self) -> anyhow::Result<VendorSource> {
        let registration_url = match &self.registration_url {
            Some(url) => url.clone(),
            None => derive_registration_url(&self.from)?,
        };
        Ok(VendorSource {
            config_url: self.from.trim_end_matches('/').to_owned(),
            registration_url,
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            auth: if self.basic {
                VendorAuth::Basic
            } else {
                VendorAuth::Signed
            },
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    #[command(flatten)]
    pub vendor: VendorArgs,
    /// Print the changes it would make, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete what the vendor does not have (any more).
    #[arg(long)]
    pub prune: bool,
    /// After importing, compare both sides (as `latchkey compare`); exit 1 on any difference.
    #[arg(long)]
    pub verify: bool,
    /// Repeat the import until stopped (SIGINT/SIGTERM), one line per pass.
    #[arg(long, conflicts_with = "verify")]
    pub sync: bool,
    /// With `--sync`: the time between passes (`30s`, `5m`, `1h`).
    #[arg(long, default_value = "5m", value_parser = parse_interval)]
    pub every: Duration,
}

/// `30s`, `5m`, `1h` (or a number of seconds).
fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not an interval like 30s, 5m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text:?} is not an interval like 30s, 5m or 1h")),
    };
    if secs == 0 {
        return Err("the interval must be at least 1s".into());
    }
    Ok(Duration::from_secs(secs))
}

/// The comparison found differences (exit code 1; already printed).
#[derive(Debug, thiserror::Error)]
#[error("{0} difference(s) between the vendor and Latchkey")]
pub struct Differences(pub usize);

pub async fn import(args: &ImportArgs, service: &Latchkey) -> anyhow::Result<()> {
    if args.sync {
        return sync(args, service).await;
    }
    let source = args.vendor.source()?;
    let ctx = RequestContext::command_line();
    let vendor = source.read().await?;
    let options = ApplyOptions {
        dry_run: args.dry_run,
        prune: args.prune,
    };
    let report = service
        .staging()
        .import_vendor_app(&ctx, &args.vendor.app, &source.config_url, &vendor, options)
        .await?;
    let report = super::wrote(service, report);
    println!("{}", json_line(&ApplyReportBody::new(report))?);
    if args.verify {
        // Read again: the comparison is of what both sides hold now.
        let vendor = source.read().await?;
        let comparison = service
            .compare_with_vendor(&ctx, &args.vendor.app, &vendor, true)
            .await?;
        return print_comparison(&comparison, args.vendor.json);
    }
    Ok(())
}

pub async fn compare(args: &VendorArgs, service: &Latchkey) -> anyhow::Result<()> {
    let source = args.source()?;
    let vendor = source.read().await?;
    let comparison = service
        .compare_with_vendor(&RequestContext::command_line(), &args.app, &vendor, true)
        .await?;
    print_comparison(&comparison, args.json)
}

fn print_comparison(c: &Comparison, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", comparison_json(c));
    } else {
        print!("{}", comparison_table(c));
    }
    match c.difference_count() {
        0 => Ok(()),
        n => Err(Differences(n).into()),
    }
}

fn difference_json(d: &crate::service::Difference) -> Value {
    json!({"part": d.part, "vendor": d.vendor, "latchkey": d.latchkey})
}

pub fn comparison_json(c: &Comparison) -> Value {
    json!({
        "agree": c.agrees(),
        "differences": c.difference_count(),
        "entityTypes": c.entity_types,
        "application": c.application.iter().map(difference_json).collect::<Vec<_>>(),
        "clients": c.clients.iter().map(|k| json!({
            "client_id": k.client_id,
            "name": k.name,
            "accessSchemas": k.schemas,
            "secret": k.secret.as_str(),
            "differences": k.differences.iter().map(difference_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// One row per client (`same` or `DIFFERS` per part), then each difference on its own line.
pub fn comparison_table(c: &Comparison) -> String {
    const PARTS: [&str; 4] = ["name", "features", "allow list", "settings"];
    let mut rows = vec![[
        "client".to_owned(),
        "name".into(),
        "name".into(),
        "features".into(),
        "allow list".into(),
        "settings".into(),
        "access schemas".into(),
        "secret".into(),
    ]];
    for k in &c.clients {
        let cell = |part: &str| {
            if k.differences
                .iter()
                .any(|d| d.part == part || d.part == "client")
            {
                "DIFFERS".to_owned()
            } else {
                "same".to_owned()
            }
        };
        let schemas_differ = k
            .differences
            .iter()
            .any(|d| d.part.starts_with("access schema") || d.part == "client");
        let [p0, p1, p2, p3] = PARTS.map(cell);
        rows.push([
            k.client_id.clone(),
            k.name.clone(),
            p0,
            p1,
            p2,
            p3,
            if schemas_differ {
                "DIFFERS".into()
            } else {
                format!("same ({})", k.schemas)
            },
            k.secret.as_str().to_owned(),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let settings_differ = c
        .application
        .iter()
        .any(|d| d.part == "application settings");
    let types_differ = c
        .application
        .iter()
        .any(|d| d.part.starts_with("entity type"));
    out.push_str(&format!(
        "application settings: {}; entity types: {}\n",
        if settings_differ { "DIFFERS" } else { "same" },
        if types_differ {
            "DIFFERS".to_owned()
        } else {
            format!("same ({})", c.entity_types)
        }
    ));
    let mut details = Vec::new();
    for d in &c.application {
        details.push(format!(
            "{}: vendor {} / latchkey {}",
            d.part, d.vendor, d.latchkey
        ));
    }
    for k in &c.clients {
        for d in &k.differences {
            details.push(format!(
                "client {}: {}: vendor {} / latchkey {}",
                k.client_id, d.part, d.vendor, d.latchkey
            ));
        }
        if k.secret == crate::service::SecretCheck::Refused {
            details.push(format!(
                "client {}: secret: the vendor's secret does not authenticate at Latchkey",
                k.client_id
            ));
        }
    }
    if details.is_empty() {
        out.push_str("no difference\n");
    } else {
        for line in details {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// `--sync`: a pass now, then one every `--every`, until SIGINT or SIGTERM. A pass that fails
/// (the vendor unreachable, a refused answer) changes nothing and the next pass tries again.
async fn sync(args: &ImportArgs, service: &Latchkey) -> anyhow::Result<()> {
    let source = args.vendor.source()?;
    let options = ApplyOptions {
        dry_run: args.dry_run,
        prune: args.prune,
    };
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    let mut pass_number = 0u64;
    loop {
        pass_number += 1;
        let started = Instant::now();
        let pass = async {
            let ctx = RequestContext::command_line();
            let vendor = source.read().await?;
            let report = service
                .staging()
                .import_vendor_app(&ctx, &args.vendor.app, &source.config_url, &vendor, options)
                .await?;
            let report = super::wrote(service, report);
            // What is left to differ after the pass (the secrets were checked by the import).
            let comparison = service
                .compare_with_vendor(&ctx, &args.vendor.app, &vendor, false)
                .await?;
            // The `app.import` event is the first change; the rest are the applied ones.
            anyhow::Ok((
                report.changes.len().saturating_sub(1),
                comparison.difference_count(),
            ))
        };
        let outcome = tokio::select! {
            outcome = pass => Some(outcome),
            _ = tokio::signal::ctrl_c() => None,
            _ = terminate.recv() => None,
        };
        let took = started.elapsed().as_secs_f64();
        match outcome {
            // Stopped mid-pass: its transaction was dropped, so rolled back.
            None => {
                println!("pass {pass_number}: stopped before it finished; nothing changed");
                return Ok(());
            }
            Some(Ok((applied, left))) => println!(
                "pass {pass_number}: {applied} change(s) applied, {left} difference(s) left, {took:.1}s"
            ),
            Some(Err(e)) => println!(
                "pass {pass_number}: nothing changed ({e:#}); retried at the next pass, {took:.1}s"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(args.every) => {}
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }
    println!("stopped after {pass_number} pass(es)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "m", "5 m", "1.5m", "5d", "0s"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }
}
