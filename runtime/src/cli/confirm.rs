//! Asking the operator before what cannot be undone or what old readers
//! cannot read: on a terminal the operator answers, `--yes` answers for a
//! script, and elsewhere the command is refused, changing nothing.

use std::io::IsTerminal;

use super::commands::usage;
use crate::run::Confirm;

/// Asks on the terminal before something that cannot be undone; `--yes`
/// answers for scripts.
pub(super) fn confirm(question: &str, yes: bool) -> Result<(), u8> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(&format!(
            "{question}\nthis needs confirming: pass --yes when not at a terminal"
        )));
    }
    errout!("{question} [y/N] ");
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(usage("not confirmed; nothing was changed"))
    }
}

/// Asks before a plan with `breaking` steps runs: `--yes` answers for
/// scripts; at a terminal the operator answers; elsewhere the run is
/// refused, changing nothing.
pub(super) fn confirm_breaking(yes: bool) -> Confirm {
    Confirm::new(move |plan| {
        if yes {
            return true;
        }
        if !std::io::stdin().is_terminal() {
            errln!("the plan has breaking steps: pass --yes when not at a terminal");
            return false;
        }
        let steps: Vec<String> = plan
            .iter()
            .filter(|s| s.breaking)
            .map(|s| format!("`{}` (v{} → v{})", s.id, s.from, s.to))
            .collect();
        errout!(
            "the plan has breaking steps: {}; readers of the old version cannot read the new \
             one. Run it? [y/N] ",
            steps.join(", ")
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
    })
}
