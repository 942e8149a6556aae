//! Chains and their steps: what `#[derive(Chain)]` and `#[migration]`
//! generate code against, and the rules a chain follows.

use std::fmt;
use std::time::Duration;

pub use verchain_core::{CHECKSUM_ALGORITHM, ChainRuleError, StepRuleError};

use camino::Utf8Path;
use serde::de::DeserializeOwned;

use crate::folder::Format;
use crate::load::{LoadError, Loaded, LoadedLog};
use crate::log::LogRecord;
use crate::{BoxError, Document};

/// A migration chain: the versions of one store's schema and the steps
/// between them, in order.
///
/// Implemented by `#[derive(Chain)]`; the compiler has already checked that
/// there is exactly one step from each version to the next.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a migration chain",
    label = "`chain = …` must name a type declared with `#[derive(Chain)]`",
    note = "declare it with `#[derive(verchain::Chain)]` and `#[chain(base = 1, current = N)]`"
)]
pub trait Chain: 'static {
    /// What one step works on: a [`Document`] by default.
    type Record: Record;
    /// The chain's name, as users and the history see it.
    const NAME: &'static str;
    /// The first version; nothing migrates to it.
    const BASE: u32;
    /// The newest version, the default target of a run.
    const CURRENT: u32;
    /// The key in each record that holds its version.
    const VERSION_KEY: &'static str;
    /// The file that declares the chain, as `file!()` gives it (empty for a
    /// chain implemented by hand).
    const SOURCE_FILE: &'static str = "";
    /// The chain type's name as written in its declaration.
    const TYPE_NAME: &'static str = "";
    /// The application's releases, oldest first, each with the version it
    /// ships: `#[chain(release("0.2.0" = 3))]` gives `[("0.2.0", 3)]`.
    const RELEASES: &'static [(&'static str, u32)] = &[];

    /// The steps from `BASE` to `CURRENT`, in order.
    fn steps() -> Vec<Step<Self::Record>>;

    /// Checks `record` against the schema type declared for `version` with
    /// `#[chain(schema(N = Type))]`; `None` when none is declared.
    fn check_schema(version: u32, record: &Self::Record) -> Option<Result<(), BoxError>>;

    /// Brings one document of this chain, `bytes` in `format`, to the
    /// current version in memory, through the same steps, checks and writer
    /// as a run of its store, writing nothing: an old note synced from
    /// another device, a settings file a user kept. A document without the
    /// version key is at the chain's base version; one newer than this
    /// program, or one a step refuses, is an error that names the versions
    /// and the step. [`Loaded::save`] writes it back at the current version.
    fn load(bytes: &[u8], format: Format) -> Result<Loaded, LoadError>
    where
        Self: Chain<Record = Document> + Sized,
    {
        crate::load::load_document::<Self>(bytes, format)
    }

    /// [`Chain::load`], then the document at the current version as `T`.
    fn load_as<T: DeserializeOwned>(bytes: &[u8], format: Format) -> Result<T, LoadError>
    where
        Self: Chain<Record = Document> + Sized,
    {
        Self::load(bytes, format)?.to_typed()
    }

    /// [`Chain::load`] of the file at `path` (its format from its
    /// extension), named in every message.
    fn load_file(path: impl AsRef<Utf8Path>) -> Result<Loaded, LoadError>
    where
        Self: Chain<Record = Document> + Sized,
    {
        crate::load::load_file::<Self>(path.as_ref())
    }

    /// Brings one log file of this chain (uncompressed JSONL, header and
    /// all) to the current version in memory, as a run of its store would
    /// write it, writing nothing.
    ///
    /// ```
    /// use verchain::log::LogRecord;
    /// use verchain::{Chain, migration};
    ///
    /// /// An audit log.
    /// #[derive(Chain)]
    /// #[chain(current = 2, record = LogRecord)]
    /// pub struct Audit;
    ///
    /// /// Renames `actor` to `user`.
    /// #[migration(chain = Audit, from = 1, to = 2)]
    /// fn rename_actor(entry: &mut LogRecord) -> Result<(), verchain::FieldExists> {
    ///     entry.rename("actor", "user")?;
    ///     Ok(())
    /// }
    ///
    /// // A rotated file from an archive, from before the log had a header.
    /// let old = b"{\"actor\":\"ana\",\"action\":\"login\"}\n";
    /// let log = Audit::load_log(old)?;
    /// assert_eq!(log.read_at(), 1);
    /// assert_eq!(
    ///     log.bytes(),
    ///     b"{\"_meta\":{\"schema_version\":2}}\n{\"user\":\"ana\",\"action\":\"login\"}\n"
    /// );
    /// # Ok::<(), verchain::load::LoadError>(())
    /// ```
    fn load_log(bytes: &[u8]) -> Result<LoadedLog, LoadError>
    where
        Self: Chain<Record = LogRecord> + Sized,
    {
        crate::load::load_log::<Self>(bytes)
    }
}

