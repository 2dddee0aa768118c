//! Chat lines into [`Command`]s, and the command table that `!help` reads.
//!
//! A line is for the DJ when it starts with the prefix directly followed by a letter: `! wow`,
//! `!!!` and `!1` are chat. Command words are case-insensitive; arguments are split on any
//! whitespace (newlines too) and joined again with single spaces.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::config::Config;
use crate::format::{parse_time, short};
use crate::model::LoopMode;

/// Longest command line (characters) the DJ reads; longer ones are refused in words.
pub const MAX_INPUT: usize = 500;

/// What to play.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    Url(String),
    /// A source key (`library:12`).
    Track(String),
    /// Words to search the library for; a bare number right after the person's `!search`
    /// picks from its results instead.
    Search(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PlaylistAction {
    Save { name: String },
    Load { name: String },
    List { page: usize },
    Delete { name: String },
}

/// A command, typed. Positions and pages count from 1, as people say them. Values are checked
/// when the command runs (so the UI's commands meet the same limits as typed ones).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    Play { query: Option<Query> },
    PlayNext { query: Query },
    PlayNow { query: Query },
    Search { query: String },
    Pick { n: usize },
    Skip,
    ForceSkip,
    SkipTo { n: usize },
    Pause,
    Resume,
    Stop,
    Queue { page: usize },
    NowPlaying,
    Volume { percent: Option<u32> },
    Seek { ms: u64 },
    Forward { ms: u64 },
    Rewind { ms: u64 },
    Replay,
    Shuffle,
    Loop { mode: Option<LoopMode> },
    Remove { n: usize },
    Move { from: usize, to: usize },
    Clear,
    RemoveDupes,
    History { page: usize },
    Prev,
    Playlist { action: PlaylistAction },
    FairQueue { on: Option<bool> },
    Help { topic: Option<String> },
}

/// Why a line that looked like a command is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// `!word` that is no command (answered in the room's chat only).
    Unknown { word: String, prefix: char },
    /// A known command with arguments it cannot take: the words say what it wants.
    Invalid(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unknown { word, prefix } => {
                write!(
                    f,
                    "Unknown command `{prefix}{word}` — `{prefix}help` lists them"
                )
            }
            ParseError::Invalid(words) => f.write_str(words),
        }
    }
}

impl std::error::Error for ParseError {}

/// One command in the table.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// Arguments, after the name.
    pub args: &'static str,
    pub about: &'static str,
}

const fn spec(
    name: &'static str,
    aliases: &'static [&'static str],
    args: &'static str,
    about: &'static str,
) -> Spec {
    Spec {
        name,
        aliases,
        args,
        about,
    }
}

/// Every command, in the order `!help` lists them.
pub const COMMANDS: &[Spec] = &[
    spec("play", &["p"], "<song, URL or number>", "Queues a URL, the library's best match, or a number from your last `search`. Alone: continues playing."),
    spec("playnext", &["pn"], "<song or URL>", "Queues it at the front. DJ, or the only person in the room."),
    spec("playnow", &["pnow"], "<song or URL>", "Plays it at once; what was playing goes back to the front and continues later. DJ, or the only person in the room."),
    spec("search", &["find"], "<words>", "Shows numbered results from the library; then `pick N`."),
    spec("pick", &["choose"], "<number>", "Queues result N of your last `search` (for a few minutes)."),
    spec("skip", &["s", "next"], "", "Votes to skip. The track's requester and DJs skip at once."),
    spec("forceskip", &["fs"], "", "Skips at once. DJ only."),
    spec("skipto", &["jump"], "<position>", "Skips to a position in the queue, dropping the tracks before it. DJ, or the only person in the room."),
    spec("pause", &[], "", "Pauses. For people in the voice room."),
    spec("resume", &["unpause", "continue"], "", "Continues playing. For people in the voice room."),
    spec("stop", &["leave", "disconnect"], "", "Stops and leaves the room; the queue and the place in the track stay. DJ, or the only person in the room."),
    spec("queue", &["q", "list"], "[page]", "Shows the queue, 10 a page, with its total length."),
    spec("nowplaying", &["np", "current", "song"], "", "Shows what is playing and how far it is."),
    spec("volume", &["vol", "v"], "[0–150]", "Shows or sets the volume. For people in the voice room."),
    spec("seek", &["goto"], "<1:23 | 1:02:03 | seconds>", "Jumps to a time in the track. For people in the voice room."),
    spec("forward", &["ff", "fwd"], "[seconds]", "Jumps ahead (10 s unless told). For people in the voice room."),
    spec("rewind", &["rw", "back"], "[seconds]", "Jumps back (10 s unless told). For people in the voice room."),
    spec("replay", &["restart"], "", "Starts the track again. For people in the voice room."),
    spec("shuffle", &["mix"], "", "Shuffles the queue. DJ, or the only person in the room."),
    spec("loop", &["repeat"], "[off | track | queue]", "Shows or sets looping. For people in the voice room."),
    spec("remove", &["rm", "delete"], "<position>", "Removes your track at that position (anyone's, for a DJ)."),
    spec("move", &["mv"], "<from> <to>", "Moves a track in the queue. DJ, or the only person in the room."),
    spec("clear", &["cl"], "", "Removes your tracks from the queue; a DJ's clears everything."),
    spec("removedupes", &["dedupe", "rmd"], "", "Removes tracks queued twice. DJ, or the only person in the room."),
    spec("history", &["hist", "played"], "[page]", "Shows what played recently."),
    spec("prev", &["previous", "again"], "", "Plays the last played track again. DJ, or the only person in the room."),
    spec("playlist", &["pl"], "save|load|list|delete <name>", "Saves the queue as a playlist, appends one to the queue, lists them, or deletes yours."),
    spec("fairqueue", &["fair"], "[on | off]", "Shows or sets the fair queue: requesters take turns. Setting it: DJ, or the only person in the room."),
    spec("help", &["h", "commands"], "[command]", "Lists the commands, or explains one."),
];

