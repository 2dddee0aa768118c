//! The release manager's tool: keys, bundles and the update feed's signed metadata. It runs on
//! the release machine; private keys never go on the box.
//!
//! ```text
//! spot-ota keygen NAME                      NAME.key (private, mode 0600) and NAME.pub
//! spot-ota sign --key K --version V --board B --image rootfs=PATH [--image boot/F=PATH] -o OUT
//! spot-ota verify BUNDLE --root root.json   signature, manifest and every payload block
//! spot-ota inspect BUNDLE                   what a bundle says, without trusting it
//! spot-ota repo init|add|remove|refresh|rotate|status DIR ...
//! ```
//!
//! Errors print `spot-ota: <code>: <words>` and exit 1 (2 for usage).

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use ota::bundle::{self, Meta};
use ota::feed::{Lifetimes, Repo, RoleKeys, RootKeys, DAY};
use ota::feed::{self, TargetCustom, TargetEntry, TrustedState};
use ota::keys::{Envelope, KeyId, PrivateKey, PublicKey, Role};
use ota::manifest::{self, Manifest};
use ota::{Error, Kind, Result, Version};

/// Checks the argument definitions (clap's debug asserts) for every subcommand.
#[cfg(test)]
#[test]
fn cli_definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

#[derive(Parser)]
#[command(name = "spot-ota", about = "Spot box update bundles, keys and feed metadata", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a signing key: NAME.key (private, 0600) and NAME.pub.
    Keygen { name: PathBuf },
    /// Build and sign a bundle from images.
    Sign(SignArgs),
    /// Check a bundle's signature and every block of its payload.
    Verify(VerifyArgs),
    /// Print what a bundle's manifest says (not verified).
    Inspect {
        bundle: PathBuf,
        /// The manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The update feed's signed metadata.
    #[command(subcommand)]
    Repo(RepoCmd),
}

#[derive(Args)]
struct SignArgs {
    /// Private key(s) of the targets role.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    #[arg(long)]
    version: Version,
    /// Board the bundle installs on (repeat for more).
    #[arg(long = "board", required = true)]
    boards: Vec<String>,
    /// The box must run at least this version to install it.
    #[arg(long)]
    min_version: Option<Version>,
    /// Release notes (text), or @FILE.
    #[arg(long, default_value = "")]
    notes: String,
    /// Raspberry Pi 4 bootloader EEPROM release the bundle needs (YYYY-MM-DD).
    #[arg(long)]
    needs_eeprom: Option<String>,
    /// NAME=PATH: `rootfs=` the root slot image, `boot/FILE=` a boot partition file.
    #[arg(long = "image", required = true)]
    images: Vec<String>,
    /// Seconds since the epoch to record as the build time (reproducible builds:
    /// SOURCE_DATE_EPOCH).
    #[arg(long, env = "SOURCE_DATE_EPOCH")]
    created: Option<u64>,
    #[arg(short, long)]
    out: PathBuf,
}