/// A kind of record a step can work on, such as a [`Document`].
///
/// A store's kind of record decides how its steps are held and called.
pub trait Record: 'static {
    /// A step's function, as the store calls it.
    type Body: Send + Sync;
    /// A step's `verify` function, as the store calls it.
    type Verify: Send + Sync;
    /// The parameter of an empty in-place step over this record (its name
    /// and type), as `cargo xtask new` writes it.
    const STEP_PARAMETER: (&'static str, &'static str);
}

/// A function that can be a step over records of kind `R`.
///
/// `Shape` says how the function receives its record (in place, typed, by
/// reference); `#[migration]` picks it from the signature.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a migration step over `{R}`",
    label = "this function's signature does not fit a step over `{R}`",
    note = "a step over a `Document` is `fn(&mut Document) -> Result<(), E>` (or `()`), or typed: \
            `fn(Old) -> New` or `fn(Old) -> Result<New, E>` where `Old: Deserialize` and \
            `New: Serialize`",
    note = "a step over `Sql` (an SQLite database) is `fn(&Transaction) -> Result<(), E>` (or \
            `()`), with `verchain::sqlite::rusqlite::Transaction`",
    note = "a step over `Pg` (a PostgreSQL database) is `fn(&mut Transaction) -> Result<(), E>` \
            (or `()`), with `verchain::postgres::postgres::Transaction`; one marked \
            `transaction = false` is `fn(&mut Client) -> Result<(), E>`, and only a chain over \
            `Pg` has such steps",
    note = "a `down` step has the same shape as its `up` step, with the types swapped"
)]
pub trait StepFn<R: Record, Shape> {
    /// Wraps the function as the record kind calls it.
    fn into_body(self) -> R::Body;
}

/// A function that can verify a record of kind `R` after a step.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot verify a `{R}`",
    label = "this function cannot check a `{R}`",
    note = "a `verify` function over a `Document` is `fn(&Document) -> Result<(), E>`; over `Sql` \
            (an SQLite database), `fn(&Transaction) -> Result<(), E>`"
)]
pub trait VerifyFn<R: Record> {
    /// Wraps the function as the record kind calls it.
    fn into_verify(self) -> R::Verify;
}

/// What a step function may return: the value itself, or a `Result` of it.
pub trait Returns<T> {
    /// The value, or the step's error.
    fn into_result(self) -> Result<T, BoxError>;
}

impl<T> Returns<T> for T {
    fn into_result(self) -> Result<T, BoxError> {
        Ok(self)
    }
}

impl<T, E: Into<BoxError>> Returns<T> for Result<T, E> {
    fn into_result(self) -> Result<T, BoxError> {
        self.map_err(Into::into)
    }
}

/// What is known of a step without running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepMeta {
    /// The step's id: its function's name.
    pub id: &'static str,
    /// The version it reads.
    pub from: u32,
    /// The version it writes.
    pub to: u32,
    /// Its doc comment.
    pub description: &'static str,
    /// A checksum of its source, with its algorithm id (`v1:blake3:…`).
    pub checksum: &'static str,
    /// The name of its `down` function, if it has one.
    pub down: Option<&'static str>,
    /// The file that declares it.
    pub file: &'static str,
    /// The line of its `#[migration]` attribute.
    pub line: u32,
    /// Whether readers of the version before cannot read the version after
    /// (`breaking`): a plan with such a step asks for confirmation on the
    /// command line.
    pub breaking: bool,
    /// The services to restart once the step has run
    /// (`requires_restart = ["api", …]`).
    pub requires_restart: &'static [&'static str],
    /// Whether a run of this step needs the store's snapshot
    /// (`backup_required`, true unless the step says `false`); a run whose
    /// every step says `false` takes none.
    pub backup_required: bool,
    /// How long the step takes on a typical store (`estimate = "5m"`).
    pub estimate: Option<Duration>,
    /// Whether it runs inside the run's transaction (`true` for every step
    /// but one marked `#[migration(transaction = false)]`, which a
    /// PostgreSQL run gives a part of its own, outside any transaction).
    pub transaction: bool,
}

impl StepMeta {
    /// The step's estimate as written in the attribute (`"5m"`), if any.
    pub fn estimate_text(&self) -> Option<String> {
        self.estimate.map(verchain_core::format_estimate)
    }
}

/// One step of a chain: its metadata and its functions.
pub struct Step<R: Record> {
    meta: StepMeta,
    up: R::Body,
    down: Option<R::Body>,
    verify: Option<R::Verify>,
}