/// The command a word names (a name or an alias, any case).
pub fn lookup(word: &str) -> Option<&'static Spec> {
    let w = word.to_lowercase();
    COMMANDS
        .iter()
        .find(|s| s.name == w || s.aliases.contains(&w.as_str()))
}

/// [`parse_with`] the default settings (prefix `!`).
pub fn parse(text: &str) -> Result<Option<Command>, ParseError> {
    parse_with(&Config::default(), text)
}

/// `Ok(None)`: not for the DJ. `Err`: for the DJ but wrong, with words to answer.
pub fn parse_with(config: &Config, text: &str) -> Result<Option<Command>, ParseError> {
    let line = text.trim_start();
    let Some(rest) = line.strip_prefix(config.prefix) else {
        return Ok(None);
    };
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (word, args) = rest.split_at(end);
    if !word.chars().next().is_some_and(char::is_alphabetic) {
        return Ok(None);
    }
    let Some(spec) = lookup(word) else {
        return Err(ParseError::Unknown {
            word: short(word, 32),
            prefix: config.prefix,
        });
    };
    if line.chars().count() > MAX_INPUT {
        return Err(ParseError::Invalid(format!(
            "That is too long: commands are at most {MAX_INPUT} characters"
        )));
    }
    let args: Vec<&str> = args.split_whitespace().collect();
    build(spec.name, &args, config)
        .map(Some)
        .map_err(ParseError::Invalid)
}

