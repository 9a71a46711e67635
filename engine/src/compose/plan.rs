//! The order services start in: every service after what it `depends_on`. A dependency on a
//! service that does not exist, or a cycle, is refused before anything is created, the cycle
//! named service by service.

use super::model::Condition;
use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// Orders `deps` (service -> the services it depends on) so that each service comes after
/// its dependencies; ties keep alphabetical order, so the order is stable.
pub fn start_order(deps: &BTreeMap<String, Vec<(String, Condition)>>) -> Result<Vec<String>> {
    for (service, on) in deps {
        for (d, _) in on {
            if !deps.contains_key(d) {
                bail!("service {service:?} depends on undefined service {d:?}");
            }
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = deps.keys().map(|k| (k.as_str(), Mark::New)).collect();
    let mut order = Vec::new();
    // Depth-first, with the path kept to name a cycle.
    fn visit<'a>(
        s: &'a str,
        deps: &'a BTreeMap<String, Vec<(String, Condition)>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
        order: &mut Vec<String>,
    ) -> Result<()> {
        match marks[s] {
            Mark::Done => return Ok(()),
            Mark::Visiting => {
                let from = path.iter().position(|p| *p == s).unwrap_or(0);
                let mut cycle: Vec<&str> = path[from..].to_vec();
                cycle.push(s);
                bail!("dependency cycle between services: {}", cycle.join(" -> "));
            }
            Mark::New => {}
        }
        marks.insert(s, Mark::Visiting);
        path.push(s);
        for (d, _) in &deps[s] {
            visit(d, deps, marks, path, order)?;
        }
        path.pop();
        marks.insert(s, Mark::Done);
        order.push(s.to_string());
        Ok(())
    }
    for s in deps.keys() {
        visit(s, deps, &mut marks, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

/// `services` and everything they depend on, transitively (what `up web` starts).
pub fn with_dependencies(
    services: &[String],
    deps: &BTreeMap<String, Vec<(String, Condition)>>,
) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut todo: Vec<String> = services.to_vec();
    while let Some(s) = todo.pop() {
        let Some(on) = deps.get(&s) else {
            bail!("no such service: {s}");
        };
        if out.contains(&s) {
            continue;
        }
        todo.extend(on.iter().map(|(d, _)| d.clone()));
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<(String, Condition)>> {
        pairs
            .iter()
            .map(|(s, on)| {
                (
                    s.to_string(),
                    on.iter()
                        .map(|d| (d.to_string(), Condition::ServiceStarted))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn dependencies_come_first() {
        let order = start_order(&deps(&[
            ("web", &["api"]),
            ("api", &["store"]),
            ("store", &[]),
        ]))
        .unwrap();
        assert_eq!(order, ["store", "api", "web"]);
    }

    #[test]
    fn cycle_is_named() {
        let e = start_order(&deps(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a -> b -> c -> a"), "{e}");
    }

    #[test]
    fn unknown_dependency() {
        let e = start_order(&deps(&[("web", &["nope"])]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"web\"") && e.contains("\"nope\""), "{e}");
    }

    #[test]
    fn closure() {
        let d = deps(&[
            ("web", &["api"]),
            ("api", &["store"]),
            ("store", &[]),
            ("x", &[]),
        ]);
        let mut s = with_dependencies(&["web".into()], &d).unwrap();
        s.sort();
        assert_eq!(s, ["api", "store", "web"]);
    }
}
