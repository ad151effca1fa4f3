//! Builds the web UI when needed and embeds it.
//!
//! When `ui/dist` is missing or older than the UI sources and npm is available, this runs
//! `npm ci` (only when `ui/node_modules` is missing or older than the lockfile) and
//! `npm run build` in `ui/`; when it cannot, it prints a cargo warning that says what to run and the
//! binary serves the "UI not built" page (or the stale build). The decision is `build/plan.rs`.
//! `SPOOR_UI_BUILD=off` never runs npm, `SPOOR_UI_BUILD=require` turns every warning into an
//! error, and `SPOOR_UI_DIST=/some/dir` embeds another directory as it is.
//!
//! The files are copied into `$OUT_DIR/ui-dist` and embedded from there by a generated table of
//! `include_bytes!` entries in `$OUT_DIR/assets.rs`.

#[path = "build/plan.rs"]
mod plan;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

use plan::{Mode, Plan, State};

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/plan.rs");
    println!("cargo:rerun-if-env-changed=SPOOR_UI_DIST");
    println!("cargo:rerun-if-env-changed=SPOOR_UI_BUILD");

    let dist = match env::var_os("SPOOR_UI_DIST") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            println!("cargo:rerun-if-changed={}", dir.display());
            Some(dir)
        }
        None => ui_dist(&manifest_dir.join("../../ui")),
    };

    let copy = out_dir.join("ui-dist");
    let _ = fs::remove_dir_all(&copy);
    let mut files = Vec::new();
    if let Some(dist) = dist.filter(|d| d.join("index.html").is_file()) {
        collect(&dist, &dist, &copy, &mut files);
        files.sort();
    }
    let mut out = String::from("/// Files of `ui/dist`: (path relative to dist, contents).\n");
    out.push_str("pub(crate) static FILES: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        let _ = writeln!(out, "    ({rel:?}, include_bytes!({abs:?})),");
    }
    out.push_str("];\n");
    fs::write(out_dir.join("assets.rs"), out).expect("write assets.rs into OUT_DIR");
}

/// Brings `ui/dist` up to date when needed and possible; returns the directory to embed, if any.
fn ui_dist(ui: &Path) -> Option<PathBuf> {
    let ui = ui.canonicalize().unwrap_or_else(|_| ui.to_path_buf());
    let dist = ui.join("dist");
    for source in plan::SOURCES {
        let path = ui.join(source);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let mode = match Mode::parse(env::var("SPOOR_UI_BUILD").ok().as_deref()) {
        Ok(mode) => mode,
        Err(message) => fail(&message),
    };

    // Another cargo (another target directory, an editor's check) may be building the UI in the same
    // tree: take turns, and look at the files only once it is our turn.
    let _lock = fs::File::open(ui.join("package.json"))
        .ok()
        .filter(|f| f.lock().is_ok());
    let state = State::read(&ui);
    let has_npm = state.dist_current() || mode == Mode::Off || npm_runs(&ui);
    match plan::plan(&state, mode, has_npm) {
        Plan::Embed => {
            // Built outside this script (scripts/build.sh, by hand): a rebuild is picked up.
            println!("cargo:rerun-if-changed={}", dist.display());
            Some(dist)
        }
        Plan::Warn(message) => {
            warn(&message);
            // Pick up a UI built by hand later: watch ui/dist, or ui/ for it to appear.
            if state.dist.is_some() {
                println!("cargo:rerun-if-changed={}", dist.display());
            } else if ui.is_dir() {
                println!("cargo:rerun-if-changed={}", ui.display());
            }
            Some(dist)
        }
        Plan::Fail(message) => fail(&message),
        Plan::Build { install } => {
            // Not watching ui/dist here: this script wrote it, after cargo's reference time, so a
            // watch would rerun the script once more for nothing. The sources are watched, and the
            // files are embedded from a copy, so removing ui/dist later breaks nothing.
            if install && let Err(tail) = run_npm(&ui, &["ci", "--no-audit", "--no-fund"]) {
                return after_failure(mode, "npm ci", &tail, &dist);
            }
            if let Err(tail) = run_npm(&ui, &["run", "build"]) {
                return after_failure(mode, "npm run build", &tail, &dist);
            }
            Some(dist)
        }
    }
}

fn after_failure(mode: Mode, step: &str, tail: &str, dist: &Path) -> Option<PathBuf> {
    let stale = dist.join("index.html").is_file();
    match plan::build_failed(mode, step, tail, stale) {
        Plan::Fail(message) => fail(&message),
        Plan::Warn(message) => warn(&message),
        _ => {}
    }
    // Only the sources are watched now: a failing build is not retried until they change.
    Some(dist.to_path_buf())
}

fn npm_program() -> &'static str {
    if cfg!(windows) { "npm.cmd" } else { "npm" }
}

fn npm_runs(ui: &Path) -> bool {
    Command::new(npm_program())
        .arg("--version")
        .current_dir(ui)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs one npm command in `ui/`; on failure returns the tail of its output.
fn run_npm(ui: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new(npm_program())
        .args(args)
        .current_dir(ui)
        // Cargo sets DEBUG for build scripts; Node's `debug` package reads it too.
        .env_remove("DEBUG")
        .output()
        .map_err(|e| format!("could not run npm: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Err(format!("{}\n({})", plan::tail(&text, 15), output.status))
}

fn warn(message: &str) {
    for line in message.lines() {
        println!("cargo:warning={line}");
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

/// Copies `dir` (under `root`) into `copy` and lists (path relative to root, absolute path of the
/// copy).
fn collect(root: &Path, dir: &Path, copy: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let target = copy.join(rel);
        if path.is_dir() {
            collect(root, &path, copy, files);
            continue;
        }
        let copied = target
            .parent()
            .is_some_and(|p| fs::create_dir_all(p).is_ok())
            && fs::copy(&path, &target).is_ok();
        if !copied {
            warn(&format!("could not copy {} into OUT_DIR", path.display()));
            continue;
        }
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        files.push((rel, target.to_string_lossy().into_owned()));
    }
}
