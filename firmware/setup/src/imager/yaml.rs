//! The subset of YAML that cloud-init's `user-data` and `network-config` use as Imager writes
//! them: block mappings and sequences by indentation (`- name:` items included), plain, single-
//! and double-quoted scalars, block scalars (`|`, `>`: kept as text), one-line flow sequences
//! (`[ a, b ]`), comments and `---`. No anchors, tags or multi-line flow: what is not understood
//! is skipped with a warning naming the line, never guessed. Hostile input is bounded: the caller
//! caps the size, nesting is capped here, and every loop consumes a line.

/// A parsed node. Scalars stay text: `as_bool` reads YAML 1.1's words when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Str(String),
    Seq(Vec<Value>),
    /// In file order; the first of duplicate keys wins in [`Value::get`].
    Map(Vec<(String, Value)>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self.as_str()?.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Some(true),
            "false" | "no" | "off" => Some(false),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> &[Value] {
        match self {
            Value::Seq(s) => s,
            _ => &[],
        }
    }
    pub fn as_map(&self) -> &[(String, Value)] {
        match self {
            Value::Map(m) => m,
            _ => &[],
        }
    }
}

/// Deeper than any cloud-init file; stops `- - - - …` from exhausting the stack.
const MAX_DEPTH: usize = 32;

struct Line<'a> {
    no: usize,
    indent: usize,
    text: &'a str,
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
    depth: usize,
    warnings: Vec<String>,
}

/// Parses `text` (already size-checked, BOM and CR removed). Never fails: what cannot be read
/// is left out and named in the warnings.
pub fn parse(text: &str) -> (Value, Vec<String>) {
    let mut lines = Vec::new();
    let mut warnings = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let body = raw.trim_start_matches(' ');
        let indent = raw.len() - body.len();
        let body = body.trim_end();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if body.starts_with('\t') {
            warnings.push(format!("line {}: tab in the indentation, skipped", i + 1));
            continue;
        }
        if indent == 0 && (body == "---" || body.starts_with("--- ")) {
            continue;
        }
        if indent == 0 && body == "..." {
            break;
        }
        lines.push(Line { no: i + 1, indent, text: body });
    }
    let mut p = Parser { lines, pos: 0, depth: 0, warnings };
    let mut root = Value::Null;
    while p.pos < p.lines.len() {
        let start = p.pos;
        let v = p.node(0);
        if root == Value::Null {
            root = v;
        } else if let (Value::Map(a), Value::Map(b)) = (&mut root, v) {
            a.extend(b);
        }
        if p.pos == start {
            let l = &p.lines[p.pos];
            p.warnings.push(format!("line {}: not understood, skipped", l.no));
            p.pos += 1;
        }
    }
    (root, p.warnings)
}