#[derive(Args)]
struct VerifyArgs {
    bundle: PathBuf,
    #[command(flatten)]
    trust: Trust,
    /// Also apply the box's policy as if installed on this board ...
    #[arg(long)]
    board: Option<String>,
    /// ... running this version.
    #[arg(long, requires = "board")]
    running: Option<Version>,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct Trust {
    /// The feed's root.json (as on the box): its targets role must have signed.
    #[arg(long)]
    root: Option<PathBuf>,
    /// A public (or private) key file that must have signed.
    #[arg(long = "pub")]
    public: Option<PathBuf>,
}

#[derive(Subcommand)]
enum RepoCmd {
    /// Create a feed: root version 1, signed with the offline root key(s).
    Init {
        dir: PathBuf,
        #[command(flatten)]
        keys: RoleKeyArgs,
        /// Private root key(s) that sign it (a threshold of --root-pub).
        #[arg(long = "root-key", required = true)]
        root_keys: Vec<PathBuf>,
        /// Days the root stays valid.
        #[arg(long, default_value_t = 365)]
        root_days: u64,
    },
    /// Add (or replace) a bundle and sign targets, snapshot and timestamp anew.
    Add {
        dir: PathBuf,
        bundle: PathBuf,
        /// The name in the feed (default: the bundle's file name). The bundle is copied into
        /// DIR/bundles/NAME.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        online: OnlineKeys,
    },
    /// Remove a bundle from the feed and sign anew.
    Remove {
        dir: PathBuf,
        name: String,
        #[command(flatten)]
        online: OnlineKeys,
    },
    /// Sign a new timestamp (run before it expires, e.g. daily from cron).
    Refresh {
        dir: PathBuf,
        #[arg(long = "timestamp-key", required = true)]
        timestamp_key: Vec<PathBuf>,
    },
    /// Root version N+1 with these keys, signed by the old and the new root keys; then the
    /// other metadata signed again with the (new) online keys.
    Rotate {
        dir: PathBuf,
        #[command(flatten)]
        keys: RoleKeyArgs,
        /// Private keys of the current root (a threshold of them).
        #[arg(long = "old-root-key", required = true)]
        old_root_keys: Vec<PathBuf>,
        /// Private keys of the new root (a threshold of --root-pub).
        #[arg(long = "root-key", required = true)]
        root_keys: Vec<PathBuf>,
        #[arg(long, default_value_t = 365)]
        root_days: u64,
        #[command(flatten)]
        online: OnlineKeys,
    },
    /// Versions, expiry and bundles of a feed.
    Status { dir: PathBuf },
}

#[derive(Args)]
struct RoleKeyArgs {
    /// Root role key files (public or private; repeat for more).
    #[arg(long = "root-pub", required = true)]
    root_pub: Vec<PathBuf>,
    #[arg(long, default_value_t = 1)]
    root_threshold: u32,
    #[arg(long = "targets-pub", required = true)]
    targets_pub: Vec<PathBuf>,
    #[arg(long = "snapshot-pub", required = true)]
    snapshot_pub: Vec<PathBuf>,
    #[arg(long = "timestamp-pub", required = true)]
    timestamp_pub: Vec<PathBuf>,
}

#[derive(Args)]
struct OnlineKeys {
    #[arg(long = "targets-key", required = true)]
    targets_key: Vec<PathBuf>,
    #[arg(long = "snapshot-key", required = true)]
    snapshot_key: Vec<PathBuf>,
    #[arg(long = "timestamp-key", required = true)]
    timestamp_key: Vec<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let out = match cli.cmd {
        Cmd::Keygen { name } => keygen(&name),
        Cmd::Sign(a) => sign(a),
        Cmd::Verify(a) => verify(a),
        Cmd::Inspect { bundle, json } => inspect(&bundle, json),
        Cmd::Repo(r) => repo(r),
    };
    if let Err(e) = out {
        eprintln!("spot-ota: {}: {}", e.code(), e.message);
        std::process::exit(1);
    }
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::new(Kind::Io, format!("{what}: {e}"))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(io(path.display()))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Writes a file whole or not at all (temporary file, fsync, rename).
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let tmp = path.with_extension("tmp~");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io(tmp.display()))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io(tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(io(path.display()))
}

fn private_key(path: &Path) -> Result<PrivateKey> {
    let text = String::from_utf8(read(path)?).map_err(|_| Error::new(Kind::Malformed, format!("{} is not a key file", path.display())))?;
    PrivateKey::from_file(&text).map_err(|e| Error::new(e.kind, format!("{}: {e}", path.display())))
}

fn private_keys(paths: &[PathBuf]) -> Result<Vec<PrivateKey>> {
    paths.iter().map(|p| private_key(p)).collect()
}

/// A public key from a `.pub` file, or the public half of a `.key` file.
fn public_key(path: &Path) -> Result<PublicKey> {
    let bytes = read(path)?;
    if let Ok(k) = serde_json::from_slice::<PublicKey>(&bytes) {
        return Ok(k);
    }
    Ok(private_key(path)?.public())
}

fn role_keys(paths: &[PathBuf], threshold: u32) -> Result<RoleKeys> {
    Ok(RoleKeys { keys: paths.iter().map(|p| public_key(p)).collect::<Result<_>>()?, threshold })
}

fn keygen(name: &Path) -> Result<()> {
    let key = PrivateKey::generate()?;
    let private = name.with_extension("key");
    let public = name.with_extension("pub");
    if private.exists() {
        return Err(Error::new(Kind::Busy, format!("{} exists: not overwriting a key", private.display())));
    }
    write_atomic(&private, key.to_file().as_bytes(), true)?;
    let pub_text = serde_json::to_string_pretty(&key.public()).map_err(|e| Error::new(Kind::Io, e.to_string()))?;
    write_atomic(&public, pub_text.as_bytes(), false)?;
    println!("key {}\n  private {} (keep it offline)\n  public  {}", key.id(), private.display(), public.display());
    Ok(())
}

fn sign(a: SignArgs) -> Result<()> {
    let keys = private_keys(&a.keys)?;
    let mut images = vec![];
    for spec in &a.images {
        let (name, path) = spec
            .split_once('=')
            .ok_or_else(|| Error::new(Kind::Malformed, format!("--image {spec:?}: write NAME=PATH")))?;
        images.push((name.to_string(), PathBuf::from(path)));
    }
    let notes = match a.notes.strip_prefix('@') {
        Some(file) => String::from_utf8_lossy(&read(Path::new(file))?).into_owned(),
        None => a.notes,
    };
    let meta = Meta {
        version: a.version,
        boards: a.boards,
        min_version: a.min_version,
        created: a.created.unwrap_or_else(now),
        notes,
        needs_eeprom: a.needs_eeprom,
    };
    let tmp = a.out.with_extension("part~");
    let mut f = std::fs::File::create(&tmp).map_err(io(tmp.display()))?;
    let signers: Vec<&PrivateKey> = keys.iter().collect();
    let v = {
        let mut w = std::io::BufWriter::new(&mut f);
        let v = bundle::build(&mut w, &meta, &images, &signers)?;
        w.flush().map_err(io(tmp.display()))?;
        v
    };
    f.sync_all().map_err(io(tmp.display()))?;
    std::fs::rename(&tmp, &a.out).map_err(io(a.out.display()))?;
    let total: u64 = v.images.iter().map(|i| i.size).sum();
    println!(
        "{}: version {} for {}, {} image(s) of {} bytes, payload {} bytes in {} blocks",
        a.out.display(),
        v.manifest.version,
        v.manifest.boards.join(", "),
        v.images.len(),
        total,
        v.manifest.payload_len,
        v.distinct.len()
    );
    Ok(())
}

fn trust(t: &Trust) -> Result<(BTreeMap<KeyId, PublicKey>, Role)> {
    if let Some(root) = &t.root {
        let state = TrustedState::new(&read(root)?)?;
        let (k, r) = state.targets_role();
        return Ok((k.clone(), r.clone()));
    }
    let key = public_key(t.public.as_deref().unwrap_or(Path::new("")))?;
    Ok((BTreeMap::from([(key.id(), key.clone())]), Role { keyids: vec![key.id()], threshold: 1 }))
}

fn verify(a: VerifyArgs) -> Result<()> {
    let (keys, role) = trust(&a.trust)?;
    let mut r = BufReader::new(std::fs::File::open(&a.bundle).map_err(io(a.bundle.display()))?);
    let envelope = bundle::read_header(&mut r)?;
    let v = match &a.board {
        Some(board) => {
            let running = a.running.unwrap_or(Version(0, 0, 0));
            let installed = manifest::Installed { board: board.clone(), version: running, floor: running, eeprom: None };
            ota::check::check_bundle(&envelope, (&keys, &role), &installed, None)?
        }
        None => manifest::verify(&envelope, &keys, &role)?,
    };
    let all: Vec<usize> = (0..v.images.len()).collect();
    let mut asm = ota::assemble::Assembler::new(&v, &all, |_| true);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf).map_err(io(a.bundle.display()))?;
        if n == 0 {
            break;
        }
        let mut at = 0;
        while at < n {
            at += asm.feed(&buf[at..n])?;
            if asm.ready().is_some() {
                asm.consumed();
            }
        }
    }
    asm.finish()?;
    println!(
        "{}: good: version {} for {}, signed by {} key(s) of the targets role, {} blocks checked",
        a.bundle.display(),
        v.manifest.version,
        v.manifest.boards.join(", "),
        role.threshold,
        v.distinct.len()
    );
    Ok(())
}

