//! `GET /config/{appId}/audit`: every filter, both orders, keyset pagination (also while events
//! arrive), validation, NDJSON and CSV streams, access and tenant isolation.

use reqwest::Method;
use serde_json::{json, Value};

use crate::audit_util::*;
use crate::helpers::*;

/// A scripted history. Seqs: 1 app.create, 2 client.create (owner), 3 create a (direct_access),
/// 4 create b (login_client), 5 a: + access_issuer, 6 b renamed (no feature change),
/// 7 operator: a − direct_access, 8 rotate a's secret, 9 delete b.
struct Story {
    owner: Owner,
    a: String,
    b: String,
}

async fn story(app: &TestApp) -> Story {
    let owner = app.create_app("shop").await;
    let a = app.add_client(&owner, "a", &["direct_access"]).await;
    let b = app.add_client(&owner, "b", &["login_client"]).await;
    set_features(app, &owner, &a, "a", &["direct_access", "access_issuer"]).await;
    set_features(app, &owner, &b, "b2", &["login_client"]).await;
    app.config_as_operator(&owner.app_id)
        .put_client(&a, &json!({"name": "a", "features": ["access_issuer"]}))
        .await
        .status_is(200);
    app.config(&owner)
        .rotate_secret(&a, &json!({"hoursToLive": 1}))
        .await
        .status_is(200);
    let res = app.config(&owner).delete_client(&b).await;
    assert_eq!(res.status, 204);
    Story { owner, a, b }
}

#[tokio::test]
async fn a_page_shows_the_full_events_newest_first() {
    let app = spawn_app().await;
    let s = story(&app).await;
    let (status, page) = audit_get(&app, &s.owner, "").await;
    assert_eq!(status, 200);
    assert_eq!(seqs(&page), (1..=9).rev().collect::<Vec<_>>());
    assert!(page.get("next").is_none(), "one page: no next");
    let e5 = &page["events"][4];
    let db = &app.audit_rows(&s.owner.app_id).await[4];
    for field in [
        "action",
        "actor",
        "actor_ip",
        "app_id",
        "changes",
        "event_id",
        "features_after",
        "features_before",
        "request_id",
        "seq",
        "target_client_id",
    ] {
        assert_eq!(e5[field], db[field], "{field}");
    }
    assert_eq!(e5["features_before"], json!(["direct_access"]));
    assert_eq!(
        e5["features_after"],
        json!(["access_issuer", "direct_access"])
    );
    let (_, head) = head_hash(&app, &s.owner.app_id).await;
    assert_eq!(page["events"][0]["hash"], head);
    assert_eq!(page["events"][0]["prev_hash"], page["events"][1]["hash"]);
    assert_eq!(page["events"][8]["prev_hash"], "0".repeat(64));
    // Timestamps: RFC 3339 UTC with microseconds, never decreasing along seq.
    let times: Vec<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["occurred_at"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        times.iter().all(|t| t.len() == 27 && t.ends_with('Z')),
        "{times:?}"
    );
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let (_, oldest) = audit_get(&app, &s.owner, "order=oldest").await;
    assert_eq!(seqs(&oldest), (1..=9).collect::<Vec<_>>());
}

