//! Where a command runs: the workspace root and the stores configured in
//! its `Cargo.toml`, found with `cargo metadata` so that every command works
//! from any folder of the workspace.
//!
//! ```toml
//! [workspace.metadata.verchain.stores]
//! notes = "data/notes"   # relative to the workspace root
//! vault = { path = "data/vault", exclude = ["drafts/**"] }
//! ```

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

use super::entry::{FolderSettings, check_glob};

/// The workspace a command runs in, if it runs in one.
#[derive(Debug, Default)]
pub(super) struct Workspace {
    /// The folder of the workspace's `Cargo.toml`.
    pub root: Option<Utf8PathBuf>,
    /// Each chain's store, from `[workspace.metadata.verchain.stores]`,
    /// already resolved against the root.
    stores: BTreeMap<String, Setting>,
}

/// One chain's store as the workspace sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    /// The store's path, resolved against the workspace root.
    path: Utf8PathBuf,
    /// What the workspace sets for a folder of documents.
    folder: FolderSettings,
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
            return store.path.clone();
        }
        match &self.root {
            Some(root) if default.is_relative() && !is_url(default.as_str()) => root.join(default),
            _ => default.to_owned(),
        }
    }

    /// The globs of documents the store of `chain` leaves out, as the
    /// workspace sets them (already checked).
    pub fn folder_settings(&self, chain: &str) -> FolderSettings {
        self.stores
            .get(chain)
            .map_or_else(FolderSettings::default, |s| s.folder.clone())
    }

    /// The chains named in the settings, for checking them against the
    /// chains the program has.
    pub fn configured(&self) -> impl Iterator<Item = &str> {
        self.stores.keys().map(String::as_str)
    }
}

/// Whether a store's setting is a URL (a database server's), which no
/// folder resolves.
fn is_url(setting: &str) -> bool {
    setting.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+')
    })
}

/// Reads `[workspace.metadata.verchain]` from the workspace's metadata.
fn parse(metadata: &Value, root: &Utf8Path) -> Result<BTreeMap<String, Setting>, String> {
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
            "{WHERE}: `stores` must be a table of chain names to stores"
        ));
    };
    stores
        .iter()
        .map(|(chain, store)| Ok((chain.clone(), setting(chain, store, root)?)))
        .collect()
}