fn inspect(path: &Path, json: bool) -> Result<()> {
    let mut r = BufReader::new(std::fs::File::open(path).map_err(io(path.display()))?);
    let envelope = bundle::read_header(&mut r)?;
    let env = Envelope::parse(&envelope)?;
    let m: Manifest = env.parse_signed("the manifest")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&m).map_err(|e| Error::new(Kind::Io, e.to_string()))?);
        return Ok(());
    }
    println!("bundle     {} (not verified: use `spot-ota verify`)", path.display());
    println!("version    {}", m.version);
    println!("boards     {}", m.boards.join(", "));
    if let Some(v) = m.min_version {
        println!("needs      version {v} or later installed");
    }
    if let Some(e) = &m.needs_eeprom {
        println!("eeprom     {e} or later (Pi 4 bootloader)");
    }
    println!("created    {}", m.created);
    println!("payload    {} bytes", m.payload_len);
    println!("manifest   {} bytes, sha256 {}", envelope.len(), feed::sha256_hex(&envelope));
    for i in &m.images {
        println!("image      {:<24} {:>12} bytes  sha256 {}", i.name, i.size, i.sha256);
    }
    if !m.notes.is_empty() {
        println!("notes\n{}", m.notes);
    }
    Ok(())
}

/// The feed directory's metadata files, as far as they exist.
struct Dir(PathBuf);

