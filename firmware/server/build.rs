//! Embeds the built web app (`web/dist`) into the binary: one `include_bytes!` per file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let dist = std::env::var("SPOT_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../../web/dist"));
    println!("cargo:rerun-if-env-changed=SPOT_WEB_DIST");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    walk(&dist, &mut files);
    // Copy a snapshot into OUT_DIR so a web rebuild during compilation cannot pull files away.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let snap = out_dir.join("web");
    let _ = std::fs::remove_dir_all(&snap);
    let mut code = String::from("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&dist).expect("under dist").to_string_lossy().replace('\\', "/");
        let dest = snap.join(&rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        if std::fs::copy(f, &dest).is_err() {
            continue;
        }
        let _ = writeln!(code, "    ({:?}, include_bytes!({:?})),", format!("/{rel}"), dest.display().to_string());
    }
    code.push_str("];\n");
    if !files.iter().any(|f| f.ends_with("index.html")) {
        println!("cargo:warning=web/dist has no index.html: the web app is not embedded (run `make web`)");
    }
    let out = out_dir.join("assets.rs");
    std::fs::write(out, code).expect("write assets.rs");
}