fn is_item(t: &str) -> bool {
    t == "-" || t.starts_with("- ")
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Line<'a>> {
        self.lines.get(self.pos)
    }

    /// The node whose first line is the current one, if it is indented at least `min`.
    fn node(&mut self, min: usize) -> Value {
        let Some(l) = self.peek() else { return Value::Null };
        if l.indent < min {
            return Value::Null;
        }
        let (no, indent, text) = (l.no, l.indent, l.text);
        if self.depth >= MAX_DEPTH {
            self.warnings.push(format!("line {no}: nested too deeply, skipped"));
            while self.peek().is_some_and(|l| l.indent >= indent) {
                self.pos += 1;
            }
            return Value::Null;
        }
        self.depth += 1;
        let v = if is_item(text) {
            self.seq(indent)
        } else if split_key(text).is_some() {
            self.map(indent)
        } else {
            self.pos += 1;
            self.scalar(text)
        };
        self.depth -= 1;
        v
    }

    fn seq(&mut self, indent: usize) -> Value {
        let mut items = Vec::new();
        while let Some(l) = self.peek() {
            if l.indent != indent || !is_item(l.text) {
                break;
            }
            let rest = l.text[1..].trim_start();
            if rest.is_empty() || rest.starts_with('#') {
                self.pos += 1;
                items.push(self.node(indent + 1));
            } else {
                // "- key: v" opens a mapping whose keys sit at the column of "key".
                let offset = l.text.len() - rest.len();
                let line = &mut self.lines[self.pos];
                line.indent = indent + offset;
                line.text = rest;
                items.push(self.node(indent + offset));
            }
        }
        Value::Seq(items)
    }

    fn map(&mut self, indent: usize) -> Value {
        let mut entries = Vec::new();
        while let Some(l) = self.peek() {
            if l.indent != indent || is_item(l.text) {
                break;
            }
            let (no, text) = (l.no, l.text);
            self.pos += 1;
            let Some((key, rest)) = split_key(text) else {
                self.warnings.push(format!("line {no}: not a \"key: value\" line, skipped"));
                continue;
            };
            let rest = strip_comment(rest).trim();
            let value = if rest.is_empty() {
                match self.peek() {
                    Some(n) if n.indent > indent => self.node(n.indent),
                    // cloud-init writes "users:\n- name: …" with the items at the key's column.
                    Some(n) if n.indent == indent && is_item(n.text) => self.seq(indent),
                    _ => Value::Null,
                }
            } else if rest.starts_with('|') || rest.starts_with('>') {
                let mut block = Vec::new();
                while let Some(n) = self.peek().filter(|n| n.indent > indent) {
                    block.push(n.text);
                    self.pos += 1;
                }
                Value::Str(block.join("\n"))
            } else {
                self.scalar_at(no, rest)
            };
            entries.push((key, value));
        }
        Value::Map(entries)
    }

    fn scalar(&mut self, text: &str) -> Value {
        let no = self.lines[self.pos.saturating_sub(1)].no;
        self.scalar_at(no, strip_comment(text).trim())
    }

    fn scalar_at(&mut self, no: usize, text: &str) -> Value {
        if let Some(inner) = text.strip_prefix('[') {
            return match inner.trim_end().strip_suffix(']') {
                Some(inner) => Value::Seq(split_flow(inner).into_iter().map(|s| self.scalar_at(no, s)).collect()),
                None => {
                    self.warnings.push(format!("line {no}: unclosed [ (multi-line flow is not read), skipped"));
                    Value::Null
                }
            };
        }
        match unquote(text) {
            Some(s) => Value::Str(s),
            None => {
                self.warnings.push(format!("line {no}: unterminated quoted value, skipped"));
                Value::Null
            }
        }
    }
}

/// `key: rest` or `key:` with a plain or quoted key. `None` if the line is no mapping entry.
fn split_key(text: &str) -> Option<(String, &str)> {
    let (key, after) = if text.starts_with('"') || text.starts_with('\'') {
        let end = quoted_end(text)?;
        (unquote(&text[..end])?, &text[end..])
    } else {
        let b = text.as_bytes();
        let mut i = 0;
        loop {
            let c = *b.get(i)?;
            if c == b'#' && i > 0 && b[i - 1] == b' ' {
                return None;
            }
            if c == b':' && (i + 1 == b.len() || b[i + 1] == b' ') {
                break;
            }
            i += 1;
        }
        if i == 0 || text.starts_with('[') || text.starts_with('{') {
            return None;
        }
        (text[..i].trim_end().to_owned(), &text[i..])
    };
    let rest = after.trim_start().strip_prefix(':')?;
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some((key, rest))
}