impl Dir {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.0.join(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(self.0.join(name).display())(e)),
        }
    }
    fn load(&self) -> Result<Repo> {
        let root = self
            .get(feed::ROOT_FILE)?
            .ok_or_else(|| Error::new(Kind::Malformed, format!("{} has no root.json: run `spot-ota repo init`", self.0.display())))?;
        let t = self.get(feed::TARGETS_FILE)?;
        let s = self.get(feed::SNAPSHOT_FILE)?;
        let ts = self.get(feed::TIMESTAMP_FILE)?;
        Repo::load(&root, t.as_deref(), s.as_deref(), ts.as_deref())
    }
    /// Writes in the given order (the timestamp, which clients fetch first, last).
    fn write(&self, files: &[(String, Vec<u8>)]) -> Result<()> {
        for (name, bytes) in files {
            write_atomic(&self.0.join(name), bytes, false)?;
            println!("wrote {}", self.0.join(name).display());
        }
        Ok(())
    }
}

fn publish(repo: &mut Repo, online: &OnlineKeys) -> Result<Vec<(String, Vec<u8>)>> {
    let t = private_keys(&online.targets_key)?;
    let s = private_keys(&online.snapshot_key)?;
    let ts = private_keys(&online.timestamp_key)?;
    let t: Vec<&PrivateKey> = t.iter().collect();
    let s: Vec<&PrivateKey> = s.iter().collect();
    let ts: Vec<&PrivateKey> = ts.iter().collect();
    repo.publish(&t, &s, &ts, now(), &Lifetimes::default())
}

