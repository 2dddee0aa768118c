//! Embeds the built web app (`web/dist`) into the binary: one `include_bytes!` per file, and for
//! text files worth it a gzip copy made here (best level), so the box never compresses at run time.

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

/// Text types compress well; images and fonts are compressed already.
const COMPRESSIBLE: &[&str] = &["html", "js", "mjs", "css", "svg", "json", "map", "webmanifest", "txt"];

/// Writes `FILE.gz` next to `file` when gzip makes it smaller by at least a tenth.
fn gzip_copy(file: &Path) -> Option<PathBuf> {
    use std::io::Write as _;
    let ext = file.extension()?.to_str()?;
    if !COMPRESSIBLE.contains(&ext) {
        return None;
    }
    let raw = std::fs::read(file).ok()?;
    if raw.len() < 1024 {
        return None;
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&raw).ok()?;
    let gz = enc.finish().ok()?;
    if gz.len() * 10 > raw.len() * 9 {
        return None;
    }
    let mut name = file.as_os_str().to_owned();
    name.push(".gz");
    let out = PathBuf::from(name);
    std::fs::write(&out, gz).ok()?;
    Some(out)
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
    let mut code = String::from("pub static ASSETS: &[(&str, &[u8], Option<&[u8]>)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&dist).expect("under dist").to_string_lossy().replace('\\', "/");
        let dest = snap.join(&rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        if std::fs::copy(f, &dest).is_err() {
            continue;
        }
        let gz = gzip_copy(&dest).map(|p| format!("Some(include_bytes!({:?}))", p.display().to_string()));
        let _ = writeln!(
            code,
            "    ({:?}, include_bytes!({:?}), {}),",
            format!("/{rel}"),
            dest.display().to_string(),
            gz.as_deref().unwrap_or("None")
        );
    }
    code.push_str("];\n");
    if !files.iter().any(|f| f.ends_with("index.html")) {
        println!("cargo:warning=web/dist has no index.html: the web app is not embedded (run `make web`)");
    }
    let out = out_dir.join("assets.rs");
    std::fs::write(out, code).expect("write assets.rs");
}
