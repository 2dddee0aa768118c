//! Music from web addresses: what a URL is (an audio file, a radio station, a playlist — or
//! nothing the box plays) and the task that streams it into the player. Every byte comes
//! through `fetch` (its media rule: ports from 1024 on public addresses, LAN servers only by
//! the admin's `host:port` allowlist entry), and every refusal becomes words for the chat.
//!
//! The room task never waits on the network here: looking a URL up runs in the lookup task,
//! and playing hands the player an opener whose body task ([`pump`]) does the fetching.

use crate::AppState;
use audio::stream::{IcyParser, StreamWriter, TrySendError};
use fetch::{BodyStream, Reason, Refused, StreamHead, StreamOptions};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Source keys of web tracks: `url:<the address>`.
pub const URL_SCHEME: &str = "url:";

/// Addresses a playlist may add at most (the rest are left out).
const PLAYLIST_ENTRIES: usize = 10;
/// The stream's buffer between the body task and the decoder (about 4 s of 128 kbit/s). Small,
/// because an ICY title reaches the player when its bytes are read off the network, ahead of
/// the audio still in this buffer.
const STREAM_BUFFER: usize = 64 * 1024;
/// The decoder reports `stalled` after this long without bytes; the body's own idle timeout
/// is a little longer, so a stall is told in the player's words.
const DECODE_IDLE: Duration = Duration::from_secs(8);
const FETCH_IDLE: Duration = Duration::from_secs(12);
/// How long the decode thread waits for the response head.
const HEAD_WAIT: Duration = Duration::from_secs(20);
/// A lookup reads at most this long (a playlist's body, once the head is there).
const READ_BUDGET: Duration = Duration::from_secs(10);

/// Types a URL may answer with when it is looked up.
fn lookup_types() -> Vec<String> {
    ["audio/*", "application/ogg", "application/octet-stream", "text/plain"]
        .into_iter()
        .chain(PLAYLIST_TYPES.iter().copied())
        .map(str::to_owned)
        .collect()
}

/// Types that are played (a playlist or text is never fed to the decoder).
pub fn audio_types() -> Vec<String> {
    ["audio/*", "application/ogg", "application/octet-stream"].into_iter().map(str::to_owned).collect()
}

const PLAYLIST_TYPES: &[&str] = &[
    "audio/x-mpegurl",
    "audio/mpegurl",
    "application/x-mpegurl",
    "application/mpegurl",
    "application/vnd.apple.mpegurl",
    "audio/x-scpls",
    "application/pls+xml",
];

const AUDIO_EXTS: &[&str] = &["mp3", "ogg", "oga", "opus", "flac", "m4a", "aac", "wav", "mp4"];

/// Sites whose pages are not audio and whose streams need their own client: never fetched.
fn unsupported_site(url: &url::Url) -> Option<&'static str> {
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    let sites: &[(&str, &'static str)] = &[
        ("youtube.com", "YouTube"),
        ("youtu.be", "YouTube"),
        ("youtube-nocookie.com", "YouTube"),
        ("soundcloud.com", "SoundCloud"),
        ("spotify.com", "Spotify"),
        ("spotify.link", "Spotify"),
        ("music.apple.com", "Apple Music"),
        ("deezer.com", "Deezer"),
        ("tidal.com", "Tidal"),
        ("twitch.tv", "Twitch"),
        ("vimeo.com", "Vimeo"),
        ("bandcamp.com", "Bandcamp"),
    ];
    sites.iter().find(|(s, _)| host == *s || host.ends_with(&format!(".{s}"))).map(|(_, name)| *name)
}

/// What a refused fetch means, for people.
pub fn refused_words(e: &Refused) -> String {
    let port = url::Url::parse(&e.url).ok().and_then(|u| u.port_or_known_default().map(|p| (u.host_str().unwrap_or("").to_owned(), p)));
    let hostport = port.as_ref().map(|(h, p)| format!("{h}:{p}")).unwrap_or_else(|| "host:port".into());
    match e.reason {
        Reason::BadUrl => "That web address cannot be read.".into(),
        Reason::SchemeNotAllowed => "Only http:// and https:// addresses can be played.".into(),
        Reason::UserinfoNotAllowed => "Addresses with a user name or password cannot be played.".into(),
        Reason::PortNotAllowed | Reason::PrivateAddress | Reason::OwnAddress => match port {
            Some((_, p)) if p < fetch::MEDIA_MIN_PORT && p != 80 && p != 443 => {
                format!("The box does not play from port {p}; music comes over ports 80, 443 or 1024 and up.")
            }
            _ => format!(
                "That address is on the local network (or the box itself), which the box does not reach on its own. \
                 An admin can allow it by adding “{hostport}” to the allowlist under Admin → Settings."
            ),
        },
        Reason::DnsFailed => "That web site's name could not be found.".into(),
        Reason::ConnectFailed => "The server could not be reached.".into(),
        Reason::TlsFailed => "The server's secure connection (TLS) could not be verified.".into(),
        Reason::Timeout => "The server took too long to answer.".into(),
        Reason::HttpError => "The server broke off the connection.".into(),
        Reason::HttpStatus => format!("The server refused ({}).", e.detail.trim_start_matches("status ")),
        Reason::BadRedirect | Reason::TooManyRedirects => "That address redirects too often or to nowhere.".into(),
        Reason::BadContentType => "That page is not an audio file or a playlist.".into(),
        Reason::BadContentEncoding => "The server sends the audio compressed in a way the box does not read.".into(),
        Reason::TooLarge => "The server's answer is too large.".into(),
        _ => "The server's answer could not be used.".into(),
    }
}

