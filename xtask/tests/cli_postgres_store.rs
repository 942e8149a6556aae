//! A PostgreSQL store on the command line, against a real server: no
//! password reaches the output in any shape a connection string takes, a
//! URL given to a chain of files is a usage error that does not echo it,
//! a URL that cannot be read is a usage error, and the snapshots of a
//! database `--store` names are not the demo's, which `demo reset`
//! removes.

use std::path::Path;

use assert_cmd::Command;
use verchain_tests::postgres_db::create;

fn xtask(cwd: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("xtask")
        .expect("the xtask binary")
        .current_dir(cwd)
        .args(args)
        .env("NO_COLOR", "1")
        .env("VERCHAIN_DEMO_POSTGRES", "off")
        .assert()
}

/// Everything the command wrote, stdout and stderr.
fn said(assert: &assert_cmd::assert::Assert) -> String {
    let out = assert.get_output();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn no_password_is_printed_whatever_the_shape_of_the_connection_string() {
    let Some(url) = create("cli_secrets", forms_example::V1_SQL) else {
        return;
    };
    let cwd = tempfile::tempdir().unwrap();
    // The test server trusts its socket: a password is taken and unused.
    let (_, db) = url.rsplit_once('/').unwrap();
    let socket = verchain_tests::postgres_server::shared()
        .and_then(|s| s.cluster())
        .map(|c| c.socket_dir().to_str().unwrap().to_owned());
    let mut shapes = vec![
        format!("{url}?password=LEAKME1"),
        format!("{url}?sslmode=disable&password=LEAKME2&application_name=x"),
        url.replacen("postgres@", "postgres:LEAKME3@", 1),
    ];
    if let Some(socket) = socket {
        shapes.push(format!(
            "host={socket} dbname={db} user=postgres password = LEAKME4"
        ));
        shapes.push(format!(
            "host={socket} password='LEAK ME5' dbname={db} user=postgres"
        ));
        shapes.push(format!(
            r"host={socket} password='LE\'AK ME6' dbname={db} user=postgres"
        ));
    }
    for store in &shapes {
        for json in [false, true] {
            let mut args = vec!["status", "--chain", "forms", "--store", store.as_str()];
            if json {
                args.push("--json");
            }
            let done = xtask(cwd.path(), &args).success();
            let out = said(&done);
            assert!(!out.contains("LEAK"), "{store}: {out}");
            assert!(out.contains("cli_secrets"), "{store}: {out}");
        }
    }
}

#[test]
fn a_url_given_to_a_chain_of_files_is_a_usage_error_without_its_password() {
    let cwd = tempfile::tempdir().unwrap();
    for json in [false, true] {
        let mut args = vec![
            "migrate",
            "--chain",
            "agentdb",
            "--store",
            "postgres://app:s3cret@db.example/forms",
        ];
        if json {
            args.push("--json");
        }
        let refused = xtask(cwd.path(), &args).code(2);
        let out = said(&refused);
        assert!(!out.contains("s3cret"), "{out}");
        assert!(out.contains("postgres://app@db.example/forms"), "{out}");
        assert!(out.contains("an SQLite database"), "{out}");
    }
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
}

#[test]
fn a_connection_string_that_cannot_be_read_is_a_usage_error() {
    let cwd = tempfile::tempdir().unwrap();
    let refused = xtask(
        cwd.path(),
        &[
            "status",
            "--chain",
            "forms",
            "--store",
            "postgres://app:s3cret@127.0.0.1:notaport/p1",
        ],
    )
    .code(2);
    let out = said(&refused);
    assert!(out.contains("is not a PostgreSQL connection URL"), "{out}");
    assert!(!out.contains("s3cret"), "{out}");
}

#[test]
fn demo_reset_leaves_the_snapshots_of_a_database_store_names() {
    let Some(url) = create("cli_given", forms_example::V1_SQL) else {
        return;
    };
    let cwd = tempfile::tempdir().unwrap();
    let demo = tempfile::tempdir().unwrap();
    let demo = demo.path().join("verchain-demo");
    let run = |args: &[&str]| {
        Command::cargo_bin("xtask")
            .unwrap()
            .current_dir(cwd.path())
            .args(args)
            .env("VERCHAIN_DEMO_DIR", &demo)
            .env("VERCHAIN_DEMO_POSTGRES", "off")
            .env("NO_COLOR", "1")
            .assert()
    };
    let given = ["--chain", "forms", "--store", url.as_str()];
    run(&[&["migrate", "--no-diff"][..], &given].concat()).success();
    assert!(cwd.path().join(".verchain/postgres").is_dir());
    run(&["demo", "reset"]).success();
    let list = said(&run(&[&["snapshots"][..], &given].concat()).success());
    assert!(list.contains(": 1 snapshot(s) kept"), "{list}");
    run(&[&["rollback"][..], &given].concat()).success();
}
