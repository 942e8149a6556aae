//! Where a command runs: the workspace root and the stores configured in
//! its `Cargo.toml`, found with `cargo metadata` so that every command works
//! from any folder of the workspace.
//!
//! ```toml
//! [workspace.metadata.verchain.stores]
//! notes = "data/notes"   # relative to the workspace root
//! ```

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

/// The workspace a command runs in, if it runs in one.
#[derive(Debug, Default)]
pub(super) struct Workspace {
    /// The folder of the workspace's `Cargo.toml`.
    pub root: Option<Utf8PathBuf>,
    /// Each chain's store, from `[workspace.metadata.verchain.stores]`,
    /// already resolved against the root.
    stores: BTreeMap<String, Utf8PathBuf>,
}

impl Workspace {
    /// Reads the workspace around the current folder. Outside any workspace
    /// (or without cargo) there is none, and chains use their own default
    /// stores; a workspace whose settings are wrong is an error.
    pub fn load() -> Result<Workspace, String> {
        let metadata = match cargo_metadata::MetadataCommand::new().no_deps().exec() {
            Ok(metadata) => metadata,
            Err(cargo_metadata::Error::CargoMetadata { stderr })
                if stderr.contains("could not find `Cargo.toml`") =>
            {
                return Ok(Workspace::default());
            }
            Err(cargo_metadata::Error::Io(_)) => return Ok(Workspace::default()),
            Err(e) => {
                return Err(format!(
                    "cannot read the workspace with `cargo metadata`: {e}"
                ));
            }
        };
        let root = metadata.workspace_root;
        let stores = parse(&metadata.workspace_metadata, &root)?;
        Ok(Workspace {
            root: Some(root),
            stores,
        })
    }

    /// The store of `chain`: configured in the workspace, else `default`
    /// (a relative default is taken from the workspace root when there is
    /// one).
    pub fn store(&self, chain: &str, default: &Utf8Path) -> Utf8PathBuf {
        if let Some(store) = self.stores.get(chain) {
            return store.clone();
        }
        match &self.root {
            Some(root) if default.is_relative() => root.join(default),
            _ => default.to_owned(),
        }
    }

    /// The chains named in the settings, for checking them against the
    /// chains the program has.
    pub fn configured(&self) -> impl Iterator<Item = &str> {
        self.stores.keys().map(String::as_str)
    }
}

/// Reads `[workspace.metadata.verchain]` from the workspace's metadata.
fn parse(metadata: &Value, root: &Utf8Path) -> Result<BTreeMap<String, Utf8PathBuf>, String> {
    const WHERE: &str = "[workspace.metadata.verchain]";
    let Some(settings) = metadata.get("verchain") else {
        return Ok(BTreeMap::new());
    };
    let Value::Object(settings) = settings else {
        return Err(format!("{WHERE} must be a table"));
    };
    if let Some(key) = settings.keys().find(|k| *k != "stores") {
        return Err(format!(
            "{WHERE}: unknown setting `{key}`; expected `stores`"
        ));
    }
    let Some(stores) = settings.get("stores") else {
        return Ok(BTreeMap::new());
    };
    let Value::Object(stores) = stores else {
        return Err(format!(
            "{WHERE}: `stores` must be a table of chain names to folders"
        ));
    };
    stores
        .iter()
        .map(|(chain, path)| match path {
            Value::String(path) if !path.is_empty() => Ok((chain.clone(), root.join(path))),
            other => Err(format!(
                "{WHERE}: the store of chain `{chain}` must be a folder path, not {other}"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stores_resolve_against_the_workspace_root() {
        let root = Utf8Path::new("/work/app");
        let stores = parse(
            &json!({ "verchain": { "stores": { "notes": "data/notes", "logs": "/var/log/app" } } }),
            root,
        )
        .unwrap();
        assert_eq!(stores["notes"], "/work/app/data/notes");
        assert_eq!(stores["logs"], "/var/log/app");
        let workspace = Workspace {
            root: Some(root.to_owned()),
            stores,
        };
        assert_eq!(
            workspace.store("notes", Utf8Path::new("x")),
            "/work/app/data/notes"
        );
        assert_eq!(
            workspace.store("other", Utf8Path::new("vault")),
            "/work/app/vault"
        );
        assert_eq!(workspace.store("other", Utf8Path::new("/abs")), "/abs");
    }

    #[test]
    fn no_settings_is_no_stores() {
        let root = Utf8Path::new("/w");
        assert!(parse(&Value::Null, root).unwrap().is_empty());
        assert!(parse(&json!({ "other-tool": 1 }), root).unwrap().is_empty());
    }

    #[test]
    fn wrong_settings_are_errors_that_say_what_is_expected() {
        let root = Utf8Path::new("/w");
        let unknown = parse(&json!({ "verchain": { "store": {} } }), root).unwrap_err();
        assert!(
            unknown.contains("unknown setting `store`; expected `stores`"),
            "{unknown}"
        );
        let number = parse(&json!({ "verchain": { "stores": { "notes": 3 } } }), root).unwrap_err();
        assert!(
            number.contains("chain `notes` must be a folder path, not 3"),
            "{number}"
        );
        let list = parse(&json!({ "verchain": { "stores": ["a"] } }), root).unwrap_err();
        assert!(list.contains("`stores` must be a table"), "{list}");
    }
}
