//! Which versions a step may join and which chains are complete.

use thiserror::Error;

/// Why a single step's `from`/`to` pair is not a valid step.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StepRuleError {
    /// `to == from`.
    #[error(
        "a step must change the version: `from = {from}, to = {to}` stays at {from}; \
         use `to = {next}`",
        next = u64::from(*from) + 1
    )]
    ZeroLength {
        /// The step's source version.
        from: u32,
        /// The step's target version.
        to: u32,
    },
    /// `to < from`.
    #[error(
        "a step must go forward: {from} → {to} goes back; write the forward step \
         `from = {to}, to = {next}` and name this one as its `down`",
        next = u64::from(*to) + 1
    )]
    Backwards {
        /// The step's source version.
        from: u32,
        /// The step's target version.
        to: u32,
    },
    /// `to > from + 1`.
    #[error(
        "a step must go from one version to the next: {from} → {to} skips {skipped}; \
         use `to = {next}` and add a step for each version after it",
        next = u64::from(*from) + 1,
        skipped = skipped(*from, *to)
    )]
    Skip {
        /// The step's source version.
        from: u32,
        /// The step's target version.
        to: u32,
    },
}

fn skipped(from: u32, to: u32) -> String {
    let first = u64::from(from) + 1;
    let last = u64::from(to) - 1;
    match last - first {
        0 => first.to_string(),
        1 => format!("{first} and {last}"),
        _ => format!("{first} to {last}"),
    }
}

/// Checks that a step goes from one version to the next one.
///
/// ```
/// use verchain_core::{check_step, StepRuleError};
/// assert!(check_step(1, 2).is_ok());
/// assert_eq!(check_step(1, 3), Err(StepRuleError::Skip { from: 1, to: 3 }));
/// ```
pub fn check_step(from: u32, to: u32) -> Result<(), StepRuleError> {
    if to == from {
        Err(StepRuleError::ZeroLength { from, to })
    } else if to < from {
        Err(StepRuleError::Backwards { from, to })
    } else if u64::from(to) != u64::from(from) + 1 {
        Err(StepRuleError::Skip { from, to })
    } else {
        Ok(())
    }
}

/// Why a chain declaration or a chain's list of steps is not a valid chain.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ChainRuleError {
    /// `current < base`.
    #[error(
        "migration chain `{chain}` ends before it starts: `current = {current}` is below \
         `base = {base}`"
    )]
    CurrentBelowBase {
        /// The chain's name.
        chain: String,
        /// The first version.
        base: u32,
        /// The declared current version.
        current: u32,
    },
    /// The chain spans more versions than verchain supports.
    #[error(
        "migration chain `{chain}` spans {span} versions ({base} to {current}); at most {max} \
         are supported",
        span = u64::from(*current) - u64::from(*base) + 1,
        max = MAX_VERSIONS
    )]
    TooLong {
        /// The chain's name.
        chain: String,
        /// The first version.
        base: u32,
        /// The declared current version.
        current: u32,
    },
    /// One step is not a valid step.
    #[error("migration chain `{chain}`, step `{step}`: {source}")]
    Step {
        /// The chain's name.
        chain: String,
        /// The step's id.
        step: String,
        /// What is wrong with it.
        source: StepRuleError,
    },
    /// Nothing migrates to a version between base and current.
    #[error("migration chain `{chain}` has a gap: nothing migrates to version {version}")]
    Gap {
        /// The chain's name.
        chain: String,
        /// The version no step reaches.
        version: u32,
    },
    /// Two steps leave the same version.
    #[error(
        "migration chain `{chain}` forks at version {version}: both `{first}` and `{second}` \
         leave it"
    )]
    Fork {
        /// The chain's name.
        chain: String,
        /// The version both steps leave.
        version: u32,
        /// The first step's id.
        first: String,
        /// The second step's id.
        second: String,
    },
    /// A step leaves a version outside `base..current`.
    #[error(
        "migration chain `{chain}`: step `{step}` ({from} → {to}) is outside the chain's \
         versions {base} to {current}"
    )]
    OutOfRange {
        /// The chain's name.
        chain: String,
        /// The step's id.
        step: String,
        /// The step's source version.
        from: u32,
        /// The step's target version.
        to: u32,
        /// The first version.
        base: u32,
        /// The declared current version.
        current: u32,
    },
}

/// The most versions a chain may span; keeps generated code small.
pub const MAX_VERSIONS: u64 = 10_000;

