//! PostgreSQL chains on the command line: the same commands over
//! [`crate::postgres`], with a `postgres://` URL as the store (from the
//! chain's default, `--store`, or `[workspace.metadata.verchain.stores]`).

use std::rc::Rc;

use camino::{Utf8Path, Utf8PathBuf};

use super::ChainEntry;
use super::entry::{Entry, Opens};
use crate::postgres::{Pg, PostgresStore};
use crate::{Chain, ErrorKind};

/// PostgreSQL schemas, each set up by the chain's entry.
#[derive(Clone)]
struct Schema {
    setup: Rc<dyn Fn(PostgresStore) -> PostgresStore>,
}

/// Chain `C` over the schema `public` of the database at `url`, unless
/// `--store` or the workspace's settings name another URL; snapshots in
/// the store's default folder (see [`PostgresStore`]).
pub fn postgres_chain<C: Chain<Record = Pg>>(url: impl Into<String>) -> Box<dyn ChainEntry> {
    postgres_chain_with::<C>(url, |store| store)
}

/// Chain `C` over a PostgreSQL database, as [`postgres_chain`], with the
/// store set up by `setup` whatever its URL (the schema, the snapshot
/// folder, the timeouts):
///
/// ```no_run
/// # use verchain::Chain;
/// # use verchain::postgres::Pg;
/// # #[derive(Chain)] #[chain(current = 1, record = Pg)] pub struct Forms;
/// let entry = verchain::cli::postgres_chain_with::<Forms>("postgres://app@db/forms", |store| {
///     store.schema("forms").snapshots_in("/var/backups/forms")
/// });
/// ```
pub fn postgres_chain_with<C: Chain<Record = Pg>>(
    url: impl Into<String>,
    setup: impl Fn(PostgresStore) -> PostgresStore + 'static,
) -> Box<dyn ChainEntry> {
    Entry::<C, Schema>::boxed(
        Utf8PathBuf::from(url.into()),
        Schema {
            setup: Rc::new(setup),
        },
    )
}

impl Opens for Schema {
    type Store = PostgresStore;
    const KIND: &'static str = "a PostgreSQL schema";

    fn open(&self, url: &Utf8Path) -> Result<PostgresStore, ErrorKind> {
        Ok((self.setup)(PostgresStore::new(url.as_str())?))
    }

    /// A connection string that cannot be read is a usage error.
    fn check(&self, url: &Utf8Path) -> Result<(), String> {
        PostgresStore::new(url.as_str())
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