/// One chain's store: `"path"`, or `{ path = "…", exclude = ["…"],
/// without_front_matter = "skip" }`.
fn setting(chain: &str, store: &Value, root: &Utf8Path) -> Result<Setting, String> {
    const WHERE: &str = "[workspace.metadata.verchain.stores]";
    let path = |value: &Value| match value {
        Value::String(url) if is_url(url) => Ok(Utf8PathBuf::from(url)),
        Value::String(path) if !path.is_empty() => Ok(root.join(path)),
        other => Err(format!(
            "{WHERE}: the store of chain `{chain}` must be a path, not {other}"
        )),
    };
    let Value::Object(table) = store else {
        return Ok(Setting {
            path: path(store)?,
            folder: FolderSettings::default(),
        });
    };
    if let Some(key) = table
        .keys()
        .find(|k| !["path", "exclude", "without_front_matter"].contains(&k.as_str()))
    {
        return Err(format!(
            "{WHERE}: unknown key `{key}` in the store of chain `{chain}`; expected `path`, \
             `exclude`, `without_front_matter`"
        ));
    }
    let path = path(
        table
            .get("path")
            .ok_or_else(|| format!("{WHERE}: the store of chain `{chain}` needs a `path`"))?,
    )?;
    let exclude = match table.get("exclude") {
        None => Vec::new(),
        Some(Value::Array(globs)) => globs
            .iter()
            .map(|glob| match glob {
                Value::String(glob) => check_glob(glob)
                    .map(|()| glob.clone())
                    .map_err(|e| format!("{WHERE}: `exclude` of chain `{chain}`: {e}")),
                other => Err(format!(
                    "{WHERE}: `exclude` of chain `{chain}` must list globs, not {other}"
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "{WHERE}: `exclude` of chain `{chain}` must be a list of globs, not {other}"
            ));
        }
    };
    let without_front_matter = match table.get("without_front_matter") {
        None => None,
        Some(Value::String(policy)) => Some(
            policy
                .parse()
                .map_err(|e| format!("{WHERE}: `without_front_matter` of chain `{chain}`: {e}"))?,
        ),
        Some(other) => {
            return Err(format!(
                "{WHERE}: `without_front_matter` of chain `{chain}` must be `refuse`, `skip` or \
                 `add`, not {other}"
            ));
        }
    };
    Ok(Setting {
        path,
        folder: FolderSettings {
            exclude,
            without_front_matter,
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::folder::FrontMatterPolicy;

    #[test]
    fn stores_resolve_against_the_workspace_root() {
        let root = Utf8Path::new("/work/app");
        let stores = parse(
            &json!({ "verchain": { "stores": { "notes": "data/notes", "logs": "/var/log/app" } } }),
            root,
        )
        .unwrap();
        assert_eq!(stores["notes"].path, "/work/app/data/notes");
        assert_eq!(stores["logs"].path, "/var/log/app");
        let db = parse(
            &json!({ "verchain": { "stores": { "forms": "postgres://app@db/forms" } } }),
            root,
        )
        .unwrap();
        assert_eq!(db["forms"].path, "postgres://app@db/forms");
        assert!(stores["notes"].folder.is_empty());
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
        assert_eq!(
            workspace.store("other", Utf8Path::new("postgresql://db/x")),
            "postgresql://db/x"
        );
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
            number.contains("chain `notes` must be a path, not 3"),
            "{number}"
        );
        let list = parse(&json!({ "verchain": { "stores": ["a"] } }), root).unwrap_err();
        assert!(list.contains("`stores` must be a table"), "{list}");
    }

    fn store(value: Value) -> Result<Setting, String> {
        let stores = parse(
            &json!({ "verchain": { "stores": { "notes": value } } }),
            Utf8Path::new("/w"),
        )?;
        Ok(stores["notes"].clone())
    }

    #[test]
    fn a_store_is_a_path_or_a_table_with_its_folder_settings() {
        let plain = store(json!("data/notes")).unwrap();
        assert_eq!(plain.path, "/w/data/notes");
        assert!(plain.folder.is_empty());
        let table = store(json!({
            "path": "data/notes",
            "exclude": ["drafts/**", "*.tmp.md"],
            "without_front_matter": "skip",
        }))
        .unwrap();
        assert_eq!(table.path, "/w/data/notes");
        let workspace = Workspace {
            root: None,
            stores: BTreeMap::from([("notes".to_owned(), table)]),
        };
        let settings = workspace.folder_settings("notes");
        assert_eq!(settings.exclude, ["drafts/**", "*.tmp.md"]);
        assert_eq!(settings.without_front_matter, Some(FrontMatterPolicy::Skip));
        assert!(workspace.folder_settings("other").is_empty());
    }

    #[test]
    fn a_wrong_store_table_is_an_error_that_names_what_is_wrong() {
        for (value, expected) in [
            (
                json!({ "path": "n", "excludes": [] }),
                "unknown key `excludes` in the store of chain `notes`; expected `path`, `exclude`, \
                 `without_front_matter`",
            ),
            (
                json!({ "path": "n", "without_front_matter": "ignore" }),
                "`without_front_matter` of chain `notes`: `ignore` is not `refuse`, `skip` or `add`",
            ),
            (
                json!({ "path": "n", "without_front_matter": true }),
                "`without_front_matter` of chain `notes` must be `refuse`, `skip` or `add`, not true",
            ),
            (
                json!({ "exclude": [] }),
                "the store of chain `notes` needs a `path`",
            ),
            (
                json!({ "path": 3 }),
                "the store of chain `notes` must be a path, not 3",
            ),
            (
                json!({ "path": "n", "exclude": "drafts/**" }),
                "`exclude` of chain `notes` must be a list of globs, not \"drafts/**\"",
            ),
            (
                json!({ "path": "n", "exclude": [1] }),
                "`exclude` of chain `notes` must list globs, not 1",
            ),
            (
                json!({ "path": "n", "exclude": ["drafts/[a"] }),
                "`exclude` of chain `notes`: `drafts/[a` is not a valid glob",
            ),
            (
                json!({ "path": "n", "exclude": ["/drafts/**"] }),
                "`/drafts/**` is not a valid glob: globs are relative to the store's root",
            ),
        ] {
            let error = store(value.clone()).unwrap_err();
            assert!(error.contains(expected), "{value}: {error}");
            assert!(
                error.starts_with("[workspace.metadata.verchain.stores]: "),
                "{error}"
            );
        }
    }
}