#[tokio::test]
async fn every_filter_selects_exactly_its_events() {
    let app = spawn_app().await;
    let s = story(&app).await;
    let o = &s.owner;
    let app = &app;
    let q = |query: String| async move {
        let (status, page) = audit_get(app, o, &query).await;
        assert_eq!(status, 200, "{query}: {page}");
        seqs(&page)
    };
    assert_eq!(q(format!("client={}", s.a)).await, [8, 7, 5, 3]);
    assert_eq!(q(format!("client={}", s.b)).await, [9, 6, 4]);
    assert_eq!(
        q("actor=operator".into()).await,
        [7, 2, 1],
        "the app and its first owner are the operator's"
    );
    assert_eq!(
        q(format!("actor={}", o.client_id)).await,
        [9, 8, 6, 5, 4, 3]
    );
    assert_eq!(q("action=client.update".into()).await, [7, 6, 5]);
    assert_eq!(q("action=client.nothing".into()).await, Vec::<i64>::new());
    // feature: events that added or removed it (symmetric difference), not ones that kept it.
    assert_eq!(q("feature=direct_access".into()).await, [7, 3]);
    assert_eq!(q("feature=access_issuer".into()).await, [5]);
    assert_eq!(q("feature=login_client".into()).await, [9, 4]);
    assert_eq!(q("feature=owner".into()).await, [2]);
    assert_eq!(q("feature=metadata".into()).await, Vec::<i64>::new());
    // Filters combine.
    assert_eq!(
        q(format!(
            "client={}&feature=direct_access&actor=operator",
            s.a
        ))
        .await,
        [7]
    );
    assert_eq!(
        q(format!("client={}&action=client.update&order=oldest", s.a)).await,
        [5, 7]
    );

    // since (inclusive) and until (exclusive), from the events' own times.
    let rows = app.audit_rows(&o.app_id).await;
    let t = |seq: usize| rows[seq - 1]["occurred_at"].as_str().unwrap().to_owned();
    let (t5, t8) = (t(5), t(8));
    let enc = |s: &str| s.replace('+', "%2B");
    let with_t5: Vec<i64> = (1..=9).rev().filter(|n| t(*n as usize) >= t5).collect();
    assert_eq!(q(format!("since={}", enc(&t5))).await, with_t5);
    let before_t8: Vec<i64> = (1..=9).rev().filter(|n| t(*n as usize) < t8).collect();
    assert_eq!(q(format!("until={}", enc(&t8))).await, before_t8);
    let between: Vec<i64> = (1..=9)
        .rev()
        .filter(|n| t(*n as usize) >= t5 && t(*n as usize) < t8)
        .collect();
    assert!(between.contains(&5) && !between.contains(&8));
    assert_eq!(
        q(format!("since={}&until={}", enc(&t5), enc(&t8))).await,
        between
    );
    assert_eq!(
        q(format!("since={}&client={}&order=oldest", enc(&t5), s.a)).await,
        [5, 7, 8]
    );
    // Other offsets name the same instant.
    let t5_plus2 = chrono::DateTime::parse_from_rfc3339(&t5)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(7200).unwrap());
    assert_eq!(
        q(format!("since={}", enc(&t5_plus2.to_rfc3339()))).await,
        with_t5
    );
    assert_eq!(
        q("since=2000-01-01&until=2000-01-02".into()).await,
        Vec::<i64>::new()
    );
    assert_eq!(q("since=2999-01-01".into()).await, Vec::<i64>::new());
}

#[tokio::test]
async fn pages_walk_the_whole_result_without_repeats_or_gaps() {
    let app = spawn_app().await;
    let s = story(&app).await;
    let base = format!("/config/{}/audit", s.owner.app_id);
    for limit in [1, 2, 3, 4, 8, 9, 10] {
        let newest = all_pages(&app, &s.owner, &format!("{base}?limit={limit}")).await;
        assert_eq!(newest, (1..=9).rev().collect::<Vec<_>>(), "limit {limit}");
        let oldest = all_pages(
            &app,
            &s.owner,
            &format!("{base}?limit={limit}&order=oldest"),
        )
        .await;
        assert_eq!(oldest, (1..=9).collect::<Vec<_>>(), "limit {limit}");
    }
    // Filters stay on the next links.
    let filtered = all_pages(&app, &s.owner, &format!("{base}?client={}&limit=1", s.a)).await;
    assert_eq!(filtered, [8, 7, 5, 3]);
    // An exact last page has no next.
    let (_, page) = audit_get(&app, &s.owner, "limit=9").await;
    assert!(page.get("next").is_none());
    let (_, page) = audit_get(&app, &s.owner, "limit=8").await;
    let next = page["next"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{base}?limit=8&cursor=")),
        "{next}"
    );
}

