//! Connection strings without their passwords, for every message, event
//! and line of output that names a store.
//!
//! Both forms libpq reads are taken apart rather than searched: a URI
//! (`postgres://user:password@host/db?password=…&sslmode=…`) loses the
//! password of its user and every `password` of its query; the key-value
//! form (`host=db password = 'it''s \' here' user=app`, spaces around `=`
//! allowed, a value bare or single-quoted with backslash escapes) has every
//! `password` value replaced by `…`. What cannot be read past a `password`
//! key (no `=`, an unterminated quote) is replaced whole.

/// `conn` without its passwords: the `:password` of a URI's user, each
/// `password` of its query or of the key-value form as `…`.
pub fn redact(conn: &str) -> String {
    match conn.find("://") {
        Some(scheme_end) => redact_uri(conn, scheme_end + 3),
        None => redact_key_value(conn),
    }
}

/// Whether `key` names a password (libpq's keys are lower case; any case
/// is taken here, to say too little rather than too much).
fn is_password(key: &str) -> bool {
    let key = percent_decoded(key.trim());
    key.eq_ignore_ascii_case("password")
}

fn redact_uri(uri: &str, after_scheme: usize) -> String {
    // The user's password runs from the first `:` of the user information
    // to the last `@` of the whole string (a password with an `@`, `/` or
    // `?` left unencoded included; an `@` in the query hides more than the
    // password, never less).
    let mut hidden = String::with_capacity(uri.len());
    let rest = &uri[after_scheme..];
    hidden.push_str(&uri[..after_scheme]);
    match rest.rfind('@') {
        Some(at) => {
            let user = &rest[..at];
            hidden.push_str(user.split_once(':').map_or(user, |(name, _)| name));
            hidden.push_str(&rest[at..]);
        }
        None => hidden.push_str(rest),
    }
    let (head, query) = match hidden[after_scheme..].find('?') {
        Some(q) => hidden.split_at(after_scheme + q),
        None => (hidden.as_str(), ""),
    };
    let mut out = head.to_owned();
    if let Some(params) = query.strip_prefix('?') {
        out.push('?');
        let shown: Vec<String> = params
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if is_password(key) => format!("{key}=…"),
                None if is_password(param) => "…".to_owned(),
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&shown.join("&"));
    }
    out
}

fn redact_key_value(conn: &str) -> String {
    let mut out = String::with_capacity(conn.len());
    let mut rest = conn;
    loop {
        let word = rest.trim_start();
        out.push_str(&rest[..rest.len() - word.len()]);
        if word.is_empty() {
            return out;
        }
        let key_end = word
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(word.len());
        let key = &word[..key_end];
        out.push_str(key);
        let after_key = &word[key_end..];
        let Some(after_eq) = after_key.trim_start().strip_prefix('=') else {
            if is_password(key) {
                // A password key that is not followed by `=`: what comes
                // after it may be its value.
                out.push_str(" …");
                return out;
            }
            rest = after_key;
            continue;
        };
        out.push_str(&after_key[..after_key.len() - after_key.trim_start().len()]);
        out.push('=');
        let value = after_eq.trim_start();
        out.push_str(&after_eq[..after_eq.len() - value.len()]);
        let end = value_end(value);
        match (is_password(key), end) {
            (true, Some(_)) => out.push('…'),
            (true, None) => {
                out.push('…');
                return out;
            }
            (false, Some(end)) => out.push_str(&value[..end]),
            (false, None) => {
                out.push_str(value);
                return out;
            }
        }
        rest = &value[end.unwrap_or(value.len())..];
    }
}

/// Where the value at the start of `value` ends: a single-quoted one after
/// its closing quote, a bare one at the first white space not escaped by a
/// backslash; `None` for a quote never closed.
fn value_end(value: &str) -> Option<usize> {
    let quoted = value.starts_with('\'');
    let mut chars = value.char_indices().skip(usize::from(quoted));
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '\'' if quoted => return Some(i + 1),
            c if !quoted && c.is_whitespace() => return Some(i),
            _ => {}
        }
    }
    (!quoted).then_some(value.len())
}

