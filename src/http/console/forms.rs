//! Form pieces more than one console page uses, so that pages depend on this module and never
//! on each other: the settings form (the defaults page and each client's page) and how its
//! submission is read.

use maud::{html, Markup};
use serde_json::{Map, Value};

use super::page::csrf;
use super::{Console, Form};

/// Empty rows offered for new keys.
const NEW_ROWS: usize = 2;

/// The settings form: one row per key (value, remove box) and empty rows for new keys.
pub fn settings_form(session: &Console, action: &str, values: &Map<String, Value>) -> Markup {
    html! {
        form method="post" action=(action) {
            (csrf(session))
            @if values.is_empty() { p.hint { "No values yet." } }
            @for (i, (key, value)) in values.iter().enumerate() {
                div.row {
                    input type="hidden" name="key" value=(key);
                    div {
                        label for={ "value-" (i) } { code { (key) } }
                        input id={ "value-" (i) } type="text" name="value" value=(value.to_string()) spellcheck="false";
                    }
                    div.narrow {
                        label.check for={ "remove-" (i) } {
                            input id={ "remove-" (i) } type="checkbox" name="remove" value=(key);
                            span { "Remove" }
                        }
                    }
                }
            }
            @for i in 0..NEW_ROWS {
                div.row {
                    div {
                        label for={ "new-key-" (i) } { "New key" }
                        input id={ "new-key-" (i) } type="text" name="key" spellcheck="false";
                    }
                    div {
                        label for={ "new-value-" (i) } { "Value" }
                        input id={ "new-value-" (i) } type="text" name="value" spellcheck="false";
                    }
                }
            }
            p.hint { "Values are JSON (\"text\", 42, true, {…}); anything else is saved as text." }
            button type="submit" { "Save settings" }
        }
    }
}

/// The whole set a form describes: rows in order, removed keys and empty new rows left out.
pub fn submitted_settings(form: &Form) -> Map<String, Value> {
    let removed = form.all("remove");
    form.all("key")
        .into_iter()
        .zip(form.all("value"))
        .filter(|(k, _)| !k.trim().is_empty() && !removed.contains(k))
        .map(|(k, v)| {
            let value = serde_json::from_str::<Value>(&v).unwrap_or(Value::String(v));
            (k.trim().to_owned(), value)
        })
        .collect()
}
