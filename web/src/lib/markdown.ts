// A small, safe Markdown renderer for chat messages.
//
// Safety by construction: the source is parsed into a tiny AST and rendered with
// document.createElement / textContent only. Raw HTML is never interpreted (it
// shows up as text), and links are kept only when their parsed URL uses an
// allow-listed scheme (http, https, mailto); everything else renders as text.
//
// Supported: paragraphs with hard line breaks, ``` fenced code ```, `code`,
// **bold**, __bold__, *italic*, _italic_, ~~strike~~, [text](url), bare
// http(s) URLs, > quotes, "- " / "* " lists and "1. " lists, backslash escapes.
// With RenderOptions: `@username`, `@everyone`, `@here` mentions (the server's rules in
// firmware/chat/src/text.rs: a mention starts at the beginning or after a character that cannot
// be part of a name) and custom emoji `:name:` (an <img> whose src is a same-origin path only).

export type Inline =
  | { type: 'text'; text: string }
  | { type: 'code'; text: string }
  | { type: 'br' }
  | { type: 'strong' | 'em' | 'del'; children: Inline[] }
  | { type: 'link'; href: string; children: Inline[] }
  | { type: 'mention'; name: string; label: string; self: boolean; everyone: boolean }
  | { type: 'emoji'; name: string; src: string };

/** Resolves names the renderer finds; without them mentions and `:name:` stay text. */
export interface RenderOptions {
  /** A known user by lowercased username: the label to show and whether it is me. */
  mention?: (username: string) => { label: string; self: boolean } | null;
  /** A custom emoji's image URL by name (lowercase). */
  emoji?: (name: string) => string | null;
}

const NAME_CHAR = /[A-Za-z0-9_.-]/;
function isNameChar(c: string | undefined): boolean {
  return c !== undefined && NAME_CHAR.test(c);
}

/** Only same-origin paths are used as image sources (never another host, never data:). */
export function safeImagePath(src: string | null | undefined): string | null {
  if (!src || typeof src !== 'string' || src.length > 1024) return null;
  if (!src.startsWith('/') || src.startsWith('//') || src.includes('\\')) return null;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\s]/.test(src)) return null;
  return src;
}

export type Block =
  | { type: 'p'; children: Inline[] }
  | { type: 'pre'; text: string }
  | { type: 'quote'; children: Block[] }
  | { type: 'ul'; items: Inline[][] }
  | { type: 'ol'; start: number; items: Inline[][] };

const ALLOWED_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);
const MAX_DEPTH = 8;
const ESCAPABLE = '\\`*_{}[]()#+-.!~>|<';

/** Returns a normalized absolute URL if `raw` is a safe link target, else null. */
export function safeUrl(raw: string): string | null {
  const s = raw.trim();
  if (!s || s.length > 2048) return null;
  // Control characters (incl. tab/newline, which URL parsers silently drop) are refused.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\s]/.test(s)) return null;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return null;
  }
  if (!ALLOWED_PROTOCOLS.has(url.protocol)) return null;
  if ((url.protocol === 'http:' || url.protocol === 'https:') && !url.hostname) return null;
  return url.href;
}

// ---------------------------------------------------------------- blocks

