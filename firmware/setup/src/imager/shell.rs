//! A tokenizer for the shell that Imager's `firstrun.sh` is made of: words with single quotes
//! (Imager's `'"'"'` and `'\''` escapes are plain concatenation), double quotes, backslashes,
//! `$(…)`/`<(…)`/backticks kept as raw text, operators, comments and here-documents. Nothing is
//! expanded or run: `$(reboot)` stays the nine characters it is.

/// One token of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Word(String),
    /// `;` `&&` `||` `|` `&` `>` `>>` `<` `<<` `(` `)`.
    Op(&'static str),
}

/// One logical line: its tokens and the body of a here-document it opened, if any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cmd {
    pub line: usize,
    pub toks: Vec<Tok>,
    pub heredoc: Option<String>,
}

impl Cmd {
    /// The words up to the first operator.
    pub fn words(&self) -> Vec<&str> {
        self.toks
            .iter()
            .map_while(|t| match t {
                Tok::Word(w) => Some(w.as_str()),
                Tok::Op(_) => None,
            })
            .collect()
    }
    /// The word after the first `op`, e.g. the target of `>`.
    pub fn after(&self, op: &str) -> Option<&str> {
        let op = match_op(op)?;
        let i = self.toks.iter().position(|t| *t == Tok::Op(op))?;
        match self.toks.get(i + 1) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }
}

fn match_op(op: &str) -> Option<&'static str> {
    OPS.iter().copied().find(|o| *o == op)
}

const OPS: &[&str] = &["&&", "||", ">>", "<<", ";", "|", "&", ">", "<", "(", ")"];

/// The commands of `text`, and whether the text ended cleanly. `false`: the text stops inside a
/// quote, a `$(…)` or a here-document; the commands before that point are returned.
pub fn tokenize(text: &str) -> (Vec<Cmd>, bool) {
    let mut cmds = Vec::new();
    let mut t = Tokenizer { chars: text.chars().collect(), pos: 0, line: 1 };
    loop {
        match t.command() {
            Some(Some(cmd)) => cmds.push(cmd),
            Some(None) => return (cmds, true),
            None => return (cmds, false),
        }
    }
}

struct Tokenizer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Tokenizer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// The next non-empty logical line: `Some(None)` at the end, `None` if cut short.
    fn command(&mut self) -> Option<Option<Cmd>> {
        loop {
            let mut cmd = Cmd { line: self.line, ..Cmd::default() };
            let mut word: Option<String> = None;
            let mut heredoc_delims = Vec::new();
            let mut want_delim = false;
            let end = loop {
                let Some(c) = self.peek() else { break true };
                match c {
                    '\n' => {
                        self.bump();
                        break false;
                    }
                    ' ' | '\t' | '\r' => {
                        self.bump();
                        flush(&mut cmd, &mut word, &mut want_delim, &mut heredoc_delims);
                    }
                    '#' if word.is_none() => {
                        while self.peek().is_some_and(|c| c != '\n') {
                            self.bump();
                        }
                    }
                    '\'' => {
                        self.bump();
                        let w = word.get_or_insert_with(String::new);
                        loop {
                            match self.bump()? {
                                '\'' => break,
                                c => w.push(c),
                            }
                        }
                    }
                    '"' => {
                        self.bump();
                        let w = word.get_or_insert_with(String::new);
                        loop {
                            match self.bump()? {
                                '"' => break,
                                '\\' => match self.bump()? {
                                    '\n' => {}
                                    c @ ('\\' | '"' | '$' | '`') => w.push(c),
                                    c => {
                                        w.push('\\');
                                        w.push(c);
                                    }
                                },
                                c => w.push(c),
                            }
                        }
                    }
                    '\\' => {
                        self.bump();
                        match self.bump()? {
                            '\n' => {}
                            c => word.get_or_insert_with(String::new).push(c),
                        }
                    }
                    '`' => {
                        self.bump();
                        let w = word.get_or_insert_with(String::new);
                        w.push('`');
                        loop {
                            let c = self.bump()?;
                            w.push(c);
                            if c == '`' {
                                break;
                            }
                        }
                    }
                    '$' | '<' if self.chars.get(self.pos + 1) == Some(&'(') => {
                        if c == '<' {
                            flush(&mut cmd, &mut word, &mut want_delim, &mut heredoc_delims);
                        }
                        let raw = self.balanced()?;
                        word.get_or_insert_with(String::new).push_str(&raw);
                    }
                    _ => {
                        let op = OPS.iter().find(|op| {
                            op.chars().enumerate().all(|(i, oc)| self.chars.get(self.pos + i) == Some(&oc))
                        });
                        match op {
                            Some(op) => {
                                flush(&mut cmd, &mut word, &mut want_delim, &mut heredoc_delims);
                                for _ in 0..op.len() {
                                    self.bump();
                                }
                                if *op == "<<" {
                                    if self.peek() == Some('-') {
                                        self.bump();
                                    }
                                    want_delim = true;
                                }
                                cmd.toks.push(Tok::Op(op));
                            }
                            None => {
                                self.bump();
                                word.get_or_insert_with(String::new).push(c);
                            }
                        }
                    }
                }
            };
            flush(&mut cmd, &mut word, &mut want_delim, &mut heredoc_delims);
            for delim in heredoc_delims {
                cmd.heredoc = Some(self.heredoc(&delim)?);
            }
            if !cmd.toks.is_empty() {
                return Some(Some(cmd));
            }
            if end {
                return Some(None);
            }
        }
    }

    /// `$(…)` or `<(…)` with nesting and quotes, as raw text.
    fn balanced(&mut self) -> Option<String> {
        let mut raw = String::new();
        raw.push(self.bump()?);
        raw.push(self.bump()?);
        let mut depth = 1;
        let mut quote = None;
        while depth > 0 {
            let c = self.bump()?;
            raw.push(c);
            match (quote, c) {
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (Some('"'), '\\') => raw.push(self.bump()?),
                (None, '(') => depth += 1,
                (None, ')') => depth -= 1,
                _ => {}
            }
        }
        Some(raw)
    }

    /// Lines up to the one that is exactly `delim` (tabs before it allowed, as for `<<-`).
    fn heredoc(&mut self, delim: &str) -> Option<String> {
        let mut body = String::new();
        loop {
            let start = self.pos;
            while self.peek().is_some_and(|c| c != '\n') {
                self.bump();
            }
            let line: String = self.chars[start..self.pos].iter().collect();
            let at_end = self.bump().is_none();
            if line.trim_start_matches('\t').trim_end_matches('\r') == delim {
                return Some(body);
            }
            if at_end {
                return None;
            }
            body.push_str(&line);
            body.push('\n');
        }
    }
}

