//! `PostgresStore`: one schema of a PostgreSQL database, how verchain
//! connects to it, and the connection a run holds (its session).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use postgres::{Client, Config, NoTls};

use super::error::PgError;
use crate::redact::redact;
use crate::run::{ErrorKind, STATE_DIR};

/// A schema of a PostgreSQL database, migrated by a chain declared with
/// `#[chain(record = verchain::postgres::Pg, …)]`.
///
/// Its version and history are the table `_verchain_history` in the schema
/// itself (created on first use, written in the transaction of the run it
/// records). A run holds a session advisory lock on its own connection
/// (see [`PostgresStore::lock_key`]), so that of several instances of an
/// application starting at once, one migrates and the others wait.
///
/// Snapshots are files on the machine that runs the migration, in
/// `.verchain/postgres/<host>_<port>.<database>.<schema>.<hash>/snapshots/`
/// under the current folder unless [`PostgresStore::snapshots_in`] says
/// otherwise (see [`PostgresStore::snapshot_dir`]).
pub struct PostgresStore {
    /// How to connect, when the store was opened from a URL.
    config: Option<Config>,
    /// The client the store was opened from, while no run uses it.
    client: Option<Arc<Mutex<Option<Client>>>>,
    /// The URL without its password (or what names the client's
    /// database), then the schema: what messages name.
    location: Utf8PathBuf,
    /// The database's name, for the default snapshot folder.
    database: String,
    /// The server's hosts and ports as the URL names them (`None` for a
    /// store opened from a client), for the default snapshot folder.
    server: Option<(String, String)>,
    schema: String,
    snapshot_dir: Option<Utf8PathBuf>,
    /// The folder under which the default snapshot folder is.
    state_root: Option<Utf8PathBuf>,
    pub(super) lock_timeout: Duration,
    pub(super) statement_timeout: Duration,
}

impl crate::run::store::sealed::Sealed for PostgresStore {}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .field("schema", &self.schema)
            .field("snapshot_dir", &self.snapshot_dir())
            .finish_non_exhaustive()
    }
}

/// How long a step's statement waits for a lock before the run fails, by
/// default: long enough for a short application transaction to end, short
/// enough that a migration never queues behind a long one (and every
/// query queued behind the migration) for long.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one statement of a step may run, by default, before the run
/// fails and rolls back: a migration never holds its locks for ever.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);

impl PostgresStore {
    /// The schema `public` of the database at `url`
    /// (`postgres://user:password@host:port/database`, or the key-value
    /// form `host=… dbname=…`). Nothing connects until a run starts.
    pub fn new(url: &str) -> Result<PostgresStore, ErrorKind> {
        let config: Config = url.parse().map_err(|cause| PgError::BadUrl {
            url: redact(url),
            cause,
        })?;
        let database = config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or("postgres")
            .to_owned();
        let hosts: Vec<String> = (config.get_hosts().iter())
            .map(|host| match host {
                postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                postgres::config::Host::Unix(path) => path.to_string_lossy().into_owned(),
            })
            .collect();
        let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
        let server = (
            match hosts.is_empty() {
                true => "localhost".to_owned(),
                false => hosts.join(","),
            },
            match ports.is_empty() {
                true => "5432".to_owned(),
                false => ports.join(","),
            },
        );
        Ok(PostgresStore {
            config: Some(config),
            client: None,
            location: Utf8PathBuf::from(redact(url)),
            database,
            server: Some(server),
            schema: "public".to_owned(),
            snapshot_dir: None,
            state_root: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        })
        .map(|store| store.schema("public"))
    }

