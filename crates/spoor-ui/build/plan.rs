//! What the build script does about the web UI, decided from file times ([`State::read`] looks at
//! them; [`plan`] decides without I/O). The crate's tests include this file too.
//!
//! `ui/dist` is current when its `index.html` is at least as new as every source of the UI (`src/`,
//! `public/`, `index.html`, `package.json`, `package-lock.json`, `tsconfig.json`, `vite.config.ts`).
//! A current `ui/dist` is embedded as it is. Otherwise the script builds it with npm (after `npm ci`
//! when `node_modules` is missing or older than the lockfile), unless `SPOOR_UI_BUILD=off` or npm is
//! missing: then it warns with the commands to run and embeds what there is.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

/// The UI sources, relative to `ui/`, whose changes make `ui/dist` stale.
pub const SOURCES: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "vite.config.ts",
];

/// The commands that build the UI by hand.
pub const MANUAL_BUILD: &str = "npm --prefix ui ci && npm --prefix ui run build";

/// `SPOOR_UI_BUILD`: whether the build script may run npm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Build when needed and possible; warn (and build the binary anyway) when not. The default.
    Auto,
    /// Never run npm; embed `ui/dist` as it is.
    Off,
    /// Build when needed; fail the cargo build when the UI cannot be built (for release packaging).
    Require,
}

impl Mode {
    pub fn parse(value: Option<&str>) -> Result<Mode, String> {
        match value.map(str::trim) {
            None | Some("" | "auto") => Ok(Mode::Auto),
            Some("off" | "0" | "false" | "never") => Ok(Mode::Off),
            Some("require" | "required" | "always") => Ok(Mode::Require),
            Some(other) => Err(format!(
                "SPOOR_UI_BUILD={other:?} is not one of auto, off, require"
            )),
        }
    }
}

/// What the build script found on disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct State {
    /// Modification time of `ui/dist/index.html`; `None` when there is no built UI.
    pub dist: Option<SystemTime>,
    /// The newest modification time among [`SOURCES`]; `None` when `ui/` has none of them.
    pub newest_source: Option<SystemTime>,
    /// `ui/node_modules/.package-lock.json` exists and is not older than `ui/package-lock.json`.
    pub node_modules_current: bool,
}

impl State {
    /// Looks at `ui/`.
    pub fn read(ui: &Path) -> State {
        let lockfile = mtime(&ui.join("package-lock.json"));
        let installed = mtime(&ui.join("node_modules/.package-lock.json"));
        State {
            dist: mtime(&ui.join("dist/index.html")),
            newest_source: SOURCES
                .iter()
                .filter_map(|s| newest_mtime(&ui.join(s)))
                .max(),
            node_modules_current: matches!((installed, lockfile), (Some(i), Some(l)) if i >= l),
        }
    }

    /// `ui/dist` exists and no source is newer than it.
    pub fn dist_current(&self) -> bool {
        match (self.dist, self.newest_source) {
            (Some(dist), Some(source)) => dist >= source,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// `ui/dist` is current: embed it.
    Embed,
    /// Build `ui/dist` (running `npm ci` first when `install`), then embed it.
    Build { install: bool },
    /// Embed what there is (a stale `ui/dist`, or nothing: the "UI not built" page) and print this
    /// as a cargo warning.
    Warn(String),
    /// Stop the cargo build with this message (`SPOOR_UI_BUILD=require`).
    Fail(String),
}

/// Decides what to do; `npm` says whether `npm --version` ran.
pub fn plan(state: &State, mode: Mode, npm: bool) -> Plan {
    if state.dist_current() {
        return Plan::Embed;
    }
    let what = if state.dist.is_some() {
        "ui/dist is older than the UI sources"
    } else {
        "the web UI is not built (no ui/dist)"
    };
    let stale = state.dist.is_some();
    if state.newest_source.is_none() {
        return refuse(
            mode,
            &format!("{what} and the ui/ sources are missing"),
            stale,
            "",
        );
    }
    match (mode, npm) {
        (Mode::Off, _) => Plan::Warn(format!(
            "{what} and SPOOR_UI_BUILD=off: {}; run `{MANUAL_BUILD}`, then cargo build again",
            consequence(stale)
        )),
        (_, false) => refuse(
            mode,
            &format!("{what} and npm was not found"),
            stale,
            &format!(
                "install Node.js 20+ with npm and build again, or run `{MANUAL_BUILD}` where npm is"
            ),
        ),
        (_, true) => Plan::Build {
            install: !state.node_modules_current,
        },
    }
}

/// What a failed npm step becomes: a warning, or an error under `SPOOR_UI_BUILD=require`.
pub fn build_failed(mode: Mode, step: &str, output_tail: &str, stale_dist: bool) -> Plan {
    let mut advice =
        format!("fix it and build again (or run `{MANUAL_BUILD}` to see the whole output)");
    if !output_tail.trim().is_empty() {
        advice.push_str("\nlast lines of its output:\n");
        advice.push_str(output_tail.trim_end());
    }
    refuse(
        mode,
        &format!("building the web UI failed at `{step}`"),
        stale_dist,
        &advice,
    )
}

fn consequence(stale_dist: bool) -> &'static str {
    if stale_dist {
        "the binary embeds the stale ui/dist"
    } else {
        "the binary serves a \"UI not built\" page"
    }
}

/// A warning says what the binary gets; an error (`SPOOR_UI_BUILD=require`) stops the build.
fn refuse(mode: Mode, why: &str, stale_dist: bool, advice: &str) -> Plan {
    let advice = if advice.is_empty() {
        String::new()
    } else {
        format!("; {advice}")
    };
    if mode == Mode::Require {
        Plan::Fail(format!("{why} (SPOOR_UI_BUILD=require){advice}"))
    } else {
        Plan::Warn(format!("{why}: {}{advice}", consequence(stale_dist)))
    }
}

/// The last `n` non-empty lines of a command's output.
pub fn tail(output: &str, n: usize) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file, or of a directory and everything under it.
fn newest_mtime(path: &Path) -> Option<SystemTime> {
    let own = mtime(path);
    let Ok(entries) = fs::read_dir(path) else {
        return own;
    };
    entries
        .flatten()
        .filter_map(|e| newest_mtime(&e.path()))
        .chain(own)
        .max()
}