impl<R: Record> Step<R> {
    /// Builds a step by hand; `#[migration]` does this for you.
    pub fn new(
        meta: StepMeta,
        up: R::Body,
        down: Option<R::Body>,
        verify: Option<R::Verify>,
    ) -> Self {
        Step {
            meta,
            up,
            down,
            verify,
        }
    }

    /// Everything known of the step without running it.
    pub fn meta(&self) -> &StepMeta {
        &self.meta
    }

    /// The step's id: its function's name.
    pub fn id(&self) -> &'static str {
        self.meta.id
    }

    /// The version the step reads.
    pub fn from(&self) -> u32 {
        self.meta.from
    }

    /// The version the step writes.
    pub fn to(&self) -> u32 {
        self.meta.to
    }

    /// The step's doc comment.
    pub fn description(&self) -> &'static str {
        self.meta.description
    }

    /// The checksum of the step's source (`v1:blake3:…`).
    pub fn checksum(&self) -> &'static str {
        self.meta.checksum
    }

    /// Whether the step has a `down` function.
    pub fn is_reversible(&self) -> bool {
        self.down.is_some()
    }

    /// The function that migrates forward.
    pub fn up(&self) -> &R::Body {
        &self.up
    }

    /// The function that migrates back, if any.
    pub fn down(&self) -> Option<&R::Body> {
        self.down.as_ref()
    }

    /// The function that checks a record after the step, if any.
    pub fn verify(&self) -> Option<&R::Verify> {
        self.verify.as_ref()
    }
}

impl<R: Record> fmt::Debug for Step<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step")
            .field("id", &self.meta.id)
            .field("from", &self.meta.from)
            .field("to", &self.meta.to)
            .field("reversible", &self.is_reversible())
            .field("checksum", &self.meta.checksum)
            .finish()
    }
}

/// The names of a chain's releases: which version each ships, and the
/// other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Releases(pub &'static [(&'static str, u32)]);

impl serde::Serialize for Releases {
    /// As a list of `{"name": "0.2.0", "version": 3}`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        #[derive(serde::Serialize)]
        struct Named {
            name: &'static str,
            version: u32,
        }
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for (name, version) in self.0 {
            seq.serialize_element(&Named {
                name,
                version: *version,
            })?;
        }
        seq.end()
    }
}

impl Releases {
    /// The releases of chain `C`.
    pub fn of<C: Chain>() -> Self {
        Releases(C::RELEASES)
    }

    /// The version a release ships.
    pub fn version(&self, name: &str) -> Option<u32> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// The newest release that ships `version`, if one is named.
    pub fn name_of(&self, version: u32) -> Option<&'static str> {
        self.0
            .iter()
            .rev()
            .find(|(_, v)| *v == version)
            .map(|(n, _)| *n)
    }

    /// The version `text` names: a number (`3`, `v3`) or a release name.
    pub fn resolve(&self, chain: &'static str, text: &str) -> Result<u32, UnknownRelease> {
        verchain_core::parse_version_number(text)
            .or_else(|| self.version(text))
            .ok_or_else(|| UnknownRelease {
                chain,
                name: text.to_owned(),
                known: self.0.to_vec(),
            })
    }

    /// `v3`, or `v3 (0.2.0)` where a release ships version 3.
    pub fn label(&self, version: u32) -> String {
        match self.name_of(version) {
            Some(name) => format!("v{version} ({name})"),
            None => format!("v{version}"),
        }
    }
}

/// A version asked for by a name that is neither a number nor one of the
/// chain's releases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{name}` is not a version of chain `{chain}`: give a number such as `3` or `v3`{}",
    match known.is_empty() {
        true => ", since the chain names no release".to_owned(),
        false => format!(
            " or one of its releases: {}",
            known.iter().map(|(n, v)| format!("{n} (v{v})")).collect::<Vec<_>>().join(", ")
        ),
    }
)]
#[non_exhaustive]
pub struct UnknownRelease {
    /// The chain.
    pub chain: &'static str,
    /// The name as given.
    pub name: String,
    /// The chain's releases and their versions.
    pub known: Vec<(&'static str, u32)>,
}

/// The steps of chain `C`, checked again at run time with the same rules the
/// compiler applied (a chain assembled by hand gets the same guarantees).
pub fn checked_steps<C: Chain>() -> Result<Vec<Step<C::Record>>, verchain_core::ChainRuleError> {
    let mut steps = C::steps();
    verchain_core::check_chain(
        C::NAME,
        C::BASE,
        C::CURRENT,
        steps.iter().map(|s| (s.id(), s.from(), s.to())),
    )?;
    steps.sort_by_key(Step::from);
    Ok(steps)
}