fn flush(cmd: &mut Cmd, word: &mut Option<String>, want_delim: &mut bool, delims: &mut Vec<String>) {
    if let Some(w) = word.take() {
        if *want_delim {
            delims.push(w.clone());
            *want_delim = false;
        }
        cmd.toks.push(Tok::Word(w));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Vec<String>> {
        let (cmds, clean) = tokenize(text);
        assert!(clean);
        cmds.iter().map(|c| c.words().iter().map(|w| w.to_string()).collect()).collect()
    }

    #[test]
    fn imager_quoting_is_concatenation_and_nothing_expands() {
        assert_eq!(words("x 'a'\"'\"'b' 'c'\\''d' \"$(reboot)\" `id` $(echo 'a)b')\n"), vec![vec![
            "x".to_string(),
            "a'b".into(),
            "c'd".into(),
            "$(reboot)".into(),
            "`id`".into(),
            "$(echo 'a)b')".into(),
        ]]);
    }

    #[test]
    fn quotes_span_lines_and_comments_and_operators_split() {
        let (cmds, clean) = tokenize("a 'x\ny' # c\necho \"$U:\"'h' | chpasswd -e\n");
        assert!(clean);
        assert_eq!(cmds[0].words(), vec!["a", "x\ny"]);
        assert_eq!(cmds[1].words(), vec!["echo", "$U:h"]);
        assert_eq!(cmds[1].toks[2], Tok::Op("|"));
    }

    #[test]
    fn heredocs_are_read_as_bodies() {
        let (cmds, clean) = tokenize("cat >/f <<'EOF'\nline $(x)\nEOF\nnext\n");
        assert!(clean);
        assert_eq!(cmds[0].heredoc.as_deref(), Some("line $(x)\n"));
        assert_eq!(cmds[0].after(">"), Some("/f"));
        assert_eq!(cmds[1].words(), vec!["next"]);
    }

    #[test]
    fn cut_short_inside_a_quote_or_heredoc() {
        let (cmds, clean) = tokenize("a b\nc 'open\n");
        assert!(!clean);
        assert_eq!(cmds.len(), 1);
        let (_, clean) = tokenize("cat <<EOF\nx\n");
        assert!(!clean);
    }
}
