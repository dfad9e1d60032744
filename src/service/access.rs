//! Access schemas (set, read, delete) and the access decision for identity backends.

use std::net::IpAddr;

use sqlx::PgPool;

use super::apps::AppDirectory;
use super::entity_types::{entity_type_of, named, not_found};
use super::{
    commit, commit_audited, AccessSchemaError, AuthError, Caller, Committed, Consistency, Decided,
    Latchkey, RequestContext, ServiceError,
};
use crate::domain::access::{
    self, AccessType, ClientFacts, Decision, Question, Reason, RecordScope,
};
use crate::domain::audit::AuditAction;
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::entity_type::{
    normalize_schema, stored_schema, AttrDef, AttributePath, EntityType, TypeName,
};
use crate::domain::ids::{AppId, ClientId, Named};
use crate::domain::{AllowList, FeatureSet};
use crate::store::{self, WriteTx};

/// An access schema as read or just written, with the type it restricts.
#[derive(Debug, Clone)]
pub struct AccessSchemaView {
    pub entity_type: EntityType,
    pub access_type: AccessType,
    /// Canonical paths, the reserved four first. `None`: no schema, the features alone decide.
    pub attributes: Option<Vec<AttributePath>>,
}

impl AccessSchemaView {
    /// The stored list as text (`primaryAddress.city`).
    pub fn attribute_names(&self) -> Option<Vec<String>> {
        self.attributes
            .as_ref()
            .map(|list| list.iter().map(|p| p.to_string()).collect())
    }

    /// The type as this client sees it: restricted to the schema, or whole when there is none.
    pub fn restricted_attr_defs(&self) -> Vec<AttrDef> {
        match &self.attributes {
            Some(list) => self.entity_type.restricted(list),
            None => self.entity_type.attr_defs(),
        }
    }
}

/// What a backend asks `POST /config/{appId}/access/check`.
#[derive(Debug, Clone)]
pub struct AccessCheck {
    pub client_id: Named<ClientId>,
    /// When given, the client's credentials are verified.
    pub client_secret: Option<String>,
    /// When given, the client's allow list is applied to it.
    pub source_ip: Option<IpAddr>,
    pub entity_type: Named<TypeName>,
    pub access: AccessType,
    pub record: RecordScope,
    pub attributes: Vec<String>,
}

fn auth_failure(e: AuthError) -> ServiceError {
    match e {
        AuthError::Unavailable => ServiceError::Unavailable,
        other => ServiceError::Internal(other.to_string()),
    }
}

/// Which access schema a use case reads or writes: a client's, for one entity type and one
/// access type. Each adapter builds it from its own spelling (the Config API's and the
/// console's path, the Registration API's `for_client_id`, `type_name` and `access_type`), in
/// the order its error messages need.
#[derive(Debug, Clone)]
pub struct SchemaKey {
    pub client_id: Named<ClientId>,
    pub type_name: Named<TypeName>,
    pub access_type: AccessType,
}

/// The access schema use cases (set, delete, read), reached as `service.access_schemas()`: they
/// hold only the pool and the application check (see [`super::settings::SettingsService`]).
/// The access decision stays a method of `Latchkey`: it reads the snapshots and verifies
/// secrets.
#[derive(Clone)]
pub struct AccessSchemasService<'a> {
    pool: &'a PgPool,
    apps: &'a AppDirectory,
}

impl Latchkey {
    /// The access schemas area.
    pub fn access_schemas(&self) -> AccessSchemasService<'_> {
        AccessSchemasService {
            pool: &self.pool,
            apps: &self.directory,
        }
    }
}

