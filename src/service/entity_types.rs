//! Entity types: list, read, create, replace, delete, add and remove attributes. Owner only.
//!
//! A change of a type must not leave an access schema naming an attribute that no longer
//! exists: such a change is refused, naming the clients whose schemas use it. The type's row is
//! locked for the change, and schema writes hold a share lock on it, so the check cannot race a
//! schema being set.

use std::collections::BTreeSet;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::apps::AppDirectory;
use super::{
    commit, commit_audited, Committed, EntityTypesError, Latchkey, RequestContext, ServiceError,
};
use crate::domain::audit::AuditAction;
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::entity_type::{
    parse_attr_def, parse_attr_defs, AttrDef, AttributePath, EntityType, SchemaError, TypeName,
};
use crate::domain::ids::{AppId, Named};
use crate::store::{self, entity_types::EntityTypeRow, Constraint, StoreError, WriteTx};

/// The message of [`EntityTypesError::AttributeInUse`].
pub(crate) fn attribute_in_use(paths: &[String], clients: &[String]) -> String {
    let (noun, verb) = if paths.len() == 1 {
        ("Attribute", "is")
    } else {
        ("Attributes", "are")
    };
    format!(
        "{noun} {} {verb} used by the access schemas of clients: {}.",
        paths.join(", "),
        clients.join(", ")
    )
}

/// A stored row as a domain type. The JSON was validated before it was written, so failing to
/// read it back is an internal error, not the caller's.
pub(crate) fn entity_type_of(row: EntityTypeRow) -> Result<EntityType, ServiceError> {
    entity_type_from_json(&row.name, row.attr_defs)
}

pub(crate) fn entity_type_from_json(
    name: &str,
    attr_defs: Value,
) -> Result<EntityType, ServiceError> {
    entity_type_from_stored(name, &attr_defs).map_err(ServiceError::Internal)
}

/// [`entity_type_from_json`] from borrowed JSON (a snapshot entry's); `Err` is the message of
/// the internal error it is reported as.
pub(crate) fn entity_type_from_stored(name: &str, attr_defs: &Value) -> Result<EntityType, String> {
    use serde::Deserialize;
    let attrs = Vec::<AttrDef>::deserialize(attr_defs).map_err(|e| {
        tracing::error!(error = %e, entity_type = %name, "stored attr_defs unreadable");
        format!("stored attr_defs of {name} unreadable: {e}")
    })?;
    Ok(EntityType::new(name.to_owned(), attrs))
}

pub(crate) fn stored_json(et: &EntityType) -> Value {
    serde_json::to_value(et.user_attr_defs()).unwrap_or(Value::Array(vec![]))
}

/// The entity type use cases, reached as `service.entity_types()`: they hold only the pool and
/// the application check (see [`super::settings::SettingsService`]).
#[derive(Clone)]
pub struct EntityTypesService<'a> {
    pool: &'a PgPool,
    apps: &'a AppDirectory,
}

impl Latchkey {
    /// The entity types area (list, read, create, replace, delete, add and remove attributes).
    pub fn entity_types(&self) -> EntityTypesService<'_> {
        EntityTypesService {
            pool: &self.pool,
            apps: &self.directory,
        }
    }
}