/// Byte index just past the closing quote of the quoted string `text` starts with.
fn quoted_end(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let q = b[0];
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' if q == b'"' => i += 2,
            c if c == q => {
                if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                } else {
                    return Some(i + 1);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The part before a ` #` comment, outside quotes.
fn strip_comment(text: &str) -> &str {
    if text.starts_with('"') || text.starts_with('\'') {
        return match quoted_end(text) {
            Some(end) => &text[..end],
            None => text,
        };
    }
    match text.find(" #") {
        Some(i) => &text[..i],
        None => text,
    }
}

fn split_flow(inner: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (i, c) in inner.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                out.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = inner[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// A scalar's value: quotes removed and escapes decoded. `None` for an unterminated quote.
pub(crate) fn unquote(text: &str) -> Option<String> {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('\'') {
        let inner = inner.strip_suffix('\'').filter(|_| quoted_end(text) == Some(text.len()))?;
        return Some(inner.replace("''", "'"));
    }
    let Some(inner) = text.strip_prefix('"') else { return Some(text.to_owned()) };
    if quoted_end(text) != Some(text.len()) {
        return None;
    }
    let inner = &inner[..inner.len() - 1];
    // Imager writes an SSID's non-ASCII bytes as \xHH, meaning *bytes*; YAML means code points.
    // Bytes first; if they are not UTF-8, the YAML reading.
    let mut bytes = Vec::new();
    let mut points = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            points.push(c);
            continue;
        }
        let e = chars.next()?;
        let simple = match e {
            '0' => Some('\0'),
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            't' | '\t' => Some('\t'),
            'n' => Some('\n'),
            'v' => Some('\x0b'),
            'f' => Some('\x0c'),
            'r' => Some('\r'),
            'e' => Some('\x1b'),
            ' ' => Some(' '),
            '"' => Some('"'),
            '/' => Some('/'),
            '\\' => Some('\\'),
            'N' => Some('\u{85}'),
            '_' => Some('\u{a0}'),
            'L' => Some('\u{2028}'),
            'P' => Some('\u{2029}'),
            _ => None,
        };
        if let Some(s) = simple {
            let mut buf = [0; 4];
            bytes.extend_from_slice(s.encode_utf8(&mut buf).as_bytes());
            points.push(s);
            continue;
        }
        let digits = match e {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => return None,
        };
        let hex: String = chars.by_ref().take(digits).collect();
        let n = u32::from_str_radix(&hex, 16).ok().filter(|_| hex.len() == digits)?;
        let ch = char::from_u32(n)?;
        if e == 'x' {
            bytes.push(n as u8);
        } else {
            let mut buf = [0; 4];
            bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        points.push(ch);
    }
    Some(String::from_utf8(bytes).unwrap_or(points))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn block_mappings_sequences_and_items_at_the_keys_column() {
        let (v, w) = parse("a: 1\nusers:\n- name: x\n  groups: g\n- default\nb:\n  c: \"q\\\"\" # c\n  d: 'it''s'\n");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(v.get("a"), Some(&s("1")));
        let users = v.get("users").expect("ok").as_seq();
        assert_eq!(users[0].get("name"), Some(&s("x")));
        assert_eq!(users[0].get("groups"), Some(&s("g")));
        assert_eq!(users[1], s("default"));
        assert_eq!(v.get("b").expect("ok").get("c"), Some(&s("q\"")));
        assert_eq!(v.get("b").expect("ok").get("d"), Some(&s("it's")));
    }

    #[test]
    fn block_scalars_flow_sequences_and_quoted_keys() {
        let (v, w) = parse("apt:\n  conf: |\n    Acquire {\n      x: y\n    };\nrun:\n  - [ systemctl, enable, 'ssh' ]\n\"a: b\": c\n");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(v.get("apt").expect("ok").get("conf"), Some(&s("Acquire {\nx: y\n};")));
        assert_eq!(v.get("run").expect("ok").as_seq()[0], Value::Seq(vec![s("systemctl"), s("enable"), s("ssh")]));
        assert_eq!(v.get("a: b"), Some(&s("c")));
    }

    #[test]
    fn escapes_bytes_first_then_code_points() {
        assert_eq!(unquote(r#""Caf\xc3\xa9""#).expect("ok"), "Café");
        assert_eq!(unquote(r#""\xe9""#).expect("ok"), "é");
        assert_eq!(unquote(r#""a\nb\u00e9""#).expect("ok"), "a\nbé");
        assert_eq!(unquote(r#""open"#), None);
    }

    #[test]
    fn unterminated_and_deep_input_is_skipped_with_warnings() {
        let (v, w) = parse("a: \"open\nb: ok\n");
        assert_eq!(v.get("a"), Some(&Value::Null));
        assert_eq!(v.get("b"), Some(&s("ok")));
        assert_eq!(w.len(), 1);
        let deep: String = (0..200).map(|i| format!("{}- \n", " ".repeat(i))).collect();
        let (_, w) = parse(&deep);
        assert!(w.iter().any(|w| w.contains("nested too deeply")));
    }
}
