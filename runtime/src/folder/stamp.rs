//! Stamping a folder built before verchain: what says its version, and
//! how a stamp is told apart from documents that carry their own.

use camino::Utf8PathBuf;

use super::FolderStore;
use crate::Document;
use crate::run::store::{StampState, Store};
use crate::run::{ChainInfo, ErrorKind};

impl FolderStore {
    /// Its history or its stamp file say its version; else each document
    /// that has the version key says its own, and one without it (or one
    /// that cannot be read) is read at the chain's base.
    pub(super) fn folder_stamp_state(
        &self,
        session: &mut (),
        chain: &ChainInfo<Document>,
    ) -> Result<StampState, ErrorKind> {
        if !self.history(session)?.is_empty() {
            return Ok(StampState::Stamped(format!(
                "its history, {}",
                self.history_path()
            )));
        }
        if let Some(version) = self.stamp(session, chain)? {
            return Ok(StampState::Stamped(format!(
                "its stamp, v{version} in {}",
                self.stamp_path()
            )));
        }
        let documents = self.scan()?;
        if documents.is_empty() {
            return Ok(StampState::Empty);
        }
        let says = |path: &Utf8PathBuf| {
            self.read(path)
                .is_ok_and(|(doc, _)| doc.contains(chain.version_key))
        };
        Ok(match documents.iter().all(says) {
            true => StampState::Stamped(format!("each document's `{}`", chain.version_key)),
            false => StampState::Unstamped,
        })
    }
}
