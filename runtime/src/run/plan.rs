//! A run's plan, the same for every kind of store: which steps run, in
//! which direction, and the checks on the version asked for.

use camino::Utf8Path;

use super::context::ChainInfo;
use super::error::ErrorKind;
use super::report::PlannedStep;
use super::store::{Detected, Item};
use crate::chain::{Record, Step, StepMeta};

/// One step as a run applies it, up or down.
pub struct Move<'a, R: Record> {
    pub meta: &'a StepMeta,
    pub from: u32,
    pub to: u32,
    pub body: &'a R::Body,
    pub verify: Option<&'a R::Verify>,
}

// Derived `Clone` would ask `R: Clone`; a move only borrows.
impl<R: Record> Clone for Move<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R: Record> Copy for Move<'_, R> {}

impl<'a, R: Record> Move<'a, R> {
    /// `step` forward, with its `verify`.
    pub fn up(step: &'a Step<R>) -> Self {
        Move {
            meta: step.meta(),
            from: step.from(),
            to: step.to(),
            body: step.up(),
            verify: step.verify(),
        }
    }

    /// `step` backward, with its `down` body; a step without one cannot be
    /// undone.
    pub fn down(step: &'a Step<R>) -> Result<Self, ErrorKind> {
        let body = step.down().ok_or(ErrorKind::Irreversible {
            step: step.id(),
            from: step.from(),
            to: step.to(),
        })?;
        Ok(Move {
            meta: step.meta(),
            from: step.to(),
            to: step.from(),
            body,
            verify: None,
        })
    }

    /// Whether the move goes back to an older version.
    pub fn is_down(&self) -> bool {
        self.from > self.to
    }

    /// The move as a report lists it.
    pub fn planned(&self) -> PlannedStep {
        PlannedStep::of(self.meta, self.from, self.to)
    }
}

/// The plan of a forward run to `target`: the `up` steps from the oldest
/// record's version. Refused when `target` is outside the chain, or below
/// a record's version or the store's `stamp` (at `location`).
pub(crate) fn forward<'s, R: Record, I: Item>(
    chain: &ChainInfo<R>,
    steps: &'s [Step<R>],
    detected: &Detected<I>,
    stamp: Option<u32>,
    location: &Utf8Path,
    target: u32,
) -> Result<Vec<Move<'s, R>>, ErrorKind> {
    chain.check_target(target)?;
    let newest = detected.newest();
    let above = match (newest, stamp) {
        (Some((store, path)), _) if store > target => Some((store, path)),
        (_, Some(store)) if store > target => Some((store, location)),
        _ => None,
    };
    if let Some((store, path)) = above {
        return Err(ErrorKind::TargetBelowStore {
            target,
            store,
            path: path.to_owned(),
        });
    }
    Ok(up(steps, detected.oldest().unwrap_or(target), target))
}

/// The plan of a run back to `target` with `down` steps, from the newest
/// record's version. Refused when `target` is outside the chain or above
/// the newest record's version, or a step on the way has no `down`.
pub(crate) fn backward<'s, R: Record, I: Item>(
    chain: &ChainInfo<R>,
    steps: &'s [Step<R>],
    detected: &Detected<I>,
    target: u32,
) -> Result<Vec<Move<'s, R>>, ErrorKind> {
    chain.check_target(target)?;
    if let Some((store, path)) = detected.newest()
        && store < target
    {
        return Err(ErrorKind::TargetAboveStore {
            target,
            store,
            path: path.to_owned(),
        });
    }
    let newest = detected.newest().map_or(target, |(v, _)| v);
    down(steps, newest, target)
}

/// The `up` steps from `oldest` (the oldest record's version) to `target`.
pub(crate) fn up<R: Record>(steps: &[Step<R>], oldest: u32, target: u32) -> Vec<Move<'_, R>> {
    steps
        .iter()
        .filter(|s| s.from() >= oldest && s.to() <= target)
        .map(Move::up)
        .collect()
}

/// The `down` steps from `newest` (the newest record's version) back to
/// `target`, newest first; refused if one of them has no `down` body.
pub(crate) fn down<R: Record>(
    steps: &[Step<R>],
    newest: u32,
    target: u32,
) -> Result<Vec<Move<'_, R>>, ErrorKind> {
    steps
        .iter()
        .rev()
        .filter(|s| s.from() >= target && s.to() <= newest)
        .map(Move::down)
        .collect()
}

/// The one step `id`, to run alone.
pub(crate) fn one<'a, R: Record>(steps: &'a [Step<R>], id: &str) -> Result<Move<'a, R>, ErrorKind> {
    steps
        .iter()
        .find(|s| s.id() == id)
        .map(Move::up)
        .ok_or_else(|| ErrorKind::UnknownStep {
            step: id.to_owned(),
            known: steps.iter().map(Step::id).collect(),
        })
}

/// The one step `id`, to run alone on the records at its `from` version;
/// refused when `versions` (records by version) has none there.
pub(crate) fn one_at<'a, R: Record>(
    steps: &'a [Step<R>],
    id: &str,
    versions: &std::collections::BTreeMap<u32, usize>,
) -> Result<Move<'a, R>, ErrorKind> {
    let step = one(steps, id)?;
    if versions.get(&step.from).is_none_or(|n| *n == 0) {
        return Err(ErrorKind::NothingToRun {
            step: id.to_owned(),
            version: step.from,
        });
    }
    Ok(step)
}

