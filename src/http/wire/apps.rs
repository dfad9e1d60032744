//! The application and client objects: the answers of `/apps` and `/config/{appId}/clients`,
//! and what `latchkey apps create | set | list` print.

use serde::Serialize;
use utoipa::ToSchema;

use crate::service::{AppSummary, ClientView, CreatedClient};

/// An application (tenant).
#[derive(Serialize, ToSchema)]
#[schema(as = App)]
pub struct AppBody {
    #[schema(pattern = "^[a-z0-9]{26}$")]
    app_id: String,
    name: String,
    #[schema(schema_with = crate::http::schemas::region)]
    region: String,
    /// RFC 3339.
    created_at: String,
    signed_requests: bool,
    show_secrets: bool,
    /// Only right after creation: the first owner client, with its secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = ClientBody)]
    owner: Option<ClientBody>,
}

impl AppBody {
    pub fn new(app: AppSummary, owner: Option<CreatedClient>) -> Self {
        Self {
            app_id: app.app_id,
            name: app.name,
            region: app.region,
            created_at: crate::domain::audit::format_time(&app.created_at),
            signed_requests: app.signed_requests,
            show_secrets: app.show_secrets,
            owner: owner.map(|o| ClientBody::new(o.client, Some(o.secret))),
        }
    }
}

/// The client object of the Config API, fields in the vendor's order.
#[derive(Serialize, ToSchema)]
#[schema(as = Client)]
pub struct ClientBody {
    #[serde(rename = "_id")]
    #[schema(pattern = "^[a-z0-9]{32}$")]
    id: String,
    /// Only in the answers that mint a secret (create, secret reset).
    #[serde(rename = "_secret", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, pattern = "^[a-z0-9]{32}$")]
    secret: Option<String>,
    /// `/config/{appId}/clients/{clientId}`
    #[serde(rename = "_self")]
    self_path: String,
    #[serde(rename = "_settings")]
    settings_path: String,
    name: String,
    #[schema(schema_with = crate::http::schemas::feature_list)]
    features: Vec<String>,
    #[serde(rename = "ipWhitelist")]
    ip_whitelist: Vec<String>,
}

impl ClientBody {
    pub fn new(c: ClientView, secret: Option<String>) -> Self {
        // Joined by hand rather than with format!: a listing makes two per client, and the
        // formatting machinery was a tenth of a 100-client listing's instructions (callgrind).
        const SETTINGS: &str = "/settings";
        let mut self_path = String::with_capacity(
            "/config/".len() + c.app_id.len() + "/clients/".len() + c.client_id.len(),
        );
        for part in ["/config/", &c.app_id, "/clients/", &c.client_id] {
            self_path.push_str(part);
        }
        let mut settings_path = String::with_capacity(self_path.len() + SETTINGS.len());
        settings_path.push_str(&self_path);
        settings_path.push_str(SETTINGS);
        Self {
            id: c.client_id,
            secret,
            settings_path,
            self_path,
            name: c.name,
            features: c.features,
            ip_whitelist: c.ip_whitelist,
        }
    }
}