/// The fetcher for music: the admin's allowlist, the box's public address counted as its own.
pub async fn fetcher(state: &Arc<AppState>) -> Result<fetch::Fetcher, String> {
    let settings = state.db(|store| store.settings()).await.map_err(|_| "The box's settings could not be read just now; try again.".to_owned())?;
    let allow = fetch::Allowlist::parse(&settings.embed_allowlist).unwrap_or_default();
    let public = state.identity.public_addrs(state).await;
    Ok(fetch::Fetcher::new(fetch::Policy::with_allowlist(allow)).with_own_addrs(Arc::new(fetch::SystemAndExtra(public))))
}

/// `!play <url>`: one track, or a playlist's first entries (a radio playlist's mirrors of one
/// station are alternatives: when its first entry is live, only that one is queued).
pub async fn url_tracks(state: &Arc<AppState>, raw: &str) -> Result<Vec<dj::TrackInfo>, String> {
    let url = url::Url::parse(raw.trim()).map_err(|_| "That web address cannot be read.".to_owned())?;
    if let Some(site) = unsupported_site(&url) {
        return Err(format!("{site} is not supported: the box plays audio files, internet radio and playlists from web addresses, and its music library."));
    }
    let f = fetcher(state).await?;
    let urls = match look(&f, url.as_str()).await? {
        Found::Audio(t) => return Ok(vec![t]),
        Found::Playlist(urls) => urls,
    };
    let total = urls.len();
    let (mut tracks, mut first_err) = (Vec::new(), None);
    for entry in urls.iter().take(PLAYLIST_ENTRIES) {
        match look(&f, entry).await {
            Ok(Found::Audio(t)) => {
                let live = t.live;
                tracks.push(t);
                if live && tracks.len() == 1 {
                    break;
                }
            }
            Ok(Found::Playlist(_)) => {
                first_err.get_or_insert_with(|| "it lists another playlist".to_owned());
            }
            Err(w) => {
                first_err.get_or_insert(w);
            }
        }
    }
    if tracks.is_empty() {
        return Err(format!(
            "None of the playlist's first {} addresses could be played ({}).",
            total.min(PLAYLIST_ENTRIES),
            first_err.unwrap_or_default().trim_end_matches('.')
        ));
    }
    tracing::info!(playlist = %url, entries = total, queued = tracks.len(), "playlist resolved");
    Ok(tracks)
}

enum Found {
    Audio(dj::TrackInfo),
    Playlist(Vec<String>),
}

/// Opens `url`, reads its head (and a playlist's body), closes it again.
async fn look(f: &fetch::Fetcher, url: &str) -> Result<Found, String> {
    let opts = StreamOptions { accept: lookup_types(), headers: icy_request(), idle_timeout: READ_BUDGET, ..StreamOptions::default() };
    let (head, body) = f.get_stream(url, &opts).await.map_err(|e| refused_words(&e))?;
    let ext = extension(&head.url);
    let mime = head.content_type.as_str();
    let playlist = PLAYLIST_TYPES.contains(&mime)
        || mime == "text/plain"
        || (mime == "application/octet-stream" && matches!(ext.as_deref(), Some("m3u" | "m3u8" | "pls")));
    if playlist {
        let bytes = read_some(body, audio::playlist::MAX_BYTES).await?;
        let text = String::from_utf8_lossy(&bytes);
        if text.contains("#EXT-X-") {
            return Err("That is an HLS stream (segments, not one stream), which the box does not play; try the station's Icecast or SHOUTcast address.".into());
        }
        let urls = audio::playlist::parse_playlist(&bytes);
        if urls.is_empty() {
            return Err(if mime == "text/plain" { "That page is not an audio file or a playlist.".into() } else { "That playlist lists no web addresses the box can play.".into() });
        }
        return Ok(Found::Playlist(urls));
    }
    if mime == "application/octet-stream" && !ext.as_deref().is_some_and(|e| AUDIO_EXTS.contains(&e)) {
        return Err("That page is not an audio file or a playlist.".into());
    }
    drop(body);
    Ok(Found::Audio(track_info(url, &head)))
}

