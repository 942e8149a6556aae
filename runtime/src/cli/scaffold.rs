//! `new NAME`: the next step of a chain, written into the file that declares
//! the chain, with the chain's `current` raised to match.

use camino::Utf8Path;

use super::workspace::Workspace;
use super::{ChainEntry, EXIT_FAILED, EXIT_USAGE};

/// Rust's keywords, which cannot name a function.
const KEYWORDS: &[&str] = &[
    "_", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
    "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
    "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// `source` (the file declaring chain type `type_name`, whose current
/// version is `current`) with `current` raised by one and an empty in-place
/// step `step` from `current` to `current + 1`, taking `parameter` (its
/// name and type), added before the file's tests module or at its end.
pub fn scaffold(
    source: &str,
    type_name: &str,
    step: &str,
    current: u32,
    parameter: (&str, &str),
) -> Result<String, String> {
    let is_ident = step
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && step.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_ident {
        return Err(format!(
            "`{step}` is not a function name: use letters, digits and `_`, not starting with a \
             digit"
        ));
    }
    if KEYWORDS.contains(&step) {
        return Err(format!(
            "`{step}` is a Rust keyword and cannot name a function"
        ));
    }
    if source.contains(&format!("fn {step}(")) {
        return Err(format!("the file already has a function `{step}`"));
    }
    let next = current
        .checked_add(1)
        .ok_or_else(|| format!("version {current} is the last one a chain can have"))?;
    // The `#[chain(...)]` attribute closest before `struct <type_name>`.
    let declaration = [
        format!("struct {type_name};"),
        format!("struct {type_name} "),
    ]
    .iter()
    .filter_map(|d| source.find(d.as_str()))
    .min()
    .ok_or_else(|| format!("cannot find `struct {type_name}` in the file"))?;
    let attr = source[..declaration]
        .rfind("#[chain(")
        .ok_or_else(|| format!("cannot find the `#[chain(...)]` of `{type_name}`"))?;
    let end = attr
        + source[attr..declaration]
            .find(")]")
            .ok_or_else(|| "the `#[chain(...)]` attribute is not closed".to_owned())?;
    let args = &source[attr..end];
    let want = format!("current = {current}");
    let at = args
        .match_indices(&want)
        .find(|(i, _)| {
            let after = args[i + want.len()..].chars().next();
            !after.is_some_and(|c| c.is_ascii_digit())
        })
        .map(|(i, _)| attr + i)
        .ok_or_else(|| format!("cannot find `{want}` in the `#[chain(...)]` of `{type_name}`"))?;
    let mut out = String::with_capacity(source.len() + 400);
    out.push_str(&source[..at]);
    out.push_str(&format!("current = {next}"));
    out.push_str(&source[at + want.len()..]);
    let (name, ty) = parameter;
    let step_text = format!(
        "/// Describe what `{step}` changes: this line is the step's description.\n\
         #[::verchain::migration(chain = {type_name}, from = {current}, to = {next})]\n\
         pub fn {step}({name}: {ty}) -> Result<(), ::verchain::BoxError> {{\n\
         \x20   let _ = {name};\n\
         \x20   Ok(())\n\
         }}\n"
    );
    // Before the tests module, where the file has one at its top level.
    match out.find("\n#[cfg(test)]\nmod ") {
        Some(tests) => out.insert_str(tests + 1, &format!("{step_text}\n")),
        None => {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
            out.push_str(&step_text);
        }
    }
    Ok(out)
}

/// `new NAME`: writes the next step into the file declaring the chain.
pub(super) fn new_step(
    chain: &dyn ChainEntry,
    name: &str,
    workspace: &Workspace,
) -> Result<(), u8> {
    let (file, type_name, current) = chain.source();
    // `file!()` is relative to the workspace root; outside a workspace, try
    // the current folder and its parents.
    let found = workspace
        .root
        .as_ref()
        .map(|root| root.join(file).into_std_path_buf())
        .into_iter()
        .chain(std::env::current_dir().ok().into_iter().flat_map(|cwd| {
            cwd.ancestors()
                .map(|dir| dir.join(file))
                .collect::<Vec<_>>()
        }))
        .find(|path| !file.is_empty() && path.is_file());
    let Some(path) = found else {
        errln!(
            "error: cannot find `{file}`, the file that declares chain `{}`; run this from its \
             workspace",
            chain.name()
        );
        return Err(EXIT_USAGE);
    };
    let result = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
        .and_then(|source| scaffold(&source, type_name, name, current, chain.step_parameter()))
        .and_then(|text| {
            let path = Utf8Path::from_path(&path).ok_or("the path is not UTF-8")?;
            crate::fsio::write_atomic(path, text.as_bytes())
                .map_err(|e| format!("cannot write {path}: {e}"))
        });
    match result {
        Ok(()) => {
            outln!(
                "added step `{name}` (v{current} → v{}) to {file} and raised `current` of `{}` \
                 to {}; fill in its body, then run `migrate --dry-run`",
                current + 1,
                chain.name(),
                current + 1
            );
            Ok(())
        }
        Err(e) => {
            errln!("error: chain `{}`: {e}", chain.name());
            Err(EXIT_FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scaffold;

    const SOURCE: &str =
        "#[derive(Chain)]\n#[chain(base = 1, current = 3, name = \"n\")]\npub struct Notes;\n";

    const DOCUMENT: (&str, &str) = ("doc", "&mut ::verchain::Document");

    #[test]
    fn raises_current_and_appends_the_step() {
        let out = scaffold(SOURCE, "Notes", "add_priority", 3, DOCUMENT).unwrap();
        assert!(
            out.contains("#[chain(base = 1, current = 4, name = \"n\")]"),
            "{out}"
        );
        assert!(out.contains("chain = Notes, from = 3, to = 4)]"), "{out}");
        assert!(
            out.contains("pub fn add_priority(doc: &mut ::verchain::Document)"),
            "{out}"
        );
    }

    #[test]
    fn refuses_what_it_cannot_do_safely() {
        assert!(scaffold(SOURCE, "Notes", "2fast", 3, DOCUMENT).is_err());
        assert!(
            scaffold(SOURCE, "Other", "x", 3, DOCUMENT)
                .unwrap_err()
                .contains("struct Other")
        );
        assert!(
            scaffold(SOURCE, "Notes", "x", 30, DOCUMENT)
                .unwrap_err()
                .contains("current = 30")
        );
        let taken = format!("{SOURCE}fn x(d: &mut Document) {{}}\n");
        assert!(
            scaffold(&taken, "Notes", "x", 3, DOCUMENT)
                .unwrap_err()
                .contains("already")
        );
    }

    #[test]
    fn a_keyword_is_no_step_name() {
        for keyword in ["fn", "match", "self", "async", "_"] {
            let refused = scaffold(SOURCE, "Notes", keyword, 3, DOCUMENT).unwrap_err();
            assert!(refused.contains("keyword"), "{keyword}: {refused}");
        }
        let refused = scaffold(SOURCE, "Notes", "123", 3, DOCUMENT).unwrap_err();
        assert!(refused.contains("not starting with a digit"), "{refused}");
    }

    #[test]
    fn the_step_takes_the_chains_record_and_goes_before_the_tests() {
        let source = format!("{SOURCE}\nfn helper() {{}}\n\n#[cfg(test)]\nmod tests {{}}\n");
        let log = ("record", "&mut ::verchain::LogRecord");
        let out = scaffold(&source, "Notes", "add_host", 3, log).unwrap();
        assert!(
            out.contains("pub fn add_host(record: &mut ::verchain::LogRecord)"),
            "{out}"
        );
        assert!(out.contains("let _ = record;"), "{out}");
        let step = out.find("pub fn add_host").unwrap();
        assert!(out.find("fn helper").unwrap() < step, "{out}");
        assert!(step < out.find("#[cfg(test)]").unwrap(), "{out}");
    }
}