    /// The schema `public` of the database `client` is connected to; `name`
    /// names that database in messages and in the default snapshot folder.
    /// A run uses the client and gives it back when it ends (runs of this
    /// store take turns); the lock is then released with
    /// `pg_advisory_unlock`, since the connection stays open.
    pub fn from_client(client: Client, name: &str) -> PostgresStore {
        PostgresStore {
            config: None,
            client: Some(Arc::new(Mutex::new(Some(client)))),
            location: Utf8PathBuf::from(format!("postgres database {name}")),
            database: name.to_owned(),
            server: None,
            schema: "public".to_owned(),
            snapshot_dir: None,
            state_root: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
        .schema("public")
    }

    /// The schema to migrate instead of `public`.
    pub fn schema(mut self, schema: &str) -> Self {
        let base = match self.location.as_str().rsplit_once(" schema ") {
            Some((base, _)) => base.to_owned(),
            None => self.location.to_string(),
        };
        self.location = Utf8PathBuf::from(format!("{base} schema {schema}"));
        self.schema = schema.to_owned();
        self
    }

    /// Where the snapshots go (created when the first is taken): the
    /// folder [`PostgresStore::snapshots_in`] names, or one of
    /// `.verchain/postgres/` named by the server's host and port, the
    /// database and the schema (`db.internal_5432.forms.public.1a2b3c4d`;
    /// characters a file name cannot hold become `_`, and the hash of the
    /// four, exactly, keeps two stores from ever sharing it). A store
    /// opened from a client is named by the name it was given and the
    /// schema (`forms.public`).
    pub fn snapshot_dir(&self) -> Utf8PathBuf {
        self.snapshot_dir.clone().unwrap_or_else(|| {
            let name = match &self.server {
                Some((hosts, ports)) => {
                    let hash = blake3::hash(
                        format!("{hosts}\n{ports}\n{}\n{}", self.database, self.schema).as_bytes(),
                    );
                    format!(
                        "{}_{}.{}.{}.{}",
                        file_safe(hosts),
                        file_safe(ports),
                        file_safe(&self.database),
                        file_safe(&self.schema),
                        &hash.to_hex()[..8]
                    )
                }
                None => self.former_folder_name(),
            };
            self.state_folder().join(name).join("snapshots")
        })
    }

    /// The folder snapshots went to before it was named by the server as
    /// well (`.verchain/postgres/<database>.<schema>/snapshots/`), where
    /// a snapshot taken then is still found by its id; `None` where the
    /// store's folder is the same or was given.
    pub(super) fn former_snapshot_dir(&self) -> Option<Utf8PathBuf> {
        (self.snapshot_dir.is_none() && self.server.is_some()).then(|| {
            (self.state_folder())
                .join(self.former_folder_name())
                .join("snapshots")
        })
    }

    fn state_folder(&self) -> Utf8PathBuf {
        (self.state_root.clone().unwrap_or_default())
            .join(STATE_DIR)
            .join("postgres")
    }

    fn former_folder_name(&self) -> String {
        format!("{}.{}", self.database, self.schema)
    }

    /// The snapshots go into `dir` instead of the default folder.
    pub fn snapshots_in(mut self, dir: impl Into<Utf8PathBuf>) -> Self {
        self.snapshot_dir = Some(dir.into());
        self
    }

    /// The snapshots go into `.verchain/postgres/<…>/snapshots/` (see
    /// [`PostgresStore::snapshot_dir`]) under `root` instead of under the
    /// current folder: one folder for the snapshots of several databases,
    /// each in its own.
    pub fn state_under(mut self, root: impl Into<Utf8PathBuf>) -> Self {
        self.state_root = Some(root.into());
        self
    }

    /// How long a step's statement may wait for a lock
    /// ([`DEFAULT_LOCK_TIMEOUT`] unless set; zero waits for ever).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How long one statement of a step may run
    /// ([`DEFAULT_STATEMENT_TIMEOUT`] unless set; zero for no limit).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// The schema the store migrates.
    pub fn schema_name(&self) -> &str {
        &self.schema
    }

    /// What messages name: the URL without its password, and the schema.
    pub fn location(&self) -> &Utf8Path {
        &self.location
    }

    /// The two keys of the session advisory lock a run holds,
    /// `pg_try_advisory_lock(namespace, key)`: the namespace is verchain's
    /// (`0x76636861`, "vcha"), the key the first 31 bits of the BLAKE3 of
    /// the schema's name, a newline and the chain's name. Another tool
    /// that must not run beside verchain can take the same lock.
    pub fn lock_key(&self, chain: &str) -> (i32, i32) {
        let hash = blake3::hash(format!("{}\n{chain}", self.schema).as_bytes());
        let bytes = hash.as_bytes();
        let key = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) & i32::MAX;
        (LOCK_NAMESPACE, key)
    }

    /// Opens the run's connection: a new one from the URL, or the client
    /// the store was opened from.
    pub(super) fn connect(&self) -> Result<Session, ErrorKind> {
        let (client, home) = match (&self.config, &self.client) {
            (Some(config), _) => {
                let mut config = config.clone();
                if config.get_connect_timeout().is_none() {
                    config.connect_timeout(CONNECT_TIMEOUT);
                }
                if config.get_application_name().is_none() {
                    config.application_name("verchain");
                }
                let client = config.connect(NoTls).map_err(|cause| PgError::Connect {
                    url: self.url(),
                    cause,
                })?;
                (client, None)
            }
            (None, Some(home)) => {
                let taken = home.lock().map(|mut slot| slot.take()).unwrap_or(None);
                let client = taken.ok_or_else(|| PgError::ClientInUse { url: self.url() })?;
                (client, Some(Arc::clone(home)))
            }
            (None, None) => return Err(PgError::ClientInUse { url: self.url() }.into()),
        };
        let mut session = Session {
            client: Some(client),
            home,
            lock: None,
        };
        let exists: bool = session
            .client()?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&self.schema],
            )
            .map_err(PgError::sql(format!("find schema `{}`", self.schema)))?
            .get(0);
        if !exists {
            return Err(PgError::NoSchema {
                url: self.url(),
                schema: self.schema.clone(),
            }
            .into());
        }
        Ok(session)
    }

    /// Whether a new connection can be made (a store opened from a URL).
    pub(super) fn reconnect(&self) -> Option<Result<Client, postgres::Error>> {
        let mut config = self.config.clone()?;
        config.connect_timeout(CONNECT_TIMEOUT);
        Some(config.connect(NoTls))
    }

    /// The database as messages name it, without the schema.
    pub(super) fn url(&self) -> String {
        match self.location.as_str().rsplit_once(" schema ") {
            Some((url, _)) => url.to_owned(),
            None => self.location.to_string(),
        }
    }
}