fn icy_request() -> Vec<(String, String)> {
    vec![("Icy-MetaData".into(), "1".into())]
}

fn extension(url: &url::Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    let (_, ext) = last.rsplit_once('.')?;
    Some(ext.to_ascii_lowercase())
}

/// The first `max` bytes of a body (a playlist), within [`READ_BUDGET`].
async fn read_some(mut body: BodyStream, max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let read = async {
        while out.len() < max {
            match body.next_chunk().await {
                Ok(Some(c)) => out.extend_from_slice(&c[..c.len().min(max - out.len())]),
                Ok(None) => break,
                Err(e) => return Err(refused_words(&e)),
            }
        }
        Ok(())
    };
    match tokio::time::timeout(READ_BUDGET, read).await {
        Ok(r) => r.map(|()| out),
        Err(_) => Err("The server took too long to send the playlist.".into()),
    }
}

fn track_info(url: &str, head: &StreamHead) -> dj::TrackInfo {
    let icy = ["icy-metaint", "icy-name", "icy-br", "icy-genre", "icy-description"].iter().any(|h| head.headers.contains_key(*h));
    let live = icy || head.content_length.is_none();
    let name = head.header("icy-name").filter(|n| !n.is_empty()).map(|n| n.chars().take(200).collect::<String>());
    let title = name.unwrap_or_else(|| {
        let last = head.url.path_segments().and_then(|mut s| s.next_back()).unwrap_or("");
        let file = percent_decode(last);
        if file.trim().is_empty() {
            head.url.host_str().unwrap_or("Web stream").to_owned()
        } else {
            audio::scan::title_from_file_name(&file)
        }
    });
    dj::TrackInfo {
        source: format!("{URL_SCHEME}{url}"),
        title,
        artist: None,
        album: None,
        duration_ms: None,
        cover: None,
        live,
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A stream for the player: what to fetch (worked out by the body task, not the room task).
pub struct Stream {
    pub target: Target,
    pub state: Weak<AppState>,
}

pub enum Target {
    /// A web address (ICY metadata asked for).
    Url(String),
    /// A Jellyfin track's source key.
    Jellyfin(String),
}

/// The player's opener for `stream`: starts the body task now; on the decode thread, waits for
/// the head and hands the decoder the stream with the hint from its `Content-Type`.
pub fn opener(stream: Stream, id: audio::player::EntryId, player: Weak<audio::player::Player>) -> audio::player::Opener {
    let (writer, source) = audio::stream::stream_channel(STREAM_BUFFER, DECODE_IDLE);
    let (head_tx, head_rx) = std::sync::mpsc::sync_channel::<Result<(String, Option<String>), String>>(1);
    tokio::spawn(pump(stream, writer, head_tx, id, player));
    Box::new(move || match head_rx.recv_timeout(HEAD_WAIT) {
        Ok(Ok((mime, ext))) => {
            let mut hint = audio::scan::hint_for_mime(&mime);
            // `application/octet-stream` says nothing; the file name may.
            if let Some(e) = ext.filter(|e| AUDIO_EXTS.contains(&e.as_str())) {
                hint.with_extension(&e);
            }
            Ok((Box::new(source) as Box<dyn audio::MediaSource>, hint))
        }
        Ok(Err(words)) => Err(audio::AudioError::Io(words)),
        Err(_) => Err(audio::AudioError::Stalled),
    })
}

/// The body task: the response into the player's stream (ICY metadata stripped, its titles
/// to the player). Ends when the body ends (end of track), fails (the player says why), or
/// the player stops listening (the stream's reader is gone) — whichever comes first.
async fn pump(
    stream: Stream,
    mut writer: StreamWriter,
    head_tx: std::sync::mpsc::SyncSender<Result<(String, Option<String>), String>>,
    id: audio::player::EntryId,
    player: Weak<audio::player::Player>,
) {
    let Some(state) = stream.state.upgrade() else { return };
    let prepared = async {
        let (url, headers) = match stream.target {
            Target::Url(u) => (u, icy_request()),
            Target::Jellyfin(key) => super::jellyfin::stream_request(&state, &key).await?,
        };
        Ok::<_, String>((fetcher(&state).await?, url, headers))
    };
    let (f, url, headers) = match prepared.await {
        Ok(p) => p,
        Err(w) => return drop(head_tx.send(Err(w.trim_end_matches('.').to_owned()))),
    };
    drop(state);
    let opts = StreamOptions { accept: audio_types(), headers, idle_timeout: FETCH_IDLE, ..StreamOptions::default() };
    let (head, mut body) = match f.get_stream(&url, &opts).await {
        Ok(x) => x,
        Err(e) => return drop(head_tx.send(Err(refused_words(&e).trim_end_matches('.').to_owned()))),
    };
    let mut icy = head.header("icy-metaint").and_then(IcyParser::from_header);
    if head_tx.send(Ok((head.content_type.clone(), extension(&head.url)))).is_err() {
        return;
    }
    drop(head_tx);
    tracing::debug!(url = %head.url, icy = icy.is_some(), "music stream open");
    let why = pump_body(&mut body, &mut writer, &mut icy, id, &player).await;
    tracing::debug!(url = %head.url, bytes = body.received(), "music stream closed: {why:?}");
    if let Err(words) = why {
        writer.fail(words);
    }
}

/// Moves the body into the player's stream until one of them ends: `Ok` with why when it
/// ended cleanly (end of body, the player stopped listening), `Err` with words when it broke.
async fn pump_body(
    body: &mut BodyStream,
    writer: &mut StreamWriter,
    icy: &mut Option<IcyParser>,
    id: audio::player::EntryId,
    player: &Weak<audio::player::Player>,
) -> Result<&'static str, String> {
    // While the body is quiet, look every second whether the player still listens.
    let mut probe = tokio::time::interval(Duration::from_secs(1));
    loop {
        let chunk = {
            let next = body.next_chunk();
            tokio::pin!(next);
            loop {
                tokio::select! {
                    c = &mut next => break c,
                    _ = probe.tick() => if matches!(writer.try_send(Vec::new()), Err(TrySendError::Closed)) { return Ok("the player moved on") },
                }
            }
        };
        let bytes = match chunk {
            Ok(Some(b)) => b,
            Ok(None) => return Ok("the end of the body"),
            Err(e) => return Err(refused_words(&e).trim_end_matches('.').to_owned()),
        };
        let audio = match icy {
            Some(p) => {
                let out = p.feed(&bytes);
                for t in out.titles.into_iter().filter(|t| !t.trim().is_empty()) {
                    if let Some(p) = player.upgrade() {
                        p.stream_title(id, t.trim().chars().take(200).collect());
                    }
                }
                out.audio
            }
            None => bytes.to_vec(),
        };
        if writer.send(audio).await.is_err() {
            return Ok("the player moved on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_sites_are_named_and_never_fetched() {
        let site = |u: &str| unsupported_site(&url::Url::parse(u).expect("url"));
        assert_eq!(site("https://www.youtube.com/watch?v=x"), Some("YouTube"));
        assert_eq!(site("https://youtu.be/x"), Some("YouTube"));
        assert_eq!(site("https://music.YOUTUBE.com./x"), Some("YouTube"));
        assert_eq!(site("https://open.spotify.com/track/x"), Some("Spotify"));
        assert_eq!(site("https://notyoutube.com/x.mp3"), None);
        assert_eq!(site("http://radio.example:8000/stream"), None);
    }

    #[test]
    fn titles_come_from_the_file_name() {
        assert_eq!(percent_decode("My%20Song%2B1.mp3"), "My Song+1.mp3");
        assert_eq!(percent_decode("a+b.mp3"), "a+b.mp3");
        let ext = |u: &str| extension(&url::Url::parse(u).expect("url"));
        assert_eq!(ext("http://x/a/Station.PLS?x=1").as_deref(), Some("pls"));
        assert_eq!(ext("http://x/stream").as_deref(), None);
    }

    #[test]
    fn refusals_are_words_that_say_how_to_allow_a_lan_server() {
        let r = |reason, url: &str| refused_words(&Refused { reason, url: url.into(), detail: "status 404 Not Found".into() });
        let lan = r(Reason::PortNotAllowed, "http://192.168.1.20:8096/Items");
        assert!(lan.contains("192.168.1.20:8096") && lan.contains("allowlist"), "{lan}");
        assert!(r(Reason::PortNotAllowed, "http://radio.example:25/").contains("port 25"));
        assert_eq!(r(Reason::BadContentType, "http://x/"), "That page is not an audio file or a playlist.");
        assert!(r(Reason::HttpStatus, "http://x/").contains("404"));
    }
}
