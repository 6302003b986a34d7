//! Records the commit the binary is built from, for `estate --version`:
//! `ESTATE_COMMIT` when the build sets it (container builds have no
//! `.git`), else `git rev-parse`, else "unknown commit".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ESTATE_COMMIT");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in [".git/HEAD", ".git/index"] {
        if root.join(file).exists() {
            println!("cargo:rerun-if-changed={}", root.join(file).display());
        }
    }
    let commit = std::env::var("ESTATE_COMMIT")
        .ok()
        .filter(|commit| !commit.is_empty())
        .or_else(|| {
            let output = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .current_dir(&root)
                .output()
                .ok()?;
            let commit = String::from_utf8(output.stdout).ok()?.trim().to_string();
            let dirty = Command::new("git")
                .args(["status", "--porcelain", "--untracked-files=no"])
                .current_dir(&root)
                .output()
                .ok()
                .is_some_and(|status| !status.stdout.is_empty());
            (output.status.success() && !commit.is_empty()).then(|| {
                if dirty {
                    format!("{commit}-modified")
                } else {
                    commit
                }
            })
        });
    println!(
        "cargo:rustc-env=ESTATE_COMMIT={}",
        commit.unwrap_or_else(|| "unknown commit".into())
    );
}
