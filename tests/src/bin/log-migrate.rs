//! Migrates the audit log at the path it is given to the current version
//! and prints the process's peak resident set size (`VmHWM`, in kB), for
//! the test that memory stays flat however large the log.

use std::process::ExitCode;

use audit_example::Audit;
use verchain::RunOptions;
use verchain::log::LogStore;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: log-migrate <log>");
        return ExitCode::from(2);
    };
    let options = RunOptions {
        diff_limit: 0,
        ..RunOptions::default()
    };
    match verchain::migrate::<Audit>(&LogStore::new(path), &options) {
        Ok(report) => {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let peak = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| v.trim().trim_end_matches("kB").trim().to_owned())
                .unwrap_or_default();
            println!("{} {peak}", report.counts.changed);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