/// `%70assword` as `password`, for a key of a URI's query.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[track_caller]
    fn same(conn: &str, shown: &str) {
        assert_eq!(redact(conn), shown, "{conn}");
    }

    #[test]
    fn a_uri_loses_its_users_password_and_every_password_of_its_query() {
        same(
            "postgres://app:s3cret@db.example:5432/forms?sslmode=disable",
            "postgres://app@db.example:5432/forms?sslmode=disable",
        );
        same("postgresql://app@db/forms", "postgresql://app@db/forms");
        same("postgres://db/forms", "postgres://db/forms");
        same(
            "postgres://app@127.0.0.1:55432/p1?password=LEAKME",
            "postgres://app@127.0.0.1:55432/p1?password=…",
        );
        same(
            "postgres://app@h/db?sslmode=require&password=LEAK&application_name=x",
            "postgres://app@h/db?sslmode=require&password=…&application_name=x",
        );
        same(
            "postgres://h/db?password=a&PASSWORD=b&%70assword=c",
            "postgres://h/db?password=…&PASSWORD=…&%70assword=…",
        );
        same(
            "postgres://app:p@ss/w:rd@h1:1,h2:2/db?password",
            "postgres://app@h1:1,h2:2/db?…",
        );
        same("postgres://:only@h/db", "postgres://@h/db");
        same("postgres://app:secret@host/db", "postgres://app@host/db");
    }

    #[test]
    fn the_key_value_form_has_every_password_value_replaced() {
        same(
            "host=/tmp dbname=forms password=s3cret user=app",
            "host=/tmp dbname=forms password=… user=app",
        );
        same(
            "host=h password = LEAKME2 dbname=d",
            "host=h password = … dbname=d",
        );
        same("password='LEAK ME3' host=h", "password=… host=h");
        same(r"password='it\'s \\ LEAK' host=h", "password=… host=h");
        same(r"password=LE\ AK host=h", "password=… host=h");
        same("password=", "password=…");
        // libpq skips the white space after `=`: `dbname=d` is the password.
        same("host=h password= dbname=d", "host=h password= …");
        same("host=h password='never closed", "host=h password=…");
        same("host=h password LEAK", "host=h password …");
        same(
            "host=h\tpassword\t=\tLEAK\tuser=u",
            "host=h\tpassword\t=\t…\tuser=u",
        );
        same(
            "user='a b' password=x password=y",
            "user='a b' password=… password=…",
        );
        same("host='h h' dbname=d", "host='h h' dbname=d");
        same("", "");
    }

    #[test]
    fn no_password_survives_in_any_shape() {
        let secret = "Zq9SECRET";
        for conn in [
            format!("postgres://u:{secret}@h/d"),
            format!("postgres://u@h/d?password={secret}"),
            format!("postgres://u@h/d?a=1&password={secret}#x"),
            format!("password={secret}"),
            format!("password = {secret}"),
            format!("password='{secret} x'"),
            format!("password='x {secret}'"),
            format!(r"password='x\' {secret}'"),
            format!(r"password=x\ {secret}"),
            format!("password   {secret}"),
            format!("password='{secret}"),
            // A password with an unencoded `?`, `/` or `@`, and an `@` in
            // the query.
            format!("postgres://u:pa?{secret}@h/d"),
            format!("postgres://u:a/b?{secret}@h/d?sslmode=disable"),
            format!("postgres://u:{secret}@x@h/d"),
            format!("postgres://h/d?password={secret}&application_name=a@b"),
            format!("postgres://u:{secret}@h/d?application_name=a@b"),
        ] {
            let shown = redact(&conn);
            assert!(!shown.contains("SECRET"), "{conn} → {shown}");
        }
    }
}
