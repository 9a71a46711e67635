//! The `filters` of the network and volume lists: `name` (a regular expression, as Docker
//! matches it), `label` (`KEY` or `KEY=VALUE`, all must match), `driver`, `dangling`, and for
//! networks `id` and `type`.

use crate::containers::list::parse_filters;
use crate::error::ApiError;
use std::collections::BTreeMap;

/// Parsed filters, checked against the keys a list understands.
pub struct Filters(BTreeMap<String, Vec<String>>);

/// What an item offers to be filtered on.
pub struct Item<'a> {
    /// Name (and ID: pier's networks and volumes are known by name).
    pub name: &'a str,
    /// Labels.
    pub labels: &'a BTreeMap<String, String>,
    /// Used by no container.
    pub dangling: bool,
    /// Built in (the default network).
    pub builtin: bool,
}

impl Filters {
    /// Parses the `filters` parameter; 400 for a key outside `keys`.
    pub fn parse(text: Option<&str>, keys: &[&str], what: &str) -> Result<Filters, ApiError> {
        let map = parse_filters(text)?;
        if let Some(k) = map.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "invalid filter {k:?}: pier filters {what} by {}",
                keys.join(", ")
            )));
        }
        Ok(Filters(map))
    }

    fn any(
        &self,
        key: &str,
        test: impl Fn(&str) -> Result<bool, ApiError>,
    ) -> Result<bool, ApiError> {
        let Some(values) = self.0.get(key).filter(|v| !v.is_empty()) else {
            return Ok(true);
        };
        for v in values {
            if test(v)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether `item` passes every filter.
    pub fn pass(&self, item: &Item) -> Result<bool, ApiError> {
        let name = self.any("name", |re| {
            regex::Regex::new(re)
                .map(|r| r.is_match(item.name))
                .map_err(|e| ApiError::bad_request(format!("invalid filter name={re:?}: {e}")))
        })?;
        let id = self.any("id", |id| Ok(item.name.starts_with(id)))?;
        let labels = self.0.get("label").is_none_or(|wants| {
            wants.iter().all(|want| match want.split_once('=') {
                Some((k, v)) => item.labels.get(k).is_some_and(|have| have == v),
                None => item.labels.contains_key(want.as_str()),
            })
        });
        let driver = self.any("driver", |d| Ok(d == "bridge" || d == "local"))?;
        let dangling = self.any("dangling", |d| {
            Ok(matches!(d, "true" | "1") == item.dangling)
        })?;
        let kind = self.any("type", |t| match t {
            "builtin" => Ok(item.builtin),
            "custom" => Ok(!item.builtin),
            other => Err(ApiError::bad_request(format!(
                "invalid filter type={other:?}: type is custom or builtin"
            ))),
        })?;
        Ok(name && id && labels && driver && dangling && kind)
    }
}
