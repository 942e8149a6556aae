//! `new NAME`: the next step of a chain, written into the file that declares
//! the chain, with the chain's `current` raised to match.

/// `source` (the file declaring chain type `type_name`, whose current
/// version is `current`) with `current` raised by one and an empty in-place
/// step `step` from `current` to `current + 1` appended.
pub fn scaffold(source: &str, type_name: &str, step: &str, current: u32) -> Result<String, String> {
    let is_ident = step
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && step.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_ident {
        return Err(format!(
            "`{step}` is not a function name: use letters, digits and `_`"
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
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "\n/// Describe what `{step}` changes: this line is the step's description.\n\
         #[::verchain::migration(chain = {type_name}, from = {current}, to = {next})]\n\
         pub fn {step}(doc: &mut ::verchain::Document) -> Result<(), ::verchain::BoxError> {{\n\
         \x20   let _ = doc;\n\
         \x20   Ok(())\n\
         }}\n"
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::scaffold;

    const SOURCE: &str =
        "#[derive(Chain)]\n#[chain(base = 1, current = 3, name = \"n\")]\npub struct Notes;\n";

    #[test]
    fn raises_current_and_appends_the_step() {
        let out = scaffold(SOURCE, "Notes", "add_priority", 3).unwrap();
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
        assert!(scaffold(SOURCE, "Notes", "2fast", 3).is_err());
        assert!(
            scaffold(SOURCE, "Other", "x", 3)
                .unwrap_err()
                .contains("struct Other")
        );
        assert!(
            scaffold(SOURCE, "Notes", "x", 30)
                .unwrap_err()
                .contains("current = 30")
        );
        let taken = format!("{SOURCE}fn x(d: &mut Document) {{}}\n");
        assert!(
            scaffold(&taken, "Notes", "x", 3)
                .unwrap_err()
                .contains("already")
        );
    }
}