export function parseBlocks(src: string, depth = 0, opts: RenderOptions = {}): Block[] {
  const lines = src.replace(/\r\n?/g, '\n').split('\n');
  const out: Block[] = [];
  let para: string[] = [];
  const flush = () => {
    if (para.length) {
      out.push({ type: 'p', children: parseInline(para.join('\n'), depth, opts) });
      para = [];
    }
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = /^ {0,3}(`{3,})[^`]*$/.exec(line);
    if (fence) {
      const close = new RegExp('^ {0,3}`{' + fence[1].length + ',}\\s*$');
      let j = i + 1;
      while (j < lines.length && !close.test(lines[j])) j++;
      flush();
      out.push({ type: 'pre', text: lines.slice(i + 1, j).join('\n') });
      i = j + 1;
      continue;
    }
    if (/^ {0,3}>/.test(line) && depth < MAX_DEPTH) {
      flush();
      const inner: string[] = [];
      while (i < lines.length && /^ {0,3}>/.test(lines[i])) {
        inner.push(lines[i].replace(/^ {0,3}> ?/, ''));
        i++;
      }
      out.push({ type: 'quote', children: parseBlocks(inner.join('\n'), depth + 1, opts) });
      continue;
    }
    if (/^ {0,3}[-*+] +\S/.test(line)) {
      flush();
      const items: Inline[][] = [];
      while (i < lines.length && /^ {0,3}[-*+] +\S/.test(lines[i])) {
        items.push(parseInline(lines[i].replace(/^ {0,3}[-*+] +/, ''), depth, opts));
        i++;
      }
      out.push({ type: 'ul', items });
      continue;
    }
    const ol = /^ {0,3}(\d{1,9})[.)] +\S/.exec(line);
    if (ol) {
      flush();
      const items: Inline[][] = [];
      while (i < lines.length && /^ {0,3}\d{1,9}[.)] +\S/.test(lines[i])) {
        items.push(parseInline(lines[i].replace(/^ {0,3}\d{1,9}[.)] +/, ''), depth, opts));
        i++;
      }
      out.push({ type: 'ol', start: Number(ol[1]), items });
      continue;
    }
    if (line.trim() === '') {
      flush();
      i++;
      continue;
    }
    para.push(line);
    i++;
  }
  flush();
  return out;
}

// ---------------------------------------------------------------- inlines

function isSpace(c: string | undefined): boolean {
  return c === undefined || /\s/.test(c);
}
function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /[\p{L}\p{N}]/u.test(c);
}

/** Finds a closing delimiter `d` for an opener ending at `from`, not preceded by space. */
function findClose(s: string, d: string, from: number): number {
  let k = from;
  while (k < s.length) {
    const j = s.indexOf(d, k);
    if (j < 0) return -1;
    if (j > from && !isSpace(s[j - 1]) && s[j - 1] !== '\\') {
      // For single-char delimiters, do not close on the first char of a double one.
      if (d.length === 1 && s[j + 1] === d && s[j - 1] !== d) {
        k = j + 2;
        continue;
      }
      if (d === '_' && isWordChar(s[j + 1])) {
        k = j + 1;
        continue;
      }
      return j;
    }
    k = j + 1;
  }
  return -1;
}