impl AccessSchemasService<'_> {
    /// Sets (replaces) the schema of a client for a type and access type. Owner only.
    /// Setting the list it already has changes nothing and writes no audit event.
    pub async fn set(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        schema: &SchemaKey,
        attributes: &[String],
    ) -> Result<Committed<AccessSchemaView>, ServiceError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        if !store::access_schemas::lock_client(&mut *tx, app_id.as_str(), schema.client_id.as_str())
            .await?
        {
            return Err(ServiceError::ClientNotFound);
        }
        let type_name = named(&schema.type_name)?;
        let et = entity_type_of(
            store::entity_types::share(&mut *tx, app_id.as_str(), type_name.as_str())
                .await?
                .ok_or_else(|| not_found(type_name.as_str()))?,
        )?;
        let list = normalize_schema(&et, attributes)?;
        let names: Vec<String> = list.iter().map(|p| p.to_string()).collect();
        let before = store::access_schemas::upsert(
            &mut tx,
            app_id.as_str(),
            schema.client_id.as_str(),
            type_name.as_str(),
            schema.access_type.as_str(),
            &names,
        )
        .await?;
        if before.as_ref() != Some(&names) {
            let mut event = ctx.audit_event(app_id.as_str(), AuditAction::AccessSchemaSet);
            event.target_client_id = Some(schema.client_id.to_string());
            event.changes = changes_of::AccessSchemaChanged {
                entity_type: type_name.as_str(),
                access_type: schema.access_type.as_str(),
                attributes: changes_of::FromTo {
                    from: before.as_deref(),
                    to: Some(&names),
                },
            }
            .into_changes();
            store::audit::append(&mut tx, event).await?;
        }
        commit(
            tx,
            AccessSchemaView {
                entity_type: et,
                access_type: schema.access_type,
                attributes: Some(list),
            },
        )
        .await
    }

    /// Removes the schema: the features alone decide again. Owner only.
    pub async fn delete(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        schema: &SchemaKey,
    ) -> Result<Committed<()>, AccessSchemaError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        if !store::access_schemas::lock_client(&mut *tx, app_id.as_str(), schema.client_id.as_str())
            .await?
        {
            return Err(ServiceError::ClientNotFound.into());
        }
        let type_name = named(&schema.type_name)?;
        if store::entity_types::get(&mut *tx, app_id.as_str(), type_name.as_str())
            .await?
            .is_none()
        {
            return Err(not_found(type_name.as_str()).into());
        }
        let before = store::access_schemas::delete(
            &mut *tx,
            app_id.as_str(),
            schema.client_id.as_str(),
            type_name.as_str(),
            schema.access_type.as_str(),
        )
        .await?
        .ok_or(AccessSchemaError::NotFound)?;
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::AccessSchemaDelete);
        event.target_client_id = Some(schema.client_id.to_string());
        event.changes = changes_of::AccessSchemaChanged {
            entity_type: type_name.as_str(),
            access_type: schema.access_type.as_str(),
            attributes: changes_of::FromTo {
                from: Some(&before),
                to: None,
            },
        }
        .into_changes();
        Ok(commit_audited(tx, event, ()).await?)
    }

    /// Reads a schema for the Config API (owner only). No schema is
    /// `AccessSchemaError::NotFound`: there the schema is a resource that exists or not.
    pub async fn get(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        schema: &SchemaKey,
    ) -> Result<AccessSchemaView, AccessSchemaError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        let view = self.load(app_id, schema).await?;
        if view.attributes.is_none() {
            return Err(AccessSchemaError::NotFound);
        }
        Ok(view)
    }

    /// Reads a schema for `entityType.getAccessSchema`, which the vendor lets any client with a
    /// feature call (a client without features has no permissions at all). No schema: the view
    /// has `attributes: None` and shows the whole type.
    pub async fn read(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        schema: &SchemaKey,
    ) -> Result<AccessSchemaView, ServiceError> {
        if let Caller::Client { features, .. } = &ctx.caller {
            if features.is_empty() {
                return Err(ServiceError::Forbidden);
            }
        }
        self.apps.ensure(ctx, app_id).await?;
        self.load(app_id, schema).await
    }

    async fn load(
        &self,
        app_id: &Named<AppId>,
        schema: &SchemaKey,
    ) -> Result<AccessSchemaView, ServiceError> {
        if store::clients::get(self.pool, app_id.as_str(), schema.client_id.as_str())
            .await?
            .is_none()
        {
            return Err(ServiceError::ClientNotFound);
        }
        let type_name = named(&schema.type_name)?;
        let et = entity_type_of(
            store::entity_types::get(self.pool, app_id.as_str(), type_name.as_str())
                .await?
                .ok_or_else(|| not_found(type_name.as_str()))?,
        )?;
        let attributes = store::access_schemas::get(
            self.pool,
            app_id.as_str(),
            schema.client_id.as_str(),
            type_name.as_str(),
            schema.access_type.as_str(),
        )
        .await?
        .map(|stored| stored_schema(&stored));
        Ok(AccessSchemaView {
            entity_type: et,
            access_type: schema.access_type,
            attributes,
        })
    }
}