impl EntityTypesService<'_> {
    pub async fn list(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<Vec<EntityType>, ServiceError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        store::entity_types::list(self.pool, app_id.as_str())
            .await?
            .into_iter()
            .map(entity_type_of)
            .collect()
    }

    pub async fn get(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        name: &Named<TypeName>,
    ) -> Result<EntityType, ServiceError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        let name = named(name)?;
        let row = store::entity_types::get(self.pool, app_id.as_str(), name.as_str())
            .await?
            .ok_or_else(|| not_found(name.as_str()))?;
        entity_type_of(row)
    }

    /// Creates a type from its name and `attr_defs` (a JSON list of attribute definitions). A
    /// malformed name is refused (`InvalidTypeName`) after the owner check and the application,
    /// before the definitions, as the contract orders them.
    pub async fn create(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        name: &Named<TypeName>,
        attr_defs: &Value,
    ) -> Result<Committed<EntityType>, EntityTypesError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        let Named::Id(name) = name else {
            return Err(SchemaError::InvalidTypeName.into());
        };
        let et = EntityType::new(name.as_str().to_owned(), parse_attr_defs(attr_defs)?);
        let mut tx = WriteTx::begin(self.pool).await?;
        store::entity_types::insert(&mut *tx, app_id.as_str(), &et.name, &stored_json(&et))
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(Constraint::EntityTypeName) => EntityTypesError::Exists {
                    name: et.name.clone(),
                },
                other => other.into(),
            })?;
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::EntityTypeCreate);
        let defs = stored_json(&et);
        event.changes =
            changes_of::EntityTypeChanged::of(&et.name, None, Some(&defs)).into_changes();
        Ok(commit_audited(tx, event, et).await?)
    }

    /// Replaces the attributes of a type (Config API PUT). Access schemas of the type must all
    /// still name existing attributes afterwards. `body_name`: the name the body carries, if
    /// any; it may be sent back but not changed.
    pub async fn replace(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        name: &Named<TypeName>,
        body_name: Option<&str>,
        attr_defs: &Value,
    ) -> Result<Committed<EntityType>, EntityTypesError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        if body_name.is_some_and(|n| n != name.as_str()) {
            return Err(SchemaError::NameChange.into());
        }
        let attrs = parse_attr_defs(attr_defs)?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let current = self
            .lock_entity_type(&mut tx, app_id.as_str(), name)
            .await?;
        let updated = EntityType::new(current.name.clone(), attrs);
        if updated == current {
            // Nothing changes: no write, no audit event.
            return Ok(Committed::unchanged(current));
        }
        ensure_schemas_still_valid(&mut tx, app_id.as_str(), &updated, None).await?;
        self.save_change(
            &mut tx,
            ctx,
            app_id.as_str(),
            AuditAction::EntityTypeUpdate,
            &current,
            &updated,
            None,
        )
        .await?;
        Ok(commit(tx, updated).await?)
    }

    /// Deletes a type, unless an access schema names it.
    pub async fn delete(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        name: &Named<TypeName>,
    ) -> Result<Committed<()>, EntityTypesError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let current = self
            .lock_entity_type(&mut tx, app_id.as_str(), name)
            .await?;
        let users = schema_clients(
            store::access_schemas::list_for_type(&mut *tx, app_id.as_str(), name.as_str())
                .await?
                .into_iter()
                .map(|r| r.client_id),
        );
        if !users.is_empty() {
            return Err(EntityTypesError::InUse {
                name: current.name,
                clients: users,
            });
        }
        store::entity_types::delete(&mut *tx, app_id.as_str(), name.as_str()).await?;
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::EntityTypeDelete);
        let defs = stored_json(&current);
        event.changes =
            changes_of::EntityTypeChanged::of(&current.name, Some(&defs), None).into_changes();
        Ok(commit_audited(tx, event, ()).await?)
    }

    /// Adds one top-level attribute (`entityType.addAttribute`).
    pub async fn add_attribute(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        type_name: &Named<TypeName>,
        attr_def: &Value,
    ) -> Result<Committed<EntityType>, ServiceError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        let def = parse_attr_def(attr_def)?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let current = self
            .lock_entity_type(&mut tx, app_id.as_str(), type_name)
            .await?;
        let mut updated = current.clone();
        let attribute = serde_json::to_value(&def).unwrap_or_default();
        let name = def.name.clone();
        updated.add_attribute(def)?;
        let detail = Some((name.as_str(), attribute));
        self.save_change(
            &mut tx,
            ctx,
            app_id.as_str(),
            AuditAction::EntityTypeAttributeAdd,
            &current,
            &updated,
            detail,
        )
        .await?;
        commit(tx, updated).await
    }

    /// Removes an attribute (any path spelling; nested ones too), unless an access schema names
    /// it or something below it.
    pub async fn remove_attribute(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        type_name: &Named<TypeName>,
        attribute: &str,
    ) -> Result<Committed<EntityType>, EntityTypesError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let current = self
            .lock_entity_type(&mut tx, app_id.as_str(), type_name)
            .await?;
        let mut updated = current.clone();
        let removed = updated.remove_attribute(attribute)?;
        let path = AttributePath::parse(attribute)?.to_string();
        ensure_schemas_still_valid(&mut tx, app_id.as_str(), &updated, Some(&path)).await?;
        let detail = Some((
            path.as_str(),
            serde_json::to_value(&removed).unwrap_or_default(),
        ));
        self.save_change(
            &mut tx,
            ctx,
            app_id.as_str(),
            AuditAction::EntityTypeAttributeRemove,
            &current,
            &updated,
            detail,
        )
        .await?;
        Ok(commit(tx, updated).await?)
    }

    async fn lock_entity_type(
        &self,
        tx: &mut PgConnection,
        app_id: &str,
        name: &Named<TypeName>,
    ) -> Result<EntityType, ServiceError> {
        let name = named(name)?.as_str();
        let row = store::entity_types::lock(&mut *tx, app_id, name)
            .await?
            .ok_or_else(|| not_found(name))?;
        entity_type_of(row)
    }

    /// Writes the new attribute tree and its audit event. `detail`: what the call was about
    /// (the attribute added or removed), merged into the event's changes.
    #[allow(clippy::too_many_arguments)]
    async fn save_change(
        &self,
        tx: &mut WriteTx,
        ctx: &RequestContext,
        app_id: &str,
        action: AuditAction,
        before: &EntityType,
        after: &EntityType,
        detail: Option<(&str, Value)>,
    ) -> Result<(), ServiceError> {
        let (from, to) = (stored_json(before), stored_json(after));
        store::entity_types::update(&mut **tx, app_id, &after.name, &to).await?;
        let mut changes = changes_of::EntityTypeChanged::of(&after.name, Some(&from), Some(&to));
        changes.detail = detail
            .as_ref()
            .map(|(attribute, attr_def)| changes_of::AttributeDetail {
                attribute,
                attr_def,
            });
        let mut event = ctx.audit_event(app_id, action);
        event.changes = changes.into_changes();
        store::audit::append(tx, event).await?;
        Ok(())
    }
}

