//! A throw-away PostgreSQL server for tests, with no manual set-up: a
//! cluster made with `initdb` in a temporary folder and started with
//! `pg_ctl`, listening only on a Unix socket in that folder (no TCP), with
//! `fsync=off`. As root it runs as the `postgres` user (`initdb` refuses
//! root), through `runuser`. `VERCHAIN_TEST_POSTGRES_URL`, when set, names
//! a server to use instead.
//!
//! One cluster serves a whole test binary ([`shared`]); each test works in
//! a database of its own ([`Server::database`]). The cluster is stopped
//! (`pg_ctl stop -m immediate`) and its folder removed when the [`Cluster`]
//! is dropped, and, for the shared one that no one drops, by a watchdog
//! process that waits for the test binary to exit, however it exits.
//!
//! Where no server can be had, [`shared`] fails the test under CI (`CI`
//! set) and elsewhere says once, on stderr, that the PostgreSQL tests of
//! the binary did not run and why.
//!
//! This file is also compiled into `xtask` (for the demo's server), so it
//! depends only on the standard library.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Where to look for `initdb` and `pg_ctl` besides `PATH`.
const PG_LIB: &str = "/usr/lib/postgresql";

/// A server the tests may use: a cluster of their own, or the one
/// `VERCHAIN_TEST_POSTGRES_URL` names.
pub enum Server {
    /// A cluster started for this process.
    Cluster(Cluster),
    /// A server given by URL (of one of its databases).
    Url(String),
}

/// A cluster in a folder of its own, stopped and removed when dropped.
pub struct Cluster {
    /// The folder that holds the cluster's data, its socket and its log.
    root: PathBuf,
    bin: PathBuf,
    /// Whether the server runs as the `postgres` user (this process is root).
    as_postgres: bool,
    /// Whether the cluster stays when dropped (the demo's), rather than
    /// being stopped and removed.
    kept: bool,
}

