//! The step list a chain hands the runtime: order, ids, descriptions,
//! checksums, and the step functions themselves.

use serde_json::{Value, json};
use verchain::chain::checked_steps;
use verchain::{Chain, Document};
use verchain_tests::three_modules::Settings;

fn doc(value: Value) -> Document {
    let Value::Object(map) = value else {
        panic!("not an object")
    };
    Document::new("settings.toml", map)
}

#[test]
fn steps_from_three_modules_come_in_order() {
    assert_eq!(Settings::NAME, "settings");
    assert_eq!((Settings::BASE, Settings::CURRENT), (1, 4));
    assert_eq!(Settings::VERSION_KEY, "version");
    let steps = checked_steps::<Settings>().unwrap();
    let summary: Vec<_> = steps
        .iter()
        .map(|s| (s.id(), s.from(), s.to(), s.is_reversible()))
        .collect();
    assert_eq!(
        summary,
        [
            ("add_theme", 1, 2, false),
            ("rename_colour", 2, 3, true),
            ("split_server", 3, 4, false),
        ]
    );
    assert_eq!(
        steps[0].description(),
        "Adds `theme`, `light` where missing."
    );
    assert_eq!(steps[1].meta().down, Some("unrename"));
    assert!(steps[2].meta().file.ends_with("split_field.rs"));
    for step in &steps {
        assert!(step.checksum().starts_with("v1:blake3:"), "{step:?}");
        assert_eq!(step.checksum().len(), "v1:blake3:".len() + 64);
    }
    let mut sums: Vec<_> = steps.iter().map(|s| s.checksum()).collect();
    sums.dedup();
    assert_eq!(sums.len(), 3, "each step has its own checksum");
}

#[test]
fn steps_run_and_reverse() {
    let steps = Settings::steps();
    let mut d = doc(json!({"version": 1, "colour": "red", "server": "db.local:5432"}));
    for step in &steps {
        (step.up())(&mut d).unwrap();
    }
    assert_eq!(
        d.fields(),
        doc(json!({"version": 1, "color": "red", "theme": "light", "host": "db.local", "port": 5432}))
            .fields()
    );
    let down = steps[1].down().expect("rename_colour has a down step");
    down(&mut d).unwrap();
    assert_eq!(d.get_str("colour"), Some("red"));
    assert!(!d.contains("color"));
}

#[test]
fn a_failing_typed_step_says_why() {
    let steps = Settings::steps();
    let mut d = doc(json!({"server": "no-port"}));
    let err = (steps[2].up())(&mut d).unwrap_err();
    assert_eq!(err.to_string(), "`server` is \"no-port\", not host:port");
    let mut d = doc(json!({"server": 5}));
    let err = (steps[2].up())(&mut d).unwrap_err().to_string();
    assert!(
        err.starts_with("does not read as `verchain_tests::three_modules::split_field::V3`"),
        "{err}"
    );
}

/// Three copies of one step: `same` differs from `original` only in layout
/// and comments, `edited` changes one literal.
mod checksums {
    use verchain::{Chain, Document, migration};

    #[derive(Chain)]
    #[chain(current = 2)]
    pub struct Original;
    #[derive(Chain)]
    #[chain(current = 2)]
    pub struct Same;
    #[derive(Chain)]
    #[chain(current = 2)]
    pub struct Edited;

    mod original {
        use super::*;
        /// First wording.
        #[migration(chain = Original, from = 1, to = 2)]
        fn step(doc: &mut Document) {
            doc.set("a", 1);
        }
    }

    mod same {
        use super::*;
        /// Another wording of the description.
        #[migration(chain = Same, from = 1, to = 2)]
        #[rustfmt::skip]
        fn step(
            doc: &mut Document,
        ) {
            // a comment does not count
            doc.set("a",
                1);
        }
    }

    mod edited {
        use super::*;
        /// First wording.
        #[migration(chain = Edited, from = 1, to = 2)]
        fn step(doc: &mut Document) {
            doc.set("a", 2);
        }
    }

    #[test]
    fn editing_a_body_changes_its_checksum_and_reformatting_does_not() {
        let original = Original::steps()[0].checksum();
        assert_eq!(original, Same::steps()[0].checksum());
        assert_ne!(original, Edited::steps()[0].checksum());
    }
}
