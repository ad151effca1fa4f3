//! The build script's decisions: when it builds the UI, installs packages, warns or fails.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::build_plan::{MANUAL_BUILD, Mode, Plan, SOURCES, State, build_failed, plan, tail};

fn at(secs: u64) -> Option<SystemTime> {
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs))
}

fn state(dist: Option<SystemTime>, source: Option<SystemTime>, installed: bool) -> State {
    State {
        dist,
        newest_source: source,
        node_modules_current: installed,
    }
}

#[test]
fn a_current_dist_is_embedded_without_npm() {
    for mode in [Mode::Auto, Mode::Off, Mode::Require] {
        for npm in [true, false] {
            assert_eq!(plan(&state(at(10), at(5), true), mode, npm), Plan::Embed);
            // Built in the same second as the newest source: current.
            assert_eq!(plan(&state(at(10), at(10), false), mode, npm), Plan::Embed);
        }
    }
    // A dist without sources (a packaged crate) is what there is.
    assert_eq!(
        plan(&state(at(1), None, false), Mode::Auto, false),
        Plan::Embed
    );
}

#[test]
fn a_fresh_clone_installs_and_builds() {
    // No ui/dist, no node_modules.
    assert_eq!(
        plan(&state(None, at(1), false), Mode::Auto, true),
        Plan::Build { install: true }
    );
    assert_eq!(
        plan(&state(None, at(1), false), Mode::Require, true),
        Plan::Build { install: true }
    );
}

#[test]
fn a_source_newer_than_dist_rebuilds_without_reinstalling() {
    assert_eq!(
        plan(&state(at(10), at(11), true), Mode::Auto, true),
        Plan::Build { install: false }
    );
    // A lockfile newer than node_modules reinstalls.
    assert_eq!(
        plan(&state(at(10), at(11), false), Mode::Auto, true),
        Plan::Build { install: true }
    );
}

#[test]
fn without_npm_it_warns_with_the_command_to_run() {
    let Plan::Warn(message) = plan(&state(None, at(1), false), Mode::Auto, false) else {
        panic!("expected a warning");
    };
    assert!(message.contains("npm was not found"), "{message}");
    assert!(message.contains(MANUAL_BUILD), "{message}");
    assert!(message.contains("UI not built"), "{message}");
    let Plan::Warn(message) = plan(&state(at(1), at(2), true), Mode::Auto, false) else {
        panic!("expected a warning");
    };
    assert!(message.contains("older than the UI sources"), "{message}");
    assert!(message.contains("stale"), "{message}");
}

#[test]
fn off_never_runs_npm_and_require_fails() {
    assert!(matches!(
        plan(&state(None, at(1), false), Mode::Off, true),
        Plan::Warn(m) if m.contains("SPOOR_UI_BUILD=off") && m.contains(MANUAL_BUILD)
    ));
    assert!(matches!(
        plan(&state(None, at(1), false), Mode::Require, false),
        Plan::Fail(m) if m.contains("npm was not found") && m.contains("SPOOR_UI_BUILD=require")
    ));
    assert!(matches!(
        plan(&state(None, None, false), Mode::Require, true),
        Plan::Fail(m) if m.contains("sources are missing")
    ));
}

#[test]
fn a_failed_build_is_a_warning_with_the_output_or_an_error() {
    let Plan::Warn(message) = build_failed(
        Mode::Auto,
        "npm run build",
        "src/app.tsx(3,1): error TS1005",
        false,
    ) else {
        panic!("expected a warning");
    };
    assert!(message.contains("failed at `npm run build`"), "{message}");
    assert!(message.contains("error TS1005"), "{message}");
    assert!(message.contains("UI not built"), "{message}");
    assert!(matches!(
        build_failed(Mode::Require, "npm ci", "", true),
        Plan::Fail(m) if m.contains("failed at `npm ci`")
            && m.contains("SPOOR_UI_BUILD=require")
            && !m.contains("stale")
            && !m.contains("last lines")
    ));
}

#[test]
fn mode_parses_the_documented_values() {
    assert_eq!(Mode::parse(None), Ok(Mode::Auto));
    assert_eq!(Mode::parse(Some("")), Ok(Mode::Auto));
    assert_eq!(Mode::parse(Some("auto")), Ok(Mode::Auto));
    assert_eq!(Mode::parse(Some("off")), Ok(Mode::Off));
    assert_eq!(Mode::parse(Some("0")), Ok(Mode::Off));
    assert_eq!(Mode::parse(Some("require")), Ok(Mode::Require));
    assert!(
        Mode::parse(Some("sometimes"))
            .err()
            .is_some_and(|e| e.contains("sometimes"))
    );
}

#[test]
fn tail_keeps_the_last_non_empty_lines() {
    assert_eq!(tail("a\n\nb\nc\n\n", 2), "b\nc");
    assert_eq!(tail("only", 5), "only");
    assert_eq!(tail("", 3), "");
}

/// Writes `rel` under `root` with modification time `secs` (see [`at`]), and gives its directories
/// under `root` that time too (creating a file changes its directory's time).
fn touch(root: &Path, rel: &str, secs: u64) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    fs::write(&path, rel).expect("write");
    let time = at(secs).expect("time");
    let file = fs::File::options().write(true).open(&path).expect("open");
    file.set_modified(time).expect("set mtime");
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| *d != root) {
        fs::File::open(d)
            .and_then(|f| f.set_modified(time))
            .expect("set a directory's mtime");
        dir = d.parent();
    }
}

#[test]
fn state_reads_the_newest_source_anywhere_under_ui() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ui = dir.path();
    touch(ui, "index.html", 1);
    touch(ui, "package.json", 1);
    touch(ui, "package-lock.json", 2);
    touch(ui, "src/main.tsx", 3);
    touch(ui, "node_modules/.package-lock.json", 4);
    touch(ui, "dist/index.html", 5);
    // Not a source: a newer file elsewhere under ui/ changes nothing.
    touch(ui, "README.md", 50);
    let s = State::read(ui);
    assert!(s.node_modules_current);
    assert!(s.dist_current(), "{s:?}");
    assert_eq!(plan(&s, Mode::Auto, true), Plan::Embed);

    // An edit deep in src/ makes dist stale.
    touch(ui, "src/model/deep/format.ts", 6);
    let s = State::read(ui);
    assert!(!s.dist_current(), "{s:?}");
    assert_eq!(plan(&s, Mode::Auto, true), Plan::Build { install: false });

    // So does the Vite config; a new lockfile also reinstalls.
    touch(ui, "dist/index.html", 7);
    touch(ui, "vite.config.ts", 8);
    touch(ui, "package-lock.json", 9);
    let s = State::read(ui);
    assert_eq!(plan(&s, Mode::Auto, true), Plan::Build { install: true });

    // Without dist and node_modules (a fresh clone).
    fs::remove_dir_all(ui.join("dist")).expect("rm dist");
    fs::remove_dir_all(ui.join("node_modules")).expect("rm node_modules");
    let s = State::read(ui);
    assert_eq!(s.dist, None);
    assert_eq!(plan(&s, Mode::Auto, true), Plan::Build { install: true });
}

#[test]
fn the_sources_are_the_real_ui_inputs() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui");
    for source in SOURCES {
        assert!(ui.join(source).exists(), "ui/{source} exists");
    }
    assert!(State::read(&ui).newest_source.is_some());
}
