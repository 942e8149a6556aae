//! An application's settings file, `app.toml`, upgraded across releases.
//! The user's comments and layout survive every step.
//!
//! | version | change |
//! |---|---|
//! | 1 | `colour_scheme`, `[server] host` and `port` |
//! | 2 | `colour_scheme` renamed `theme` |
//! | 3 | `[server] host` and `port` joined into `listen = "host:port"` |
//! | 4 | a `[cache]` table with defaults where missing |

use serde_json::{Value, json};
use verchain::{BoxError, Chain, Document, FieldExists, migration};

/// The settings of the application.
#[derive(Chain)]
#[chain(base = 1, current = 4, name = "config", version_key = "config_version")]
pub struct Config;

/// Renames `colour_scheme` to `theme`.
#[migration(chain = Config, from = 1, to = 2, down = theme_back_to_colour_scheme)]
pub fn rename_colour_scheme(settings: &mut Document) -> Result<(), FieldExists> {
    settings.rename("colour_scheme", "theme")?;
    Ok(())
}

/// Renames `theme` back to `colour_scheme`.
pub fn theme_back_to_colour_scheme(settings: &mut Document) -> Result<(), FieldExists> {
    settings.rename("theme", "colour_scheme")?;
    Ok(())
}

/// Joins `[server] host` and `port` into `[server] listen = "host:port"`.
///
/// Breaking: a server of an older release reads `host` and `port`, and
/// finds neither; it restarts to read `listen`.
#[migration(chain = Config, from = 2, to = 3, breaking, requires_restart = ["api"])]
pub fn join_listen_address(settings: &mut Document) -> Result<(), BoxError> {
    let Some(server) = settings.fields_mut().get_mut("server") else {
        return Ok(());
    };
    let server = server.as_object_mut().ok_or("`server` must be a table")?;
    let host = server.shift_remove("host");
    let port = server.shift_remove("port");
    let listen = match (host, port) {
        (None, None) => return Ok(()),
        (host, port) => {
            let host = host.as_ref().and_then(Value::as_str).unwrap_or("127.0.0.1");
            let port = match port {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) => s,
                None => "8080".to_owned(),
                Some(other) => return Err(format!("`server.port` is {other}, not a port").into()),
            };
            format!("{host}:{port}")
        }
    };
    server.insert("listen".to_owned(), listen.into());
    Ok(())
}

/// Adds a `[cache]` table, enabled with 64 MB, where there is none.
#[migration(chain = Config, from = 3, to = 4)]
pub fn add_cache_table(settings: &mut Document) {
    settings.set_default("cache", json!({ "enabled": true, "size_mb": 64 }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_address_joins_host_and_port() {
        let Value::Object(fields) =
            json!({"server": {"host": "0.0.0.0", "port": 9000, "tls": false}})
        else {
            unreachable!()
        };
        let mut doc = Document::new("app.toml", fields);
        join_listen_address(&mut doc).unwrap();
        assert_eq!(
            doc.get("server"),
            Some(&json!({"tls": false, "listen": "0.0.0.0:9000"}))
        );
    }

    #[test]
    fn a_port_that_is_not_a_port_is_an_error() {
        let Value::Object(fields) = json!({"server": {"port": [1]}}) else {
            unreachable!()
        };
        let mut doc = Document::new("app.toml", fields);
        let err = join_listen_address(&mut doc).unwrap_err();
        assert_eq!(err.to_string(), "`server.port` is [1], not a port");
    }
}
