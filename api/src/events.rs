//! `GET /events?since=&until=&filters=`: pier's event log (`<root>/events.jsonl`, written by
//! the `pier` command, the service and the containers' monitors alike) as Docker's stream of
//! JSON messages. With `since`, the events kept from that time are sent first; then new ones
//! as they are appended (the log is polled), until `until` or until the client goes.
//! Filters: `type` (pier logs containers only), `container` (name or ID), `event`, `image`,
//! `label`.

use crate::containers::list::{label_matches, parse_filters};
use crate::error::ApiError;
use crate::http::{self, Query, Reply};
use crate::state::{blocking, State};
use crate::timestamps::parse_time;
use hyper::StatusCode;
use pier_engine::container::events::{Cursor, Event};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the log is looked at for new events.
const POLL: Duration = Duration::from_millis(200);

/// The filters the stream understands.
const FILTERS: &[&str] = &["type", "container", "event", "image", "label"];

/// Docker's `Action`: pier's word, and `health_status: healthy` for a health change.
fn action(e: &Event) -> String {
    match &e.health {
        Some(h) => format!("{}: {h}", e.action.as_str()),
        None => e.action.as_str().to_string(),
    }
}

/// Whether `e` passes `filters` (each key: any of its values).
fn passes(e: &Event, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(key, values)| {
        // Docker ANDs label filters, and ORs the values of the others.
        if key == "label" {
            return values.iter().all(|v| label_matches(&e.labels, v));
        }
        values.is_empty()
            || values.iter().any(|v| match key.as_str() {
                "type" => v == "container",
                "container" => *v == e.name || e.id.starts_with(v.as_str()),
                "event" => *v == action(e) || v == e.action.as_str(),
                "image" => *v == e.image,
                "label" => label_matches(&e.labels, v),
                _ => false,
            })
    })
}

/// One event in Docker's message shape.
pub fn message(e: &Event) -> Value {
    let mut attrs = Map::new();
    for (k, v) in &e.labels {
        attrs.insert(k.clone(), v.clone().into());
    }
    attrs.insert("name".into(), e.name.clone().into());
    if !e.image.is_empty() {
        attrs.insert("image".into(), e.image.clone().into());
    }
    if let Some(code) = e.exit_code {
        attrs.insert("exitCode".into(), code.to_string().into());
    }
    if e.oom_killed {
        attrs.insert("oomKilled".into(), "true".into());
    }
    if let Some(sig) = &e.signal {
        attrs.insert("signal".into(), sig.clone().into());
    }
    if let Some(err) = &e.error {
        attrs.insert("error".into(), err.clone().into());
    }
    let nanos = e
        .when()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let action = action(e);
    json!({
        "status": action,
        "id": e.id,
        "from": e.image,
        "Type": "container",
        "Action": action,
        "Actor": {"ID": e.id, "Attributes": attrs},
        "scope": "local",
        "time": (nanos / 1_000_000_000) as u64,
        "timeNano": nanos as u64,
    })
}

/// `GET /events`.
pub async fn events(state: Arc<State>, q: Query) -> Result<Reply, ApiError> {
    let filters = parse_filters(q.get("filters"))?;
    if let Some(k) = filters.keys().find(|k| !FILTERS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "invalid filter {k:?}: pier's events are filtered by {}",
            FILTERS.join(", ")
        )));
    }
    let time = |name: &str| -> Result<Option<SystemTime>, ApiError> {
        q.get(name)
            .filter(|t| !t.is_empty())
            .map(|t| parse_time(t, name))
            .transpose()
    };
    let (since, until) = (time("since")?, time("until")?);
    let s = state.clone();
    // Everything kept, read once: the past (sent only with `since`) and the cursor to follow.
    let (past, cursor) = blocking(move || {
        let mut cursor = Cursor::default();
        let past = s.engine.events().read_new(&mut cursor)?;
        Ok((past, cursor))
    })
    .await?;
    let in_range = move |e: &Event| {
        let t = e.when().unwrap_or(UNIX_EPOCH);
        since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
    };
    let (mut reply, tx) = http::streamed("application/json");
    *reply.status_mut() = StatusCode::OK;
    let busy = state.busy();
    tokio::spawn(async move {
        let _busy = busy;
        let mut cursor = cursor;
        let mut batch = if since.is_some() { past } else { Vec::new() };
        loop {
            for e in batch.iter().filter(|e| in_range(e) && passes(e, &filters)) {
                if tx.send(http::json_line(&message(e))).await.is_err() {
                    return;
                }
            }
            if until.is_some_and(|u| SystemTime::now() > u) || tx.is_closed() {
                return;
            }
            tokio::time::sleep(POLL).await;
            let s = state.clone();
            batch = match blocking(move || {
                let new = s.engine.events().read_new(&mut cursor)?;
                Ok((new, cursor))
            })
            .await
            {
                Ok((new, c)) => {
                    cursor = c;
                    new
                }
                Err(e) => {
                    eprintln!(
                        "pier system service: following the event log: {}",
                        e.message
                    );
                    return;
                }
            };
        }
    });
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pier_engine::container::events::Action;

    fn event(action: Action, name: &str) -> Event {
        Event {
            time: "2026-01-02T03:04:05.000000006Z".into(),
            action,
            id: "ab".repeat(32),
            name: name.into(),
            image: "busybox".into(),
            exit_code: Some(3),
            oom_killed: false,
            signal: None,
            error: None,
            health: None,
            labels: [("team".to_string(), "a".to_string())].into(),
            init: None,
            seal: None,
        }
    }

    #[test]
    fn messages_have_dockers_shape_and_filters_select() {
        let e = event(Action::Die, "x");
        let m = message(&e);
        assert_eq!(m["Type"], "container");
        assert_eq!(m["Action"], "die");
        assert_eq!(m["Actor"]["Attributes"]["exitCode"], "3");
        assert_eq!(m["Actor"]["Attributes"]["team"], "a");
        assert_eq!(m["timeNano"].as_u64().unwrap() % 1_000_000_000, 6);
        let f = |k: &str, v: &str| BTreeMap::from([(k.to_string(), vec![v.to_string()])]);
        assert!(passes(&e, &f("event", "die")));
        assert!(!passes(&e, &f("event", "start")));
        assert!(passes(&e, &f("container", "x")));
        assert!(passes(&e, &f("container", "abab")));
        assert!(passes(&e, &f("label", "team=a")));
        assert!(!passes(&e, &f("label", "team=b")));
        assert!(!passes(&e, &f("type", "image")));
    }
}