fn build(name: &str, args: &[&str], config: &Config) -> Result<Command, String> {
    let p = config.prefix;
    let all = args.join(" ");
    let first = args.first().copied();
    let query = |what: &str| -> Result<Query, String> {
        if all.is_empty() {
            Err(format!(
                "What should I play? `{p}{what} song, artist or URL`"
            ))
        } else {
            Ok(classify(&all, config))
        }
    };
    Ok(match name {
        "play" => Command::Play {
            query: if all.is_empty() {
                None
            } else {
                Some(classify(&all, config))
            },
        },
        "playnext" => Command::PlayNext {
            query: query("playnext")?,
        },
        "playnow" => Command::PlayNow {
            query: query("playnow")?,
        },
        "search" if all.is_empty() => {
            return Err(format!("What should I search for? `{p}search words`"))
        }
        "search" => Command::Search { query: all },
        "pick" => Command::Pick {
            n: number(first, &format!("Which one? `{p}pick 2`"))?,
        },
        "skip" => Command::Skip,
        "forceskip" => Command::ForceSkip,
        "skipto" => Command::SkipTo {
            n: number(first, &format!("To which position? `{p}skipto 3`"))?,
        },
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        "stop" => Command::Stop,
        "queue" => Command::Queue { page: page(first)? },
        "nowplaying" => Command::NowPlaying,
        "volume" => Command::Volume {
            percent: match first {
                None => None,
                Some(a) => Some(a.trim_end_matches('%').parse::<u32>().map_err(|_| {
                    format!("The volume is a number from 0 to 150, like `{p}volume 80`")
                })?),
            },
        },
        "seek" => Command::Seek {
            ms: time(
                first,
                &format!("To what time? `{p}seek 1:23`, `{p}seek 1:02:03` or `{p}seek 90`"),
            )?,
        },
        "forward" => Command::Forward {
            ms: time_or_ten(first)?,
        },
        "rewind" => Command::Rewind {
            ms: time_or_ten(first)?,
        },
        "replay" => Command::Replay,
        "shuffle" => Command::Shuffle,
        "loop" => Command::Loop {
            mode: match first.map(str::to_lowercase).as_deref() {
                None => None,
                Some("off" | "none" | "no") => Some(LoopMode::Off),
                Some("track" | "song" | "one" | "this") => Some(LoopMode::Track),
                Some("queue" | "all") => Some(LoopMode::Queue),
                Some(_) => {
                    return Err(format!("`{p}loop off`, `{p}loop track` or `{p}loop queue`"))
                }
            },
        },
        "remove" => Command::Remove {
            n: number(first, &format!("Which position? `{p}remove 3`"))?,
        },
        "move" => {
            let usage = format!("Move which where? `{p}move 5 1` moves #5 to #1");
            if args.len() != 2 {
                return Err(usage);
            }
            Command::Move {
                from: number(first, &usage)?,
                to: number(args.get(1).copied(), &usage)?,
            }
        }
        "clear" => Command::Clear,
        "removedupes" => Command::RemoveDupes,
        "history" => Command::History { page: page(first)? },
        "prev" => Command::Prev,
        "playlist" => Command::Playlist {
            action: playlist(args, p)?,
        },
        "fairqueue" => Command::FairQueue {
            on: match first.map(str::to_lowercase).as_deref() {
                None => None,
                Some("on" | "yes" | "true" | "1") => Some(true),
                Some("off" | "no" | "false" | "0") => Some(false),
                Some(_) => return Err(format!("`{p}fairqueue on` or `{p}fairqueue off`")),
            },
        },
        "help" => Command::Help {
            topic: first.map(|t| t.trim_start_matches(p).to_lowercase()),
        },
        _ => return Err(format!("`{p}{name}` is not ready yet")),
    })
}

/// URL-looking (one token, http or https) → `Url`; `scheme:key` with a configured scheme →
/// `Track`; anything else is searched for.
fn classify(all: &str, config: &Config) -> Query {
    let token = all
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(all);
    if !token.contains(char::is_whitespace) {
        let lower = token.to_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            return Query::Url(token.to_string());
        }
        if let Some((scheme, key)) = token.split_once(':') {
            if !key.is_empty()
                && config
                    .track_schemes
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(scheme))
            {
                return Query::Track(token.to_string());
            }
        }
    }
    Query::Search(all.to_string())
}

fn number(arg: Option<&str>, usage: &str) -> Result<usize, String> {
    let a = arg.ok_or_else(|| usage.to_string())?;
    a.trim_start_matches('#')
        .parse::<usize>()
        .map_err(|_| format!("`{}` is not a number. {usage}", short(a, 20)))
}

fn page(arg: Option<&str>) -> Result<usize, String> {
    match arg {
        None => Ok(1),
        Some(a) => a
            .parse::<usize>()
            .map_err(|_| format!("`{}` is not a page number", short(a, 20))),
    }
}

fn time(arg: Option<&str>, usage: &str) -> Result<u64, String> {
    let a = arg.ok_or_else(|| usage.to_string())?;
    parse_time(a).ok_or_else(|| format!("`{}` is not a time. {usage}", short(a, 20)))
}

fn time_or_ten(arg: Option<&str>) -> Result<u64, String> {
    match arg {
        None => Ok(10_000),
        a => time(a, "Give seconds (`30`) or a time (`1:30`)"),
    }
}

fn playlist(args: &[&str], p: char) -> Result<PlaylistAction, String> {
    let usage = format!("`{p}playlist save NAME`, `{p}playlist load NAME`, `{p}playlist list` or `{p}playlist delete NAME`");
    let name = args.get(1..).unwrap_or_default().join(" ");
    let named = |name: String| {
        if name.is_empty() {
            Err(usage.clone())
        } else {
            Ok(name)
        }
    };
    match args.first().map(|s| s.to_lowercase()).as_deref() {
        None | Some("list" | "ls") => Ok(PlaylistAction::List {
            page: page(args.get(1).copied())?,
        }),
        Some("save") => Ok(PlaylistAction::Save { name: named(name)? }),
        Some("load" | "play" | "add") => Ok(PlaylistAction::Load { name: named(name)? }),
        Some("delete" | "del" | "rm" | "remove") => {
            Ok(PlaylistAction::Delete { name: named(name)? })
        }
        Some(_) => Err(usage),
    }
}