/// `plan` in the parts a run commits one after the other: the steps that
/// run inside the transaction together, and each step that does not
/// (`#[migration(transaction = false)]`) in a part of its own. A dry run
/// is one part, one transaction that ends in `ROLLBACK`, without the steps
/// that cannot run inside it. An empty plan is one empty part.
pub(crate) fn parts<'a, R: Record>(plan: &[Move<'a, R>], dry_run: bool) -> Vec<Vec<Move<'a, R>>> {
    if dry_run {
        return vec![
            plan.iter()
                .filter(|m| m.meta.transaction)
                .copied()
                .collect(),
        ];
    }
    let mut parts: Vec<Vec<Move<'a, R>>> = Vec::new();
    for m in plan {
        match parts.last_mut() {
            Some(part) if m.meta.transaction && part.iter().all(|p| p.meta.transaction) => {
                part.push(*m);
            }
            _ => parts.push(vec![*m]),
        }
    }
    if parts.is_empty() {
        parts.push(Vec::new());
    }
    parts
}

/// The part of `plan` that applies to records at `version`: the moves from
/// it on, in the plan's direction.
pub(crate) fn from_version<'a, R: Record>(plan: &[Move<'a, R>], version: u32) -> Vec<Move<'a, R>> {
    plan.iter()
        .filter(|m| {
            if m.is_down() {
                m.from <= version
            } else {
                m.from >= version
            }
        })
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Record;

    struct Rec;
    impl Record for Rec {
        type Body = u32;
        type Verify = ();
        const STEP_PARAMETER: (&'static str, &'static str) = ("rec", "&Rec");
    }

    fn step(from: u32, down: bool) -> Step<Rec> {
        let meta = StepMeta {
            id: ["s1", "s2", "s3", "s4"][from as usize - 1],
            from,
            to: from + 1,
            description: "",
            checksum: "",
            down: None,
            file: "",
            line: 0,
            breaking: false,
            requires_restart: &[],
            backup_required: true,
            estimate: None,
            transaction: true,
        };
        Step::new(meta, from, down.then_some(from * 10), None)
    }

    #[test]
    fn a_step_outside_the_transaction_splits_the_run_and_a_dry_run_leaves_it_out() {
        let mut steps: Vec<Step<Rec>> = (1..=4).map(|v| step(v, false)).collect();
        let alone = StepMeta {
            transaction: false,
            ..*steps[2].meta()
        };
        steps[2] = Step::new(alone, 3, None, None);
        let plan = up(&steps, 1, 5);
        let parts: Vec<Vec<(u32, u32)>> = parts(&plan, false).iter().map(|p| ids(p)).collect();
        assert_eq!(parts, [vec![(1, 2), (2, 3)], vec![(3, 4)], vec![(4, 5)]]);
        let dry: Vec<Vec<(u32, u32)>> = parts_of(&plan, true);
        assert_eq!(dry, [vec![(1, 2), (2, 3), (4, 5)]]);
        assert_eq!(parts_of(&plan[2..3], false), [vec![(3, 4)]]);
        assert_eq!(parts_of(&plan[..0], false), [Vec::<(u32, u32)>::new()]);
    }

    fn parts_of(plan: &[Move<'_, Rec>], dry_run: bool) -> Vec<Vec<(u32, u32)>> {
        parts(plan, dry_run).iter().map(|p| ids(p)).collect()
    }

    fn ids<R: Record>(plan: &[Move<'_, R>]) -> Vec<(u32, u32)> {
        plan.iter().map(|m| (m.from, m.to)).collect()
    }

    #[test]
    fn up_takes_the_steps_between_the_oldest_version_and_the_target() {
        let steps = [step(1, true), step(2, true), step(3, true)];
        assert_eq!(ids(&up(&steps, 2, 4)), [(2, 3), (3, 4)]);
        assert_eq!(ids(&up(&steps, 1, 2)), [(1, 2)]);
        assert!(up(&steps, 3, 3).is_empty());
    }

    #[test]
    fn down_goes_newest_first_with_down_bodies_and_refuses_an_irreversible_step() {
        let steps = [step(1, true), step(2, false), step(3, true)];
        let plan = down(&steps, 4, 3).unwrap();
        assert_eq!(ids(&plan), [(4, 3)]);
        assert_eq!(*plan[0].body, 30);
        let err = down(&steps, 4, 1).err().unwrap();
        assert!(
            matches!(err, ErrorKind::Irreversible { step: "s2", .. }),
            "{err}"
        );
    }

    #[test]
    fn from_version_keeps_the_moves_a_record_at_that_version_needs() {
        let steps = [step(1, true), step(2, true), step(3, true)];
        let forward = up(&steps, 1, 4);
        assert_eq!(ids(&from_version(&forward, 2)), [(2, 3), (3, 4)]);
        let back = down(&steps, 4, 1).unwrap();
        assert_eq!(ids(&from_version(&back, 3)), [(3, 2), (2, 1)]);
    }

    #[test]
    fn one_names_the_known_steps_when_the_id_is_unknown() {
        let steps = [step(1, true), step(2, true)];
        assert_eq!(one(&steps, "s2").unwrap().from, 2);
        let err = one(&steps, "nope").err().unwrap();
        assert!(err.to_string().contains("s1, s2"), "{err}");
    }
}