export function parseInline(s: string, depth = 0, opts: RenderOptions = {}): Inline[] {
  const out: Inline[] = [];
  let text = '';
  const pushText = (t: string) => {
    text += t;
  };
  const flush = () => {
    if (text) {
      out.push({ type: 'text', text });
      text = '';
    }
  };
  const nested = (inner: string) =>
    depth < MAX_DEPTH ? parseInline(inner, depth + 1, opts) : [{ type: 'text' as const, text: inner }];

  let i = 0;
  while (i < s.length) {
    const c = s[i];

    if (c === '\\' && i + 1 < s.length && ESCAPABLE.includes(s[i + 1])) {
      pushText(s[i + 1]);
      i += 2;
      continue;
    }
    if (c === '\n') {
      flush();
      out.push({ type: 'br' });
      i++;
      continue;
    }
    if (c === '`') {
      let n = 1;
      while (s[i + n] === '`') n++;
      const ticks = '`'.repeat(n);
      const j = s.indexOf(ticks, i + n);
      if (j >= 0) {
        flush();
        let code = s.slice(i + n, j);
        if (code.length > 1 && code.startsWith(' ') && code.endsWith(' ') && code.trim()) code = code.slice(1, -1);
        out.push({ type: 'code', text: code });
        i = j + n;
        continue;
      }
      pushText(ticks);
      i += n;
      continue;
    }
    const two = s.slice(i, i + 2);
    if ((two === '**' || two === '__' || two === '~~') && !isSpace(s[i + 2])) {
      if (two === '__' && isWordChar(s[i - 1])) {
        pushText(two);
        i += 2;
        continue;
      }
      const j = findClose(s, two, i + 2);
      if (j > i + 2) {
        flush();
        out.push({ type: two === '~~' ? 'del' : 'strong', children: nested(s.slice(i + 2, j)) });
        i = j + 2;
        continue;
      }
    }
    if ((c === '*' || c === '_') && !isSpace(s[i + 1]) && s[i + 1] !== c) {
      if (!(c === '_' && isWordChar(s[i - 1]))) {
        const j = findClose(s, c, i + 1);
        if (j > i + 1) {
          flush();
          out.push({ type: 'em', children: nested(s.slice(i + 1, j)) });
          i = j + 1;
          continue;
        }
      }
    }
    if (c === '[') {
      const link = matchLink(s, i);
      if (link) {
        const href = safeUrl(link.url);
        flush();
        if (href) {
          out.push({ type: 'link', href, children: nested(link.label) });
        } else {
          // Unsafe or invalid target: keep the whole thing as inert text.
          out.push({ type: 'text', text: s.slice(i, link.end) });
        }
        i = link.end;
        continue;
      }
    }
    if ((c === 'h' || c === 'H') && !isWordChar(s[i - 1])) {
      const m = /^https?:\/\/[^\s<>"'`]+/i.exec(s.slice(i, i + 2048));
      if (m) {
        let url = m[0];
        // Trailing punctuation belongs to the sentence, not the URL.
        while (/[.,;:!?)\]}'"*_~]$/.test(url)) {
          if (url.endsWith(')') && (url.match(/\(/g)?.length ?? 0) >= (url.match(/\)/g)?.length ?? 0)) break;
          url = url.slice(0, -1);
        }
        const href = safeUrl(url);
        if (href) {
          flush();
          out.push({ type: 'link', href, children: [{ type: 'text', text: url }] });
          i += url.length;
          continue;
        }
      }
    }
    if (c === '@' && opts.mention && !isNameChar(s[i - 1])) {
      const m = /^@([A-Za-z0-9_.-]{1,64})/.exec(s.slice(i, i + 66));
      if (m) {
        const raw = m[1].replace(/[.-]+$/, '');
        const name = raw.toLowerCase();
        if (name === 'everyone' || name === 'here') {
          flush();
          out.push({ type: 'mention', name, label: name, self: true, everyone: true });
          i += 1 + raw.length;
          continue;
        }
        const who = name.length <= 32 ? opts.mention(name) : null;
        if (who) {
          flush();
          out.push({ type: 'mention', name, label: who.label, self: who.self, everyone: false });
          i += 1 + raw.length;
          continue;
        }
      }
    }
    if (c === ':' && opts.emoji) {
      const m = /^:([A-Za-z0-9_]{2,32}):/.exec(s.slice(i, i + 35));
      if (m) {
        const src = safeImagePath(opts.emoji(m[1].toLowerCase()));
        if (src) {
          flush();
          out.push({ type: 'emoji', name: m[1].toLowerCase(), src });
          i += m[0].length;
          continue;
        }
      }
    }
    pushText(c);
    i++;
  }
  flush();
  return out;
}

function matchLink(s: string, i: number): { label: string; url: string; end: number } | null {
  // [label](url) with balanced brackets in the label and no whitespace in the url
  let depth = 0;
  let j = i;
  for (; j < s.length; j++) {
    const ch = s[j];
    if (ch === '\\') {
      j++;
      continue;
    }
    if (ch === '\n') return null;
    if (ch === '[') depth++;
    else if (ch === ']') {
      depth--;
      if (depth === 0) break;
    }
  }
  if (j >= s.length || s[j + 1] !== '(') return null;
  const label = s.slice(i + 1, j);
  let k = j + 2;
  let parens = 0;
  for (; k < s.length; k++) {
    const ch = s[k];
    if (ch === '\n') return null;
    if (ch === '(') parens++;
    else if (ch === ')') {
      if (parens === 0) break;
      parens--;
    }
  }
  if (k >= s.length || !label) return null;
  let url = s.slice(j + 2, k).trim();
  if (url.startsWith('<') && url.endsWith('>')) url = url.slice(1, -1);
  return { label, url, end: k + 1 };
}

// ---------------------------------------------------------------- DOM

