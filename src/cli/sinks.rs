//! `latchkey sinks add | list | show | pause | resume | rewind | rotate-secret | delete`: the
//! operator's sinks (docs/streaming.md), straight on the database. Each prints JSON, as
//! `/sinks` answers.

use clap::{Args, Subcommand};

use crate::domain::audit_query::parse_time;
use crate::domain::ids::{AppId, Named};
use crate::domain::sink::{RewindTo, SinkDraft};
use crate::http::wire::sinks::SinkBody;
use crate::service::{Latchkey, RequestContext, ServiceError};

#[derive(Subcommand, Debug, Clone)]
pub enum SinksCommand {
    /// Create a sink; prints it (a webhook's signing secret only now).
    Add(AddArgs),
    /// List sinks.
    List,
    /// A sink with its lag, last error and last success, and its cursor per application.
    Show { name: String },
    /// Stop delivering (the cursor stays).
    Pause { name: String },
    /// Deliver again from the cursor.
    Resume { name: String },
    /// Deliver again from a revision of one application (--app, --to N) or from a time
    /// (--to 2026-12-01T00:00:00Z, every application or --app).
    Rewind {
        name: String,
        #[arg(long)]
        app: Option<Named<AppId>>,
        /// A revision (an integer) or a time (RFC 3339, or a date).
        #[arg(long)]
        to: String,
    },
    /// A new signing secret for a webhook sink (printed once; the old one stops at once).
    RotateSecret { name: String },
    /// Delete a sink and its cursors.
    Delete { name: String },
}

/// `latchkey sinks add`: a sink's configuration, as `POST /sinks` takes it.
#[derive(Args, Debug, Clone)]
pub struct AddArgs {
    /// The sink's name (a-z, 0-9, - and _).
    #[arg(long)]
    name: String,
    /// webhook, splunk_hec or syslog.
    #[arg(long)]
    kind: String,
    /// webhook (https, or http to a loopback address), splunk_hec.
    #[arg(long)]
    url: Option<String>,
    /// syslog: host:port.
    #[arg(long)]
    address: Option<String>,
    /// splunk_hec: the HEC token (or LATCHKEY_SINK_TOKEN, which keeps it out of `ps`).
    #[arg(long, env = "LATCHKEY_SINK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// syslog: TLS (RFC 5425).
    #[arg(long)]
    tls: bool,
    /// syslog with TLS: PEM file of the CA that signs the receiver's certificate.
    #[arg(long)]
    ca_file: Option<String>,
    /// splunk_hec: sourcetype (default latchkey:audit).
    #[arg(long)]
    sourcetype: Option<String>,
    /// splunk_hec: index.
    #[arg(long)]
    index: Option<String>,
    /// webhook, splunk_hec: events per request (1..1000, default 1).
    #[arg(long)]
    batch: Option<i64>,
    /// Only these applications (repeatable); default every application.
    #[arg(long = "app")]
    apps: Vec<String>,
    /// Only these actions, e.g. client.update (repeatable); default every action.
    #[arg(long = "action")]
    actions: Vec<String>,
    /// Deliver the applications' whole logs, not only what happens from now on.
    #[arg(long)]
    from_beginning: bool,
}

impl AddArgs {
    /// The draft the service checks (an empty `--app` or `--action` list means every one).
    fn into_draft(self) -> SinkDraft {
        SinkDraft {
            name: self.name,
            kind: self.kind,
            url: self.url,
            address: self.address,
            token: self.token,
            tls: self.tls,
            ca_file: self.ca_file,
            sourcetype: self.sourcetype,
            index: self.index,
            batch_max: self.batch,
            apps: (!self.apps.is_empty()).then_some(self.apps),
            actions: (!self.actions.is_empty()).then_some(self.actions),
            from_beginning: self.from_beginning,
        }
    }
}

fn print(body: SinkBody) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(&body)?);
    Ok(())
}

pub async fn run(cmd: &SinksCommand, service: &Latchkey) -> anyhow::Result<()> {
    let ctx = RequestContext::command_line();
    let sinks = service.sinks();
    match cmd.clone() {
        SinksCommand::Add(args) => {
            let created = super::wrote(service, sinks.create(&ctx, args.into_draft()).await?);
            print(SinkBody::new(created.sink, created.secret))
        }
        SinksCommand::List => {
            let list: Vec<SinkBody> = sinks
                .list(&ctx)
                .await?
                .into_iter()
                .map(|s| SinkBody::new(s, None))
                .collect();
            println!("{}", serde_json::to_string(&list)?);
            Ok(())
        }
        SinksCommand::Show { name } => print(SinkBody::new(sinks.get(&ctx, &name).await?, None)),
        SinksCommand::Pause { name } => print(SinkBody::new(
            super::wrote(service, sinks.set_paused(&ctx, &name, true).await?),
            None,
        )),
        SinksCommand::Resume { name } => print(SinkBody::new(
            super::wrote(service, sinks.set_paused(&ctx, &name, false).await?),
            None,
        )),
        SinksCommand::Rewind { name, app, to } => {
            let to = match to.trim().parse::<i64>() {
                Ok(rev) => RewindTo::Revision(rev),
                Err(_) => RewindTo::Time(parse_time("to", &to).map_err(ServiceError::from)?),
            };
            print(SinkBody::new(
                super::wrote(service, sinks.rewind(&ctx, &name, app.as_ref(), to).await?),
                None,
            ))
        }
        SinksCommand::RotateSecret { name } => {
            let created = super::wrote(service, sinks.rotate_secret(&ctx, &name).await?);
            print(SinkBody::new(created.sink, created.secret))
        }
        SinksCommand::Delete { name } => {
            super::wrote(service, sinks.delete(&ctx, &name).await?);
            println!("{}", serde_json::json!({ "deleted": name }));
            Ok(())
        }
    }
}
