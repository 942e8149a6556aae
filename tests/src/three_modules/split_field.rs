//! Step 3 → 4, typed.

use serde::{Deserialize, Serialize};
use verchain::migration;

use super::Settings;

/// The fields step 3 → 4 reads.
#[derive(Deserialize)]
pub struct V3 {
    /// `"host:port"`.
    pub server: String,
}

/// The fields step 3 → 4 writes.
#[derive(Serialize)]
pub struct V4 {
    /// The host part.
    pub host: String,
    /// The port part.
    pub port: u16,
}

/// Splits `server` into `host` and `port`.
#[migration(chain = Settings, from = 3, to = 4)]
pub fn split_server(old: V3) -> Result<V4, String> {
    let (host, port) = old
        .server
        .rsplit_once(':')
        .ok_or_else(|| format!("`server` is {:?}, not host:port", old.server))?;
    let port = port.parse().map_err(|e| format!("port {port:?}: {e}"))?;
    Ok(V4 {
        host: host.to_owned(),
        port,
    })
}