function renderInlines(doc: Document, parent: Node, nodes: Inline[]): void {
  for (const n of nodes) {
    switch (n.type) {
      case 'text':
        parent.appendChild(doc.createTextNode(n.text));
        break;
      case 'br':
        parent.appendChild(doc.createElement('br'));
        break;
      case 'code': {
        const el = doc.createElement('code');
        el.textContent = n.text;
        parent.appendChild(el);
        break;
      }
      case 'strong':
      case 'em':
      case 'del': {
        const el = doc.createElement(n.type);
        renderInlines(doc, el, n.children);
        parent.appendChild(el);
        break;
      }
      case 'link': {
        const a = doc.createElement('a');
        a.setAttribute('href', n.href);
        a.setAttribute('target', '_blank');
        a.setAttribute('rel', 'noopener noreferrer nofollow');
        renderInlines(doc, a, n.children.map(stripLinks));
        parent.appendChild(a);
        break;
      }
      case 'mention': {
        const el = doc.createElement('span');
        el.className = n.self ? 'mention mention-me' : 'mention';
        el.setAttribute('data-mention', n.name);
        if (!n.everyone) {
          el.setAttribute('title', '@' + n.name);
          // Opens their profile card (Markdown.svelte listens).
          el.setAttribute('role', 'button');
          el.setAttribute('tabindex', '0');
          el.setAttribute('aria-haspopup', 'dialog');
        }
        el.textContent = '@' + n.label;
        parent.appendChild(el);
        break;
      }
      case 'emoji': {
        const img = doc.createElement('img');
        img.className = 'emoji';
        img.setAttribute('src', n.src);
        img.setAttribute('alt', ':' + n.name + ':');
        img.setAttribute('title', ':' + n.name + ':');
        img.setAttribute('loading', 'lazy');
        img.setAttribute('draggable', 'false');
        parent.appendChild(img);
        break;
      }
    }
  }
}

// Links inside link labels are flattened to their text.
function stripLinks(n: Inline): Inline {
  if (n.type === 'link') return { type: 'em', children: n.children.map(stripLinks) };
  if (n.type === 'strong' || n.type === 'em' || n.type === 'del') return { ...n, children: n.children.map(stripLinks) };
  return n;
}

function renderBlocks(doc: Document, parent: Node, blocks: Block[]): void {
  for (const b of blocks) {
    switch (b.type) {
      case 'p': {
        const el = doc.createElement('p');
        renderInlines(doc, el, b.children);
        parent.appendChild(el);
        break;
      }
      case 'pre': {
        const pre = doc.createElement('pre');
        const code = doc.createElement('code');
        code.textContent = b.text;
        pre.appendChild(code);
        parent.appendChild(pre);
        break;
      }
      case 'quote': {
        const el = doc.createElement('blockquote');
        renderBlocks(doc, el, b.children);
        parent.appendChild(el);
        break;
      }
      case 'ul':
      case 'ol': {
        const el = doc.createElement(b.type);
        if (b.type === 'ol' && b.start !== 1) el.setAttribute('start', String(b.start));
        for (const item of b.items) {
          const li = doc.createElement('li');
          renderInlines(doc, li, item);
          el.appendChild(li);
        }
        parent.appendChild(el);
        break;
      }
    }
  }
}

/** Renders `src` into a fresh DocumentFragment. */
export function renderMarkdown(src: string, doc: Document = document, opts: RenderOptions = {}): DocumentFragment {
  const frag = doc.createDocumentFragment();
  renderBlocks(doc, frag, parseBlocks(src, 0, opts));
  return frag;
}

/** Plain-text rendering (for reply quotes and notifications). */
export function toPlainText(src: string): string {
  const walk = (nodes: Inline[]): string =>
    nodes
      .map((n) =>
        n.type === 'text' || n.type === 'code'
          ? n.text
          : n.type === 'br'
            ? ' '
            : n.type === 'mention'
              ? '@' + n.label
              : n.type === 'emoji'
                ? ':' + n.name + ':'
                : walk(n.children),
      )
      .join('');
  const blocks = parseBlocks(src);
  const parts: string[] = [];
  const visit = (bs: Block[]) => {
    for (const b of bs) {
      if (b.type === 'p') parts.push(walk(b.children));
      else if (b.type === 'pre') parts.push(b.text);
      else if (b.type === 'quote') visit(b.children);
      else parts.push(b.items.map(walk).join(' '));
    }
  };
  visit(blocks);
  return parts.join(' ').replace(/\s+/g, ' ').trim();
}
