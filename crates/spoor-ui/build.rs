//! Embeds `ui/dist` (the output of `npm --prefix ui run build`) by generating a table of
//! `include_bytes!` entries in `$OUT_DIR/assets.rs`. Without `ui/dist`, the table is empty and the
//! crate serves a page that says how to build the UI.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let ui_dir = manifest_dir.join("../../ui");
    let dist = ui_dir.join("dist");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SPOOR_UI_DIST");
    let dist = env::var_os("SPOOR_UI_DIST")
        .map(PathBuf::from)
        .unwrap_or(dist);

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        // Any change under ui/dist (a rebuilt UI) reruns this script.
        println!("cargo:rerun-if-changed={}", dist.display());
        collect(&dist, &dist, &mut files);
        files.sort();
    } else if dist.exists() {
        println!("cargo:rerun-if-changed={}", dist.display());
    } else if ui_dir.is_dir() {
        // ui/dist does not exist yet; watching a missing path would rerun this script on every build,
        // so watch its parent, which changes when ui/dist appears.
        println!("cargo:rerun-if-changed={}", ui_dir.display());
    }

    let mut out = String::from("/// Files of `ui/dist`: (path relative to dist, contents).\n");
    out.push_str("pub(crate) static FILES: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        let _ = writeln!(out, "    ({rel:?}, include_bytes!({abs:?})),");
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out_dir.join("assets.rs"), out).expect("write assets.rs into OUT_DIR");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let abs = path.canonicalize().unwrap_or(path.clone());
            files.push((rel, abs.to_string_lossy().into_owned()));
        }
    }
}
