use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 0, current = 20)]
pub struct Long;

/// Step 0 to 1.
#[migration(chain = Long, from = 0, to = 1)]
fn step_0(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 0);
    doc.set("n", n + 1);
}

/// Step 1 to 2.
#[migration(chain = Long, from = 1, to = 2)]
fn step_1(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 1);
    doc.set("n", n + 1);
}

/// Step 2 to 3.
#[migration(chain = Long, from = 2, to = 3)]
fn step_2(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 2);
    doc.set("n", n + 1);
}

/// Step 3 to 4.
#[migration(chain = Long, from = 3, to = 4)]
fn step_3(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 3);
    doc.set("n", n + 1);
}

/// Step 4 to 5.
#[migration(chain = Long, from = 4, to = 5)]
fn step_4(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 4);
    doc.set("n", n + 1);
}

/// Step 5 to 6.
#[migration(chain = Long, from = 5, to = 6)]
fn step_5(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 5);
    doc.set("n", n + 1);
}

/// Step 6 to 7.
#[migration(chain = Long, from = 6, to = 7)]
fn step_6(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 6);
    doc.set("n", n + 1);
}

/// Step 7 to 8.
#[migration(chain = Long, from = 7, to = 8)]
fn step_7(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 7);
    doc.set("n", n + 1);
}

/// Step 8 to 9.
#[migration(chain = Long, from = 8, to = 9)]
fn step_8(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 8);
    doc.set("n", n + 1);
}

/// Step 9 to 10.
#[migration(chain = Long, from = 9, to = 10)]
fn step_9(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 9);
    doc.set("n", n + 1);
}

/// Step 10 to 11.
#[migration(chain = Long, from = 10, to = 11)]
fn step_10(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 10);
    doc.set("n", n + 1);
}

/// Step 11 to 12.
#[migration(chain = Long, from = 11, to = 12)]
fn step_11(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 11);
    doc.set("n", n + 1);
}

/// Step 12 to 13.
#[migration(chain = Long, from = 12, to = 13)]
fn step_12(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 12);
    doc.set("n", n + 1);
}

/// Step 13 to 14.
#[migration(chain = Long, from = 13, to = 14)]
fn step_13(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 13);
    doc.set("n", n + 1);
}

/// Step 14 to 15.
#[migration(chain = Long, from = 14, to = 15)]
fn step_14(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 14);
    doc.set("n", n + 1);
}

/// Step 15 to 16.
#[migration(chain = Long, from = 15, to = 16)]
fn step_15(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 15);
    doc.set("n", n + 1);
}

/// Step 16 to 17.
#[migration(chain = Long, from = 16, to = 17)]
fn step_16(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 16);
    doc.set("n", n + 1);
}

/// Step 17 to 18.
#[migration(chain = Long, from = 17, to = 18)]
fn step_17(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 17);
    doc.set("n", n + 1);
}

/// Step 18 to 19.
#[migration(chain = Long, from = 18, to = 19)]
fn step_18(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 18);
    doc.set("n", n + 1);
}

/// Step 19 to 20.
#[migration(chain = Long, from = 19, to = 20)]
fn step_19(doc: &mut Document) {
    let n = doc.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert_eq!(n, 19);
    doc.set("n", n + 1);
}

fn main() {
    let steps = Long::steps();
    assert_eq!(steps.len(), 20);
    let mut doc = Document::new("n.json", Default::default());
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step.id(), format!("step_{i}"));
        assert_eq!((step.from(), step.to()), (i as u32, i as u32 + 1));
        (step.up())(&mut doc).unwrap();
    }
    assert_eq!(doc.get("n"), Some(&20.into()));
    verchain::chain::checked_steps::<Long>().unwrap();
}