/// `text` with every character but ASCII letters, digits, `.`, `-` and
/// `_` as `_`, and without a leading `.`: a part of a folder's name.
fn file_safe(text: &str) -> String {
    let safe: String = text
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                true => c,
                false => '_',
            },
        )
        .collect();
    match safe.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None => safe,
    }
}

/// verchain's namespace of advisory locks: `vcha` as a number.
const LOCK_NAMESPACE: i32 = 0x7663_6861;

/// How long a connection attempt waits for the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection a run holds from its start to its end, and the lock on
/// it.
pub struct Session {
    client: Option<Client>,
    /// Where the client goes back to, for a store opened from a client.
    home: Option<Arc<Mutex<Option<Client>>>>,
    /// The advisory lock this session holds.
    pub(super) lock: Option<(i32, i32)>,
}

impl Session {
    /// The connection.
    pub(super) fn client(&mut self) -> Result<&mut Client, PgError> {
        self.client.as_mut().ok_or_else(|| PgError::ClientInUse {
            url: "the database".to_owned(),
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        // The lock is let go here, at once, even on a connection about to
        // end: the server releases a closed session's locks only once its
        // backend has noticed, and a run started right after (a dry run,
        // then the run) would find the lock still held.
        if let Some((namespace, key)) = self.lock {
            let _ = client.execute("SELECT pg_advisory_unlock($1, $2)", &[&namespace, &key]);
        }
        if let Some(home) = &self.home {
            let _ = client.batch_execute("RESET application_name");
            if let Ok(mut slot) = home.lock() {
                *slot = Some(client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example:5432/forms?sslmode=disable"),
            "postgres://app@db.example:5432/forms?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://app@db/forms"),
            "postgresql://app@db/forms"
        );
        assert_eq!(redact("postgres://db/forms"), "postgres://db/forms");
        assert_eq!(
            redact("host=/tmp dbname=forms password=s3cret user=app"),
            "host=/tmp dbname=forms password=… user=app"
        );
        let store = PostgresStore::new("postgres://app:s3cret@db/forms").unwrap();
        assert_eq!(store.location(), "postgres://app@db/forms schema public");
        let error = PostgresStore::new("postgres://app:s3cret@db:notaport/forms").unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    #[test]
    fn the_lock_key_depends_on_the_schema_and_the_chain() {
        let store = PostgresStore::new("postgres://db/forms").unwrap();
        let (namespace, key) = store.lock_key("forms");
        assert_eq!(namespace, 0x7663_6861);
        assert!(key >= 0);
        assert_eq!(store.lock_key("forms"), (namespace, key));
        assert_ne!(store.lock_key("other").1, key);
        let other = PostgresStore::new("postgres://db/forms")
            .unwrap()
            .schema("app");
        assert_ne!(other.lock_key("forms").1, key);
        assert_eq!(other.location(), "postgres://db/forms schema app");
        let dir = other.snapshot_dir();
        assert!(
            dir.as_str()
                .starts_with(".verchain/postgres/db_5432.forms.app."),
            "{dir}"
        );
        assert_eq!(
            other.former_snapshot_dir().unwrap(),
            ".verchain/postgres/forms.app/snapshots"
        );
        let elsewhere = PostgresStore::new("postgres://db2/forms").unwrap();
        assert_ne!(elsewhere.schema("app").snapshot_dir(), dir);
        let socket = PostgresStore::new("host=/run/pg port=5433 dbname=forms").unwrap();
        let name = socket.snapshot_dir();
        assert!(
            name.as_str()
                .starts_with(".verchain/postgres/_run_pg_5433.forms.public."),
            "{name}"
        );
        assert!(
            (other.state_under("/srv").snapshot_dir().as_str())
                .starts_with("/srv/.verchain/postgres/db_5432.forms.app."),
        );
    }
}