pub(crate) fn not_found(name: &str) -> ServiceError {
    ServiceError::EntityTypeNotFound {
        name: name.to_owned(),
    }
}

/// The type a caller named; a name no type can have is "not found" at once (no query), as an
/// unknown one would be at this point.
pub(crate) fn named(name: &Named<TypeName>) -> Result<&TypeName, ServiceError> {
    name.id().ok_or_else(|| not_found(name.as_str()))
}

fn schema_clients(ids: impl Iterator<Item = String>) -> Vec<String> {
    ids.collect::<BTreeSet<_>>().into_iter().collect()
}

/// Refuses a change of `updated` that would leave a stored access schema path naming nothing.
/// `removed`: the attribute being removed, named in the message instead of the schema paths.
async fn ensure_schemas_still_valid(
    tx: &mut PgConnection,
    app_id: &str,
    updated: &EntityType,
    removed: Option<&str>,
) -> Result<(), EntityTypesError> {
    let schemas = store::access_schemas::list_for_type(&mut *tx, app_id, &updated.name).await?;
    let mut broken = BTreeSet::new();
    let mut clients = BTreeSet::new();
    for schema in schemas {
        for stored in &schema.attributes {
            let still_there = AttributePath::parse(stored).is_ok_and(|p| updated.contains(&p));
            if !still_there {
                broken.insert(stored.clone());
                clients.insert(schema.client_id.clone());
            }
        }
    }
    if clients.is_empty() {
        return Ok(());
    }
    let paths = match removed {
        Some(path) => vec![path.to_owned()],
        None => broken.into_iter().collect(),
    };
    Err(EntityTypesError::AttributeInUse {
        paths,
        clients: clients.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_use_messages() {
        assert_eq!(
            attribute_in_use(&["primaryAddress".into()], &["a".into(), "b".into()]),
            "Attribute primaryAddress is used by the access schemas of clients: a, b."
        );
        assert_eq!(
            attribute_in_use(&["email".into(), "gender".into()], &["a".into()]),
            "Attributes email, gender are used by the access schemas of clients: a."
        );
        assert_eq!(
            EntityTypesError::InUse {
                name: "user".into(),
                clients: vec!["a".into(), "b".into()]
            }
            .to_string(),
            "Entity type user is used by the access schemas of clients: a, b."
        );
    }
}
