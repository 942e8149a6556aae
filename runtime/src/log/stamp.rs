//! Stamping a log built before verchain: each file without a header gets
//! one at the stamped version, its records kept byte for byte, through the
//! same streaming pass and commit as a run (the old files kept in the
//! run's snapshot).

use super::record::LogRecord;
use super::run::Staged;
use super::store::LogStore;
use super::stream::{self, Job};
use crate::run::store::{StampState, Store};
use crate::run::{ChainInfo, ErrorKind, Run, history};

impl LogStore {
    /// Its history, or a header on each of its files, says its version.
    pub(super) fn log_stamp_state(
        &self,
        chain: &ChainInfo<LogRecord>,
    ) -> Result<StampState, ErrorKind> {
        if !history::read(&self.history_path())?.is_empty() {
            return Ok(StampState::Stamped(format!(
                "its history, {}",
                self.history_path()
            )));
        }
        let mut headers = 0;
        let mut records = false;
        let files = self.files()?;
        for file in &files {
            match stream::has_header(file, chain.version_key)? {
                Some(true) => headers += 1,
                Some(false) => records = true,
                None => {}
            }
        }
        Ok(match (records, headers) {
            (true, _) => StampState::Unstamped,
            (false, 0) => StampState::Empty,
            (false, _) => StampState::Stamped(format!("the header of {}", files[0].path)),
        })
    }

    /// A copy of each file without a header, with a header at `version`
    /// first; none where such a file already reads as `version`.
    pub(super) fn stage_stamp(
        &self,
        run: &Run<'_, LogRecord>,
        version: u32,
    ) -> Result<Staged, ErrorKind> {
        let mut staged = Staged::default();
        let unversioned = self.unversioned().unwrap_or(run.chain.base);
        if version == unversioned {
            return Ok(staged);
        }
        let schema = |_: &LogRecord| None;
        for file in self.files()? {
            if stream::has_header(&file, run.chain.version_key)? == Some(true) {
                continue;
            }
            let temp = LogStore::temp_name(&file, run.id());
            staged.renames.push((file.clone(), temp.clone()));
            let job = Job {
                file: &file,
                target: version,
                moves: &[],
                version_key: run.chain.version_key,
                unversioned,
                schema: &schema,
                quarantine: None,
                write_quarantine: false,
                output: Some(self.dir().join(&temp)),
                diff_limit: 0,
                progress: None,
            };
            match stream::run(&job) {
                Ok(outcome) => {
                    if let Some(seen) = outcome.seen {
                        staged.keep.push((file.clone(), seen));
                    }
                }
                Err(e) => {
                    self.discard(staged, run.id());
                    return Err(e);
                }
            }
        }
        Ok(staged)
    }
}