impl Latchkey {
    /// The access decision (`POST /config/{appId}/access/check`), for the operator or an owner
    /// of the application. One query loads the client, the type and the schema; a presented
    /// secret is verified exactly as a request's credentials are (cached Argon2). Unknown
    /// clients and wrong secrets are both `bad_credentials` and cost the same.
    pub async fn check_access(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        question: AccessCheck,
    ) -> Result<Decision, ServiceError> {
        self.check_access_at(ctx, app_id, question, Consistency::default())
            .await
            .map(|d| d.decision)
    }

    /// [`Latchkey::check_access`] from data at least as fresh as `consistency` asks, with the
    /// revision that data was at.
    pub async fn check_access_at(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        question: AccessCheck,
        consistency: Consistency,
    ) -> Result<Decided, ServiceError> {
        ctx.owner()?;
        self.ensure_app(ctx, app_id).await?;
        let (inputs, revision) = self
            .decision_inputs(
                app_id.as_str(),
                &question.client_id,
                question.entity_type.as_str(),
                question.access.as_str(),
                consistency,
            )
            .await?;
        let decided = |decision| Decided { decision, revision };
        let bad_credentials = || {
            decided(Decision::refused(
                Reason::BadCredentials,
                &question.attributes,
                true,
            ))
        };
        if let Some(secret) = &question.client_secret {
            let proven = self
                .verify_client_secret(
                    app_id.as_str(),
                    question.client_id.as_str(),
                    secret,
                    inputs.as_ref().map(|i| i.phcs.as_slice()),
                )
                .await
                .map_err(auth_failure)?;
            if !proven {
                return Ok(bad_credentials());
            }
        }
        let Some(inputs) = inputs else {
            return Ok(bad_credentials());
        };
        let entity_type = inputs
            .entity_type
            .map(|parsed| parsed.map_err(ServiceError::Internal))
            .transpose()?;
        let client = ClientFacts {
            features: FeatureSet::from_stored(&inputs.features),
            allow_list: AllowList::from_nets(inputs.ip_whitelist),
        };
        Ok(decided(access::decide(
            &client,
            question.source_ip,
            &Question {
                access: question.access,
                record: question.record,
                attributes: &question.attributes,
            },
            entity_type.as_deref(),
            inputs.attributes.as_deref(),
        )))
    }
}

/// The notice `entityType.setAccessSchema` answers with: which reserved attributes the schema
/// got although the caller did not list them.
pub fn added_reserved_notice(requested: &[String]) -> Option<String> {
    let listed: Vec<AttributePath> = requested
        .iter()
        .filter_map(|r| AttributePath::parse(r).ok())
        .collect();
    let added: Vec<&str> = crate::domain::entity_type::RESERVED
        .iter()
        .copied()
        .filter(|name| {
            !listed
                .iter()
                .any(|p| p.is_reserved() && p.segments()[0] == *name)
        })
        .collect();
    (!added.is_empty()).then(|| format!("Added required attributes: {}", added.join(", ")))
}
