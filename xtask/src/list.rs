//! `cargo xtask list`: the example chains as tables.

use anyhow::{Result, bail};
use notes_example::Notes;
use verchain::{Chain, checked_steps};

/// Prints every example chain, or only the one named by `--chain NAME`.
pub fn run(args: &[String]) -> Result<()> {
    let only = match args {
        [] => None,
        [flag, name] if flag == "--chain" => Some(name.as_str()),
        _ => bail!("usage: cargo xtask list [--chain NAME]"),
    };
    let mut shown = 0;
    if only.is_none_or(|name| name.eq_ignore_ascii_case(Notes::NAME)) {
        print!("{}", table::<Notes>()?);
        shown += 1;
    }
    if shown == 0 {
        bail!(
            "no chain named `{}`; chains: {}",
            only.unwrap_or_default(),
            Notes::NAME
        );
    }
    Ok(())
}

/// One chain as a table: a header line, then one row per step.
fn table<C: Chain>() -> Result<String> {
    let steps = checked_steps::<C>()?;
    let mut out = format!(
        "chain `{}`: versions {} to {}, {} step{}\n",
        C::NAME,
        C::BASE,
        C::CURRENT,
        steps.len(),
        if steps.len() == 1 { "" } else { "s" }
    );
    let id_width = steps.iter().map(|s| s.id().len()).max().unwrap_or(0).max(4);
    out.push_str(&format!(
        "  {:<id_width$}  {:<7}  {:<10}  {:<22}  {}\n",
        "step", "version", "reversible", "checksum", "description"
    ));
    for step in &steps {
        let summary = step.description().lines().next().unwrap_or("");
        let checksum = step.checksum();
        let short = checksum.get(..22).unwrap_or(checksum);
        out.push_str(&format!(
            "  {:<id_width$}  {:<7}  {:<10}  {:<22}  {}\n",
            step.id(),
            format!("{} → {}", step.from(), step.to()),
            if step.is_reversible() { "yes" } else { "no" },
            short,
            summary
        ));
    }
    Ok(out)
}
