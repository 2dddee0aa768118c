//! A DJ with a hand-moved clock, people, tracks and readers of its outputs.

use dj::{Chat, Command, Config, Dj, Input, Output, Request, Ticket, TrackInfo, User, View};

pub const SEC: u64 = 1000;
pub const MIN: u64 = 60 * SEC;

pub fn alice() -> User {
    User::new(1, "Alice")
}
pub fn bob() -> User {
    User::new(2, "Bob")
}
pub fn carol() -> User {
    User::new(3, "Carol")
}
pub fn dave() -> User {
    User::new(4, "Dave")
}
pub fn erin() -> User {
    User::new(5, "Erin")
}
pub fn admin() -> User {
    User::with_dj(9, "Mod")
}

/// A library track `secs` long.
pub fn song(title: &str, secs: u64) -> TrackInfo {
    TrackInfo {
        source: format!("library:{title}"),
        title: title.into(),
        artist: Some("Band".into()),
        album: None,
        duration_ms: Some(secs * SEC),
        cover: None,
        live: false,
    }
}

pub fn radio(title: &str) -> TrackInfo {
    TrackInfo {
        source: format!("url:https://radio.test/{title}"),
        title: title.into(),
        artist: None,
        album: None,
        duration_ms: None,
        cover: None,
        live: true,
    }
}

pub struct H {
    pub dj: Dj,
    pub now: u64,
}

impl H {
    pub fn new() -> H {
        H::with(Config::default())
    }

    pub fn with(config: Config) -> H {
        H {
            dj: Dj::new(config),
            now: 1_000_000,
        }
    }

    pub fn input(&mut self, input: Input) -> Vec<Output> {
        self.dj.handle(self.now, input)
    }

    /// A line in the room's chat.
    pub fn text(&mut self, u: &User, text: &str) -> Vec<Output> {
        self.text_in(Chat::Room, u, text)
    }

    pub fn text_in(&mut self, chat: Chat, u: &User, text: &str) -> Vec<Output> {
        self.input(Input::Text {
            chat,
            user: u.clone(),
            text: text.into(),
        })
    }

    pub fn cmd(&mut self, u: &User, cmd: Command) -> Vec<Output> {
        self.input(Input::Command {
            chat: Chat::Room,
            user: u.clone(),
            cmd,
        })
    }

    pub fn listeners(&mut self, users: &[&User]) -> Vec<Output> {
        self.input(Input::Listeners(users.iter().map(|u| u.id).collect()))
    }

    /// Time passes, then a tick.
    pub fn wait(&mut self, ms: u64) -> Vec<Output> {
        self.now += ms;
        self.input(Input::Tick)
    }

    pub fn resolve(
        &mut self,
        ticket: Ticket,
        result: Result<Vec<TrackInfo>, String>,
    ) -> Vec<Output> {
        self.input(Input::Resolved { ticket, result })
    }

    /// `!play <a URL>` by `u`, answered with `tracks`: the answer's outputs.
    pub fn add_many(&mut self, u: &User, tracks: Vec<TrackInfo>) -> Vec<Output> {
        let out = self.text(u, "!play https://music.test/list");
        assert_eq!(
            request(&out),
            Request::Url("https://music.test/list".into())
        );
        self.resolve(ticket(&out), Ok(tracks))
    }

    pub fn add(&mut self, u: &User, t: TrackInfo) -> Vec<Output> {
        self.add_many(u, vec![t])
    }

    /// `text` by `u` (a command that resolves), answered with `tracks`.
    pub fn answer(&mut self, u: &User, text: &str, tracks: Vec<TrackInfo>) -> Vec<Output> {
        let out = self.text(u, text);
        self.resolve(ticket(&out), Ok(tracks))
    }

    pub fn current_id(&self) -> dj::EntryId {
        self.view()
            .now_playing
            .expect("something is current")
            .entry
            .id
    }

    /// The player says the current entry started.
    pub fn started(&mut self) -> Vec<Output> {
        let entry = self.current_id();
        self.input(Input::Started { entry })
    }

    /// The player says the current entry ended.
    pub fn ended(&mut self) -> Vec<Output> {
        let entry = self.current_id();
        self.input(Input::Ended { entry })
    }

    pub fn view(&self) -> View {
        self.dj.view(self.now)
    }

    /// The title of what is current.
    pub fn current(&self) -> Option<String> {
        self.view().now_playing.map(|n| n.entry.track.title)
    }

    pub fn position(&self) -> u64 {
        self.view()
            .now_playing
            .expect("something is current")
            .position_ms
    }

    pub fn titles(&self) -> Vec<String> {
        self.view()
            .queue
            .into_iter()
            .map(|e| e.track.title)
            .collect()
    }
}

pub fn ticket(out: &[Output]) -> Ticket {
    out.iter()
        .find_map(|o| match o {
            Output::Resolve { ticket, .. } => Some(*ticket),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Resolve in {out:#?}"))
}

pub fn request(out: &[Output]) -> Request {
    out.iter()
        .find_map(|o| match o {
            Output::Resolve { request, .. } => Some(request.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Resolve in {out:#?}"))
}

/// Every reply's text, public or not.
pub fn said(out: &[Output]) -> String {
    let texts: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            Output::Reply { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n")
}

/// Public replies.
pub fn public(out: &[Output]) -> String {
    let texts: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            Output::Reply { to: None, text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n")
}

/// Replies only for `u`.
pub fn private(out: &[Output], u: &User) -> String {
    let texts: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            Output::Reply {
                to: Some(id), text, ..
            } if *id == u.id => Some(text.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n")
}

/// Asserts `u` was refused with words containing `words`, and nothing else happened.
#[track_caller]
pub fn refused(out: &[Output], u: &User, words: &str) {
    let got = private(out, u);
    assert!(
        got.contains(words),
        "expected a refusal with {words:?}, got {out:#?}"
    );
    assert!(
        out.iter()
            .all(|o| matches!(o, Output::Reply { to: Some(_), .. })),
        "a refusal changes nothing: {out:#?}"
    );
}

/// The title and start of a `Play` in `out`.
pub fn played(out: &[Output]) -> Option<(String, u64)> {
    out.iter().find_map(|o| match o {
        Output::Play { entry, from_ms } => Some((entry.track.title.clone(), *from_ms)),
        _ => None,
    })
}

pub fn has(out: &[Output], want: &Output) -> bool {
    out.contains(want)
}

/// A DJ playing `first` (started), with `rest` queued, everything by `u`, and `listeners`.
pub fn playing(u: &User, first: TrackInfo, rest: Vec<TrackInfo>, listeners: &[&User]) -> H {
    let mut h = H::new();
    h.listeners(listeners);
    h.add(u, first);
    h.started();
    if !rest.is_empty() {
        h.add_many(u, rest);
    }
    h
}