/// Checks a chain declaration's `base` and `current` on their own.
pub fn check_chain_bounds(chain: &str, base: u32, current: u32) -> Result<(), ChainRuleError> {
    if current < base {
        return Err(ChainRuleError::CurrentBelowBase {
            chain: chain.to_owned(),
            base,
            current,
        });
    }
    if u64::from(current) - u64::from(base) + 1 > MAX_VERSIONS {
        return Err(ChainRuleError::TooLong {
            chain: chain.to_owned(),
            base,
            current,
        });
    }
    Ok(())
}

/// Checks that `steps` (id, from, to) form exactly one path from `base` to
/// `current`, one step per version, in order.
///
/// The compiler already enforces this for chains built with the macros; the
/// runtime checks it again for chains assembled by hand.
///
/// ```
/// use verchain_core::{check_chain, ChainRuleError};
/// assert!(check_chain("Notes", 1, 3, [("a", 1, 2), ("b", 2, 3)]).is_ok());
/// let gap = check_chain("Notes", 1, 3, [("a", 1, 2)]).unwrap_err();
/// assert_eq!(gap.to_string(), "migration chain `Notes` has a gap: nothing migrates to version 3");
/// ```
pub fn check_chain<'a>(
    chain: &str,
    base: u32,
    current: u32,
    steps: impl IntoIterator<Item = (&'a str, u32, u32)>,
) -> Result<(), ChainRuleError> {
    check_chain_bounds(chain, base, current)?;
    let mut leaving: Vec<Option<&str>> = vec![None; (current - base) as usize];
    for (step, from, to) in steps {
        check_step(from, to).map_err(|source| ChainRuleError::Step {
            chain: chain.to_owned(),
            step: step.to_owned(),
            source,
        })?;
        if from < base || to > current {
            return Err(ChainRuleError::OutOfRange {
                chain: chain.to_owned(),
                step: step.to_owned(),
                from,
                to,
                base,
                current,
            });
        }
        let slot = &mut leaving[(from - base) as usize];
        if let Some(first) = slot {
            return Err(ChainRuleError::Fork {
                chain: chain.to_owned(),
                version: from,
                first: (*first).to_owned(),
                second: step.to_owned(),
            });
        }
        *slot = Some(step);
    }
    match leaving.iter().position(Option::is_none) {
        Some(missing) => Err(ChainRuleError::Gap {
            chain: chain.to_owned(),
            version: base + missing as u32 + 1,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_messages_name_both_versions_and_the_fix() {
        assert_eq!(
            check_step(1, 3).unwrap_err().to_string(),
            "a step must go from one version to the next: 1 → 3 skips 2; use `to = 2` and add a \
             step for each version after it"
        );
        assert_eq!(
            check_step(1, 5).unwrap_err(),
            StepRuleError::Skip { from: 1, to: 5 }
        );
        assert!(
            check_step(1, 5)
                .unwrap_err()
                .to_string()
                .contains("skips 2 to 4")
        );
        assert!(
            check_step(1, 4)
                .unwrap_err()
                .to_string()
                .contains("skips 2 and 3")
        );
        assert_eq!(
            check_step(3, 2).unwrap_err(),
            StepRuleError::Backwards { from: 3, to: 2 }
        );
        assert_eq!(
            check_step(2, 2).unwrap_err(),
            StepRuleError::ZeroLength { from: 2, to: 2 }
        );
    }

    #[test]
    fn step_at_the_top_of_u32_does_not_overflow() {
        assert!(check_step(u32::MAX - 1, u32::MAX).is_ok());
        assert!(matches!(
            check_step(u32::MAX, u32::MAX),
            Err(StepRuleError::ZeroLength { .. })
        ));
    }

    #[test]
    fn chain_rules() {
        assert!(check_chain("C", 1, 1, []).is_ok());
        assert!(check_chain("C", 2, 4, [("b", 3, 4), ("a", 2, 3)]).is_ok());
        assert_eq!(
            check_chain("C", 1, 3, [("a", 1, 2), ("b", 1, 2)]),
            Err(ChainRuleError::Fork {
                chain: "C".into(),
                version: 1,
                first: "a".into(),
                second: "b".into()
            })
        );
        assert_eq!(
            check_chain("C", 1, 3, [("b", 2, 3)]),
            Err(ChainRuleError::Gap {
                chain: "C".into(),
                version: 2
            })
        );
        assert!(matches!(
            check_chain("C", 1, 3, [("a", 1, 2), ("b", 2, 3), ("c", 3, 4)]),
            Err(ChainRuleError::OutOfRange { from: 3, to: 4, .. })
        ));
        assert!(matches!(
            check_chain("C", 3, 1, []),
            Err(ChainRuleError::CurrentBelowBase { .. })
        ));
        assert!(matches!(
            check_chain("C", 1, 20_000, []),
            Err(ChainRuleError::TooLong { .. })
        ));
    }
}
