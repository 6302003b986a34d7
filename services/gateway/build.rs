//! Embeds the web console's built files (`console/dist`, made by
//! `npm run build` in `console/`) into the gateway, as a table of
//! `(path, content type, bytes)` in `$OUT_DIR/console_files.rs`.
//!
//! Without a build the table is empty and the gateway answers `/` with a
//! page saying how to build it, so a Rust-only build still works.

use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("console").join("dist");
    // Watch the build's output; while there is none, the sources a build
    // rewrites (it regenerates src/gen), never node_modules.
    if dist.is_dir() {
        println!("cargo:rerun-if-changed={}", dist.display());
    } else {
        for watched in ["src", "index.html", "package-lock.json"] {
            let path = manifest.join("console").join(watched);
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    }
    files.sort();
    let mut table = String::from("&[\n");
    for (path, file) in &files {
        table.push_str(&format!(
            "    ({path:?}, {:?}, include_bytes!({:?})),\n",
            content_type(path),
            file.display().to_string()
        ));
    }
    table.push(']');
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    fs::write(out.join("console_files.rs"), table).expect("OUT_DIR is writable");
}

/// Every file under `dir`, as its URL path (`/assets/index-abc.js`) and
/// its place on disk.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    for entry in fs::read_dir(dir).expect("console/dist is readable") {
        let path = entry.expect("console/dist is readable").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let relative = path.strip_prefix(root).expect("under root");
            let url = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((format!("/{url}"), path));
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