fn repo(cmd: RepoCmd) -> Result<()> {
    match cmd {
        RepoCmd::Init { dir, keys, root_keys, root_days } => {
            std::fs::create_dir_all(dir.join("bundles")).map_err(io(dir.display()))?;
            let d = Dir(dir);
            if d.get(feed::ROOT_FILE)?.is_some() {
                return Err(Error::new(Kind::Busy, format!("{} already holds a feed", d.0.display())));
            }
            let rk = root_keys_of(&keys)?;
            let signers = private_keys(&root_keys)?;
            let signers: Vec<&PrivateKey> = signers.iter().collect();
            let (_, files) = Repo::create(&rk, &signers, now() + root_days * DAY)?;
            d.write(&files)?;
            println!("put {} on the box (the image's /usr/share/spot/ota/root.json)", d.0.join(feed::ROOT_FILE).display());
            Ok(())
        }
        RepoCmd::Add { dir, bundle: path, name, online } => {
            let d = Dir(dir);
            let mut repo = d.load()?;
            let name = match name {
                Some(n) => n,
                None => path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string(),
            };
            feed::check_target_name(&name)?;
            let entry = target_entry(&path)?;
            let dest = d.0.join("bundles").join(&name);
            std::fs::create_dir_all(d.0.join("bundles")).map_err(io(d.0.display()))?;
            if dest != path {
                let tmp = dest.with_extension("part~");
                std::fs::copy(&path, &tmp).map_err(io(path.display()))?;
                std::fs::rename(&tmp, &dest).map_err(io(dest.display()))?;
            }
            let version = entry.custom.version;
            repo.set_target(&name, entry)?;
            let files = publish(&mut repo, &online)?;
            d.write(&files)?;
            println!("feed lists {name} (version {version})");
            Ok(())
        }
        RepoCmd::Remove { dir, name, online } => {
            let d = Dir(dir);
            let mut repo = d.load()?;
            if repo.remove_target(&name).is_none() {
                return Err(Error::new(Kind::Malformed, format!("the feed lists no {name:?}")));
            }
            let files = publish(&mut repo, &online)?;
            d.write(&files)
        }
        RepoCmd::Refresh { dir, timestamp_key } => {
            let d = Dir(dir);
            let mut repo = d.load()?;
            let ts = private_keys(&timestamp_key)?;
            let ts: Vec<&PrivateKey> = ts.iter().collect();
            let bytes = repo.sign_timestamp(&ts, now() + Lifetimes::default().timestamp)?;
            d.write(&[(feed::TIMESTAMP_FILE.to_string(), bytes)])
        }
        RepoCmd::Rotate { dir, keys, old_root_keys, root_keys, root_days, online } => {
            let d = Dir(dir);
            let mut repo = d.load()?;
            let rk = root_keys_of(&keys)?;
            let old = private_keys(&old_root_keys)?;
            let new = private_keys(&root_keys)?;
            let old: Vec<&PrivateKey> = old.iter().collect();
            let new: Vec<&PrivateKey> = new.iter().collect();
            let mut files = repo.rotate_root(&rk, &old, &new, now() + root_days * DAY)?;
            files.extend(publish(&mut repo, &online)?);
            d.write(&files)
        }
        RepoCmd::Status { dir } => status(&Dir(dir)),
    }
}

fn root_keys_of(k: &RoleKeyArgs) -> Result<RootKeys> {
    Ok(RootKeys {
        root: role_keys(&k.root_pub, k.root_threshold)?,
        targets: role_keys(&k.targets_pub, 1)?,
        snapshot: role_keys(&k.snapshot_pub, 1)?,
        timestamp: role_keys(&k.timestamp_pub, 1)?,
    })
}

/// The feed entry of a bundle file: its length and hash, and what its manifest says.
fn target_entry(path: &Path) -> Result<TargetEntry> {
    let bytes_len = std::fs::metadata(path).map_err(io(path.display()))?.len();
    let mut r = BufReader::new(std::fs::File::open(path).map_err(io(path.display()))?);
    let envelope = bundle::read_header(&mut r)?;
    let m: Manifest = Envelope::parse(&envelope)?.parse_signed("the manifest")?;
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut f = std::fs::File::open(path).map_err(io(path.display()))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io(path.display()))?;
        if n == 0 {
            break;
        }
        sha2::Digest::update(&mut hasher, &buf[..n]);
    }
    Ok(TargetEntry {
        length: bytes_len,
        sha256: hex::encode(sha2::Digest::finalize(hasher)),
        custom: TargetCustom {
            version: m.version,
            boards: m.boards,
            min_version: m.min_version,
            notes: m.notes,
            manifest_sha256: feed::sha256_hex(&envelope),
            manifest_len: envelope.len() as u64,
        },
    })
}

fn status(d: &Dir) -> Result<()> {
    let repo = d.load()?;
    let at = now();
    let left = |expires: u64| {
        if expires <= at {
            "EXPIRED".to_string()
        } else {
            format!("{} days left", (expires - at) / DAY)
        }
    };
    let root = repo.root();
    println!("root       version {}, {}", root.version, left(root.expires));
    for (what, file) in [("targets", feed::TARGETS_FILE), ("snapshot", feed::SNAPSHOT_FILE), ("timestamp", feed::TIMESTAMP_FILE)] {
        match d.get(file)? {
            Some(bytes) => {
                let v: serde_json::Value = Envelope::parse(&bytes)?.parse_signed(file)?;
                let version = v["version"].as_u64().unwrap_or(0);
                let expires = v["expires"].as_u64().unwrap_or(0);
                println!("{what:<10} version {version}, {}", left(expires));
            }
            None => println!("{what:<10} not signed yet"),
        }
    }
    for (name, t) in &repo.targets().targets {
        println!("bundle     {name}: version {} for {}, {} bytes", t.custom.version, t.custom.boards.join(", "), t.length);
    }
    Ok(())
}
