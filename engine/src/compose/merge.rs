//! Several compose files as one (`-f base.yaml -f more.yaml`, or a `compose.override.yaml`
//! beside the file): each later file is laid over the ones before, with Compose's rules in
//! simplified form. Maps merge key by key; a scalar replaces; a list is extended with the
//! items it lacks, except the lists that are one value (`command`, `entrypoint`, a
//! healthcheck's `test`), which the later file replaces.

use yaml_serde::Value;

/// Keys whose list value is a single setting, replaced as a whole.
const REPLACED_LISTS: &[&str] = &["command", "entrypoint", "test"];

/// Lays `over` on `base`. `key` is the key `base` sits under (for the list rule).
pub fn merge(base: &mut Value, over: Value, key: &str) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                let name = k.as_str().unwrap_or_default().to_string();
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v, &name),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Sequence(b), Value::Sequence(o)) if !REPLACED_LISTS.contains(&key) => {
            for item in o {
                if !b.contains(&item) {
                    b.push(item);
                }
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_files_win_and_lists_grow() {
        let mut base: Value = yaml_serde::from_str(
            "services:\n  web:\n    image: a\n    command: [x, y]\n    ports: ['80:80']\n    environment: {A: '1'}\n",
        )
        .unwrap();
        let over: Value = yaml_serde::from_str(
            "services:\n  web:\n    image: b\n    command: [z]\n    ports: ['80:80', '443:443']\n    environment: {B: '2'}\n  db:\n    image: c\n",
        )
        .unwrap();
        merge(&mut base, over, "");
        let web = &base["services"]["web"];
        assert_eq!(web["image"], Value::from("b"));
        assert_eq!(
            web["command"],
            yaml_serde::from_str::<Value>("[z]").unwrap()
        );
        assert_eq!(
            web["ports"],
            yaml_serde::from_str::<Value>("['80:80', '443:443']").unwrap()
        );
        assert_eq!(web["environment"]["A"], Value::from("1"));
        assert_eq!(web["environment"]["B"], Value::from("2"));
        assert_eq!(base["services"]["db"]["image"], Value::from("c"));
    }
}