#[tokio::test]
async fn pagination_neither_skips_nor_repeats_while_events_arrive() {
    let (app, owner) = spawn_app_with_owner("busy").await;
    for i in 0..20 {
        app.create_client(&owner, json!({"name": format!("seed {i}")}))
            .await;
    }
    let writer = {
        let http = app.http.clone();
        let url = format!("{}/config/{}/clients", app.address, owner.app_id);
        let auth = basic(&owner.client_id, &owner.secret);
        tokio::spawn(async move {
            let mut made = 0;
            for i in 0..40 {
                let res = http
                    .post(&url)
                    .header("Authorization", &auth)
                    .json(&json!({"name": format!("live {i}")}))
                    .fetch()
                    .await;
                assert_eq!(res.status, 201);
                made += 1;
            }
            made
        })
    };
    let base = format!("/config/{}/audit", owner.app_id);
    // Oldest first: pages continue into the new events, in order, with no gap.
    let oldest = all_pages(&app, &owner, &format!("{base}?order=oldest&limit=3")).await;
    assert_eq!(
        oldest,
        (1..=oldest.len() as i64).collect::<Vec<_>>(),
        "contiguous from 1"
    );
    // Newest first: from the head when the walk began, down to 1, nothing repeated.
    let newest = all_pages(&app, &owner, &format!("{base}?limit=4")).await;
    let top = newest[0];
    assert_eq!(newest, (1..=top).rev().collect::<Vec<_>>());
    let made = writer.await.unwrap();
    assert_eq!(made, 40);
    let all = all_pages(&app, &owner, &format!("{base}?order=oldest&limit=1000")).await;
    assert_eq!(all, (1..=62).collect::<Vec<_>>(), "2 + 20 + 40 events");
    // Concurrent writers or not, time never goes backwards along seq.
    let times: Vec<String> = app
        .audit_rows(&owner.app_id)
        .await
        .iter()
        .map(|r| r["occurred_at"].as_str().unwrap().to_owned())
        .collect();
    let parsed: Vec<chrono::DateTime<chrono::FixedOffset>> = times
        .iter()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap())
        .collect();
    assert!(parsed.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[tokio::test]
async fn bad_parameters_are_400_with_a_clear_message_and_change_nothing() {
    let app = spawn_app().await;
    let s = story(&app).await;
    let before = app.audit_rows(&s.owner.app_id).await.len();
    let time_msg =
        |f: &str| format!("Invalid {f}: expected an RFC 3339 time such as 2024-05-01T00:00:00Z.");
    for (query, msg) in [
        (
            "limit=1001",
            "Invalid limit: expected an integer from 1 to 1000.".to_owned(),
        ),
        (
            "limit=0",
            "Invalid limit: expected an integer from 1 to 1000.".to_owned(),
        ),
        (
            "limit=-5",
            "Invalid limit: expected an integer from 1 to 1000.".to_owned(),
        ),
        (
            "limit=many",
            "Invalid limit: expected an integer from 1 to 1000.".to_owned(),
        ),
        ("since=last%20week", time_msg("since")),
        ("since=2024-02-30T00:00:00Z", time_msg("since")),
        ("until=2024-05-01T25:00:00Z", time_msg("until")),
        ("until=1714521600", time_msg("until")),
        (
            "since=2024-05-02&until=2024-05-01",
            "since must be earlier than until.".to_owned(),
        ),
        ("cursor=abc", "Invalid cursor.".to_owned()),
        (
            "order=sideways",
            "Invalid order: expected newest or oldest.".to_owned(),
        ),
        (
            "format=xml",
            "Invalid format: expected json, ndjson or csv.".to_owned(),
        ),
        ("feature=superuser", "Not a valid feature name.".to_owned()),
        ("clientid=x", "Unknown parameter: clientid.".to_owned()),
        (
            "actor=a&actor=b",
            "Parameter actor given more than once.".to_owned(),
        ),
        ("action=", "Parameter action must not be empty.".to_owned()),
        (
            "format=ndjson&limit=5",
            "limit and cursor page JSON results; ndjson and csv stream every matching event."
                .to_owned(),
        ),
    ] {
        assert_eq!(
            audit_get(&app, &s.owner, query).await,
            (400, errors(&msg)),
            "{query}"
        );
    }
    // A cursor made for one order is refused with the other.
    let (_, page) = audit_get(&app, &s.owner, "limit=2").await;
    let next = page["next"].as_str().unwrap().to_owned();
    app.by(&s.owner)
        .get(&format!("{next}&order=oldest"))
        .await
        .is(400, errors("The cursor was made for the other order."));
    assert_eq!(app.audit_rows(&s.owner.app_id).await.len(), before);
}

#[tokio::test]
async fn ndjson_streams_every_matching_event_in_chain_order() {
    let app = spawn_app().await;
    let s = story(&app).await;
    let path = format!("/config/{}/audit", s.owner.app_id);
    let res = app
        .as_owner(&s.owner, Method::GET, &path)
        .header("Accept", "application/x-ndjson")
        .fetch()
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["content-type"], "application/x-ndjson");
    assert_eq!(
        res.headers["content-disposition"],
        format!("attachment; filename=\"audit-{}.ndjson\"", s.owner.app_id).as_str()
    );
    let text = res.text;
    assert!(text.ends_with('\n'));
    let lines = parse_ndjson(&text);
    assert_eq!(event_seqs(&lines), (1..=9).collect::<Vec<_>>());
    // The same objects as the JSON pages.
    let (_, page) = audit_get(&app, &s.owner, "order=oldest").await;
    assert_eq!(Value::Array(lines), page["events"]);
    // format= wins over Accept; filters and order apply.
    let res = app
        .as_owner(
            &s.owner,
            Method::GET,
            &format!("{path}?format=ndjson&client={}&order=newest", s.a),
        )
        .header("Accept", "text/csv")
        .fetch()
        .await;
    let text = res.text;
    let seqs: Vec<i64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [8, 7, 5, 3]);
    // Nothing matches: an empty body.
    let res = app
        .as_owner(
            &s.owner,
            Method::GET,
            &format!("{path}?format=ndjson&action=none"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status().as_u16(), res.text().await.unwrap()),
        (200, String::new())
    );
}