impl Cluster {
    /// Makes a cluster with `initdb` in a new folder under `parent` (the
    /// system's temporary folder when `None`) and starts it.
    pub fn start_in(parent: Option<&Path>) -> Result<Cluster, String> {
        let bin = bin_dir().ok_or_else(|| {
            format!("no `initdb` in PATH or in {PG_LIB}/*/bin (Debian: apt-get install postgresql)")
        })?;
        let as_postgres = is_root();
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        fs::create_dir_all(&parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
        let root = unique_dir(&parent)?;
        let cluster = Cluster {
            root,
            bin,
            as_postgres,
            kept: false,
        };
        cluster.watch(std::process::id());
        if as_postgres {
            cluster.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&cluster.root),
            )?;
        }
        cluster.init()?;
        cluster.start()?;
        Ok(cluster)
    }

    /// Makes a cluster in a new folder whose data stays at `root/data`, so
    /// that it can be started again by [`Cluster::reopen`] (the demo's): it
    /// is kept when dropped, and stopped by whoever started it.
    pub fn create_at(root: &Path) -> Result<Cluster, String> {
        let bin = bin_dir().ok_or_else(|| {
            format!("no `initdb` in PATH or in {PG_LIB}/*/bin (Debian: apt-get install postgresql)")
        })?;
        fs::create_dir_all(root).map_err(|e| format!("create {}: {e}", root.display()))?;
        let cluster = Cluster {
            root: root.to_owned(),
            bin,
            as_postgres: is_root(),
            kept: true,
        };
        if cluster.as_postgres {
            cluster.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(root),
            )?;
        }
        cluster.init()?;
        Ok(cluster)
    }

    /// The cluster whose data is at `root/data`, made before by
    /// [`Cluster::create_at`]; not started.
    pub fn reopen(root: &Path) -> Result<Cluster, String> {
        let bin = bin_dir().ok_or("no `initdb` in PATH or in /usr/lib/postgresql/*/bin")?;
        Ok(Cluster {
            root: root.to_owned(),
            bin,
            as_postgres: is_root(),
            kept: true,
        })
    }

    /// The cluster's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The folder of the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// The URL of database `db`, as the superuser `postgres`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@{}/{db}",
            percent_encode(&self.socket_dir().to_string_lossy())
        )
    }

    /// A command of the server's tools, run as the server's user.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, command: &mut Command) -> Result<(), String> {
        let out = command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {command:?}: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{command:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    fn init(&self) -> Result<(), String> {
        self.run(
            self.tool("initdb")
                .arg("-D")
                .arg(self.data())
                .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
                .args(["--locale=C", "--no-instructions"]),
        )?;
        // A role that must give its password, for the tests of a wrong one;
        // every other local connection is trusted.
        let hba = self.data().join("pg_hba.conf");
        let rules = "local all verchain_password scram-sha-256\nlocal all all trust\n";
        fs::write(&hba, rules).map_err(|e| format!("write {}: {e}", hba.display()))?;
        if self.as_postgres {
            self.run(Command::new("chown").args(["postgres:postgres"]).arg(&hba))?;
        }
        Ok(())
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let options = format!(
            "-c listen_addresses='' -k {} -c fsync=off -c full_page_writes=off \
             -c max_connections=60",
            self.socket_dir().display()
        );
        self.run(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.root.join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"])
                .stdout(Stdio::null()),
        )
    }

    /// Stops the server at once, as a crash would (`-m immediate`); the next
    /// start recovers from the write-ahead log.
    pub fn stop_immediate(&self) -> Result<(), String> {
        self.run(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-w", "-m", "immediate", "stop"])
                .stdout(Stdio::null()),
        )
    }

    /// Stops the server cleanly (`-m fast`).
    pub fn stop(&self) -> Result<(), String> {
        self.run(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-w", "-m", "fast", "stop"])
                .stdout(Stdio::null()),
        )
    }

    /// Whether the server is running.
    pub fn running(&self) -> bool {
        self.tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("status")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts a process that waits for process `pid` to exit, however it
    /// exits, then stops the server and removes its folder: no server
    /// outlives the tests, even when no one drops the cluster.
    fn watch(&self, pid: u32) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = if self.as_postgres {
            format!("runuser -u postgres -- {}", pg_ctl.display())
        } else {
            pg_ctl.display().to_string()
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; \
             {stop} -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{root}'",
            data = self.data().display(),
            root = self.root.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        if self.running() {
            let _ = self.stop_immediate();
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

impl Server {
    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        match self {
            Server::Cluster(cluster) => cluster.url(db),
            Server::Url(url) => with_database(url, db),
        }
    }

    /// A new, empty database `db` (dropped first if a test before left
    /// one); returns its URL.
    pub fn database(&self, db: &str) -> String {
        let admin = self.url("postgres");
        let mut client = verchain::postgres::postgres::Client::connect(
            &admin,
            verchain::postgres::postgres::NoTls,
        )
        .unwrap_or_else(|e| panic!("cannot connect to {admin}: {e}"));
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{db}\""),
        ] {
            client
                .batch_execute(&sql)
                .unwrap_or_else(|e| panic!("cannot create database {db}: {e:?}"));
        }
        self.url(db)
    }

    /// The cluster, where this process started one.
    pub fn cluster(&self) -> Option<&Cluster> {
        match self {
            Server::Cluster(cluster) => Some(cluster),
            Server::Url(_) => None,
        }
    }
}

/// The server this test binary shares, started on first use; `None`
/// (after saying once why) where none can be had outside CI. Under CI
/// (`CI` set), a server that cannot be had fails the test.
pub fn shared() -> Option<&'static Server> {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    static SAID: std::sync::Once = std::sync::Once::new();
    let server = SERVER.get_or_init(|| match std::env::var("VERCHAIN_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Ok(Server::Url(url)),
        _ => Cluster::start_in(None).map(Server::Cluster),
    });
    match server {
        Ok(server) => Some(server),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("the PostgreSQL tests need a server and none could be started: {why}")
        }
        Err(why) => {
            SAID.call_once(|| {
                let binary = std::env::args().next().unwrap_or_default();
                let name = Path::new(&binary)
                    .file_name()
                    .and_then(OsStr::to_str)
                    .unwrap_or("this test binary");
                eprintln!(
                    "{name}: the PostgreSQL tests did not run: {why}; set \
                     VERCHAIN_TEST_POSTGRES_URL to use a server of your own"
                );
            });
            None
        }
    }
}

/// `bin` folder holding `initdb` and `pg_ctl`: from `PATH`, else the newest
/// of `/usr/lib/postgresql/*/bin`.
pub fn bin_dir() -> Option<PathBuf> {
    let in_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    if let Some(dir) = in_path {
        // A link in PATH (Debian's `/usr/local/bin/initdb`) stands for the
        // folder it points into, where the other tools are.
        return Some(
            fs::canonicalize(dir.join("initdb"))
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or(dir),
        );
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(PG_LIB)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A new folder under `parent` with a name no other process uses.
fn unique_dir(parent: &Path) -> Result<PathBuf, String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("verchain-pg-{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("create {}: {e}", dir.display())),
        }
    }
}

/// `text` with every byte but letters, digits and `-._~` percent-encoded,
/// as a URL's host may hold a socket folder.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `url` with its database replaced by `db` (the path after the host).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{db}?{query}"),
        None => format!("{base}/{db}"),
    }
}
