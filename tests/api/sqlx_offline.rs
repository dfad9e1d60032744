//! The committed query data (`.sqlx/`, read by `sqlx::query!` and friends when building with
//! `SQLX_OFFLINE=true`) must match the code and the migrations. A query without data fails the
//! build already; this test finds the other two ways the data goes stale without sqlx-cli:
//! a file whose query is no longer in the source, and a file whose description (columns, types,
//! nullability, parameters) is not what the migrated database says now. Fix either with
//! `cargo sqlx prepare -- --all-targets` (CONTRIBUTING.md).

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Column, Executor, TypeInfo};

use crate::helpers::spawn_app;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `TEXT[]` and `TextArray` alike: lower case, `[]` spelt `array`, letters and digits only.
fn type_key(name: &str) -> String {
    name.replace("[]", "array")
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

fn described_type(v: &Value) -> String {
    match v {
        Value::String(s) => type_key(s),
        other => panic!("unexpected type in the query data: {other}"),
    }
}

#[tokio::test]
async fn committed_query_data_matches_the_source_and_the_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    for dir in ["src", "tests", "bench"] {
        rust_files(&root.join(dir), &mut sources);
    }
    let source: String = sources
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();

    let app = spawn_app().await;
    let mut files = 0;
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(root.join(".sqlx")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("query-") || !name.ends_with(".json") {
            continue;
        }
        files += 1;
        let data: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let query = data["query"].as_str().unwrap();
        let hash = hex::encode(Sha256::digest(query.as_bytes()));
        if data["hash"] != hash || name != format!("query-{hash}.json") {
            problems.push(format!("{name}: the hash does not match its query"));
        }
        if !source.contains(query) {
            problems.push(format!(
                "{name}: no query in the source has this text (stale file)"
            ));
            continue;
        }
        let described = match (&app.pool).describe(query).await {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{name}: the database refuses the query: {e}"));
                continue;
            }
        };
        let want = &data["describe"];
        let columns: Vec<(String, String)> = described
            .columns()
            .iter()
            .map(|c| (c.name().to_owned(), type_key(c.type_info().name())))
            .collect();
        let committed: Vec<(String, String)> = want["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let name = c["name"].as_str().unwrap().to_owned();
                (name, described_type(&c["type_info"]))
            })
            .collect();
        if columns != committed {
            problems.push(format!(
                "{name}: columns are {columns:?} now, the data says {committed:?}"
            ));
        }
        let nullable: Vec<Value> = (0..described.columns().len())
            .map(|i| described.nullable(i).map_or(Value::Null, Value::Bool))
            .collect();
        if Value::Array(nullable.clone()) != want["nullable"] {
            problems.push(format!(
                "{name}: nullability is {nullable:?} now, the data says {}",
                want["nullable"]
            ));
        }
        let params: Vec<String> = match described.parameters() {
            Some(sqlx::Either::Left(types)) => types.iter().map(|t| type_key(t.name())).collect(),
            other => panic!("{name}: PostgreSQL describes parameters by type, got {other:?}"),
        };
        let committed_params: Vec<String> = want["parameters"]["Left"]
            .as_array()
            .unwrap()
            .iter()
            .map(described_type)
            .collect();
        if params != committed_params {
            problems.push(format!(
                "{name}: parameters are {params:?} now, the data says {committed_params:?}"
            ));
        }
    }
    assert!(files > 0, "no query data under .sqlx/");
    assert!(
        problems.is_empty(),
        "the query data in .sqlx/ is stale; run `cargo sqlx prepare -- --all-targets`:\n{}",
        problems.join("\n")
    );
}