#[tokio::test]
async fn csv_quotes_names_with_commas_quotes_and_newlines() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let tricky = "Acme, \"Ops\"\nteam\r\n\tälpha ✓";
    let id = app.make_client(&owner, tricky, &["direct_access"]).await.id;
    set_features(&app, &owner, &id, "plain", &[]).await;
    let res = app
        .as_owner(
            &owner,
            Method::GET,
            &format!("/config/{}/audit", owner.app_id),
        )
        .header("Accept", "application/json;q=0.5, text/csv")
        .fetch()
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.headers["content-type"],
        "text/csv; charset=utf-8; header=present"
    );
    let text = res.text;
    assert!(text.starts_with("seq,occurred_at,action,actor,actor_ip,target_client_id,features_before,features_after,changes,request_id,event_id,app_id,prev_hash,hash\r\n"));
    let rows = parse_csv(&text);
    assert_eq!(rows.len(), 1 + 4, "header and 4 events");
    assert!(rows.iter().all(|r| r.len() == 14), "{rows:?}");
    let create = &rows[3];
    assert_eq!(
        (create[0].as_str(), create[2].as_str(), create[5].as_str()),
        ("3", "client.create", id.as_str())
    );
    assert_eq!(
        (create[6].as_str(), create[7].as_str()),
        ("", "direct_access")
    );
    let changes: Value = serde_json::from_str(&create[8]).unwrap();
    assert_eq!(changes["name"], json!({"from": null, "to": tricky}));
    let update = &rows[4];
    let changes: Value = serde_json::from_str(&update[8]).unwrap();
    assert_eq!(changes["name"], json!({"from": tricky, "to": "plain"}));
    assert_eq!(
        (update[6].as_str(), update[7].as_str()),
        ("direct_access", "")
    );
    let (_, page) = audit_get(&app, &owner, "").await;
    assert_eq!(update[13], page["events"][0]["hash"].as_str().unwrap());
    assert_eq!(
        update[1],
        page["events"][0]["occurred_at"].as_str().unwrap()
    );
}

#[tokio::test]
async fn reading_the_log_is_for_its_owners_and_the_operator_only() {
    let app = spawn_app().await;
    let s = story(&app).await;
    let other = app.create_app("other").await;
    let _ = app.add_client(&other, "theirs", &[]).await;
    let path = format!("/config/{}/audit", s.owner.app_id);
    let (reader, secret) = app
        .make_client(&s.owner, "reader", &["direct_access"])
        .await
        .credentials();
    for p in [path.clone(), format!("{path}?format=csv")] {
        app.by_client(&reader, &secret).get(&p).await.case_is(
            403,
            errors("Forbidden"),
            format_args!("{p}"),
        );
        app.by(&other).get(&p).await.case_is(
            401,
            errors("Authentication required."),
            format_args!("{p}"),
        );
    }
    let (status, page) = app.operator().get(&path).await.pair();
    assert_eq!((status, seqs(&page).len()), (200, 10));
    app.operator()
        .get(&format!("/config/{}/audit", "b".repeat(26)))
        .await
        .is(404, errors("Application not found."));
    // Another application's events never show, even when asked for by their client id.
    let theirs: Vec<String> = app
        .audit_rows(&other.app_id)
        .await
        .iter()
        .filter_map(|r| r["target_client_id"].as_str().map(str::to_owned))
        .collect();
    for c in &theirs {
        let (_, page) = audit_get(&app, &s.owner, &format!("client={c}")).await;
        assert_eq!(seqs(&page), Vec::<i64>::new());
    }
    let (_, page) = audit_get(&app, &s.owner, "limit=1000").await;
    assert!(page["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["app_id"] == s.owner.app_id.as_str()));
    app.by(&s.owner)
        .delete(&path)
        .await
        .is(405, errors("Method not allowed."));
}

#[tokio::test]
async fn events_never_hold_secrets() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let Made { id, secret, .. } = app.make_client(&owner, "x", &[]).await;
    let res = app
        .config(&owner)
        .rotate_secret(&id, &json!({"hoursToLive": 5}))
        .await;
    let new_secret = res.body["_secret"].as_str().unwrap().to_owned();
    let text = app.config(&owner).get("/audit?format=ndjson").await.text;
    for s in [&secret, &new_secret, &owner.secret] {
        assert!(!text.contains(s.as_str()));
    }
    assert!(
        text.contains(r#""changes":{"secret":{"oldSecretHoursToLive":5,"rotated":true}}"#),
        "{text}"
    );
}
