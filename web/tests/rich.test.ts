// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { renderMarkdown, safeImagePath, toPlainText, type RenderOptions } from '../src/lib/markdown';
import { applyMention, mentionCandidates, mentionQueryAt } from '../src/lib/mentions';
import { formatBytes, uploadErrorText } from '../src/lib/upload';
import { searchEmoji, type EmojiEntry } from '../src/lib/emoji';
import { agoText, reactorsText, repliesText, toggledReactions } from '../src/lib/reactions';

const users = [
  { id: '1', username: 'admin', display_name: 'Admin' },
  { id: '2', username: 'bob', display_name: 'Bob Builder' },
  { id: '3', username: 'bobby', display_name: 'Robert' },
  { id: '4', username: 'carol', display_name: 'Carol', disabled: true },
  { id: '5', username: 'dave.s', display_name: 'Dave' },
];

const opts: RenderOptions = {
  mention: (n) => {
    const u = users.find((x) => x.username === n);
    return u ? { label: u.display_name, self: u.id === '2' } : null;
  },
  emoji: (n) => ({ party: '/api/emoji/7/image', evil: 'https://evil.example/x.png', proto: '//evil.example/x.png', js: 'javascript:alert(1)' })[n] ?? null,
};

function html(src: string, o: RenderOptions = opts): string {
  const div = document.createElement('div');
  div.appendChild(renderMarkdown(src, document, o));
  return div.innerHTML;
}

describe('markdown: mentions', () => {
  it('renders known users, @everyone and @here as mention spans', () => {
    expect(html('hi @bob and @Admin.')).toBe(
      '<p>hi <span class="mention mention-me" data-mention="bob" title="@bob" role="button" tabindex="0" aria-haspopup="dialog">@Bob Builder</span> and ' +
        '<span class="mention" data-mention="admin" title="@admin" role="button" tabindex="0" aria-haspopup="dialog">@Admin</span>.</p>',
    );
    expect(html('@everyone look')).toBe('<p><span class="mention mention-me" data-mention="everyone">@everyone</span> look</p>');
    expect(html('@here')).toContain('data-mention="here"');
  });
  it('follows the server rules: not in emails, not in code, unknown names stay text', () => {
    expect(html('mail me@bob.example')).toBe('<p>mail me@bob.example</p>');
    expect(html('`@bob`')).toBe('<p><code>@bob</code></p>');
    expect(html('@nobody here')).toBe('<p>@nobody here</p>');
    expect(html('@dave.s.')).toContain('data-mention="dave.s"');
    expect(html('@bobby')).toContain('@Robert');
  });
  it('without options mentions are plain text (older callers)', () => {
    expect(html('@bob', {})).toBe('<p>@bob</p>');
  });
  it('hostile display names and usernames stay text', () => {
    const evil: RenderOptions = { mention: () => ({ label: '<img src=x onerror=alert(1)>', self: false }) };
    const div = document.createElement('div');
    div.appendChild(renderMarkdown('@x"><script>alert(1)</script>', document, evil));
    expect(div.querySelector('img')).toBeNull();
    expect(div.querySelector('script')).toBeNull();
    expect(div.querySelector('.mention')!.textContent).toBe('@<img src=x onerror=alert(1)>');
    expect(div.textContent).toContain('"><script>alert(1)</script>');
  });
  it('plain text keeps the label', () => {
    expect(toPlainText('hey @bob')).toBe('hey @bob');
  });
});

describe('markdown: custom emoji', () => {
  it('renders a known :name: as an image with a same-origin source', () => {
    expect(html('yay :party:!')).toBe(
      '<p>yay <img class="emoji" src="/api/emoji/7/image" alt=":party:" title=":party:" loading="lazy" draggable="false">!</p>',
    );
  });
  it('leaves unknown names, times and foreign or scheme URLs as text', () => {
    expect(html(':nope: 10:30:45')).toBe('<p>:nope: 10:30:45</p>');
    expect(html(':evil: :proto: :js:')).toBe('<p>:evil: :proto: :js:</p>');
    expect(html('`:party:`')).toBe('<p><code>:party:</code></p>');
  });
  it('safeImagePath accepts only same-origin paths', () => {
    expect(safeImagePath('/api/attachments/1/thumb')).toBe('/api/attachments/1/thumb');
    for (const bad of ['//x.example/a', 'https://x.example/a', 'javascript:alert(1)', 'data:image/png;base64,AA', '/a b', '/\\evil', '', null])
      expect(safeImagePath(bad)).toBeNull();
  });
});

describe('mention autocomplete', () => {
  it('finds the mention being typed at the caret', () => {
    expect(mentionQueryAt('hi @bo', 6)).toEqual({ start: 3, query: 'bo' });
    expect(mentionQueryAt('@', 1)).toEqual({ start: 0, query: '' });
    expect(mentionQueryAt('hi @bo there', 6)).toEqual({ start: 3, query: 'bo' });
    expect(mentionQueryAt('me@bo', 5)).toBeNull();
    expect(mentionQueryAt('hi bob', 6)).toBeNull();
    expect(mentionQueryAt('`code @bo', 9)).toBeNull();
    expect(mentionQueryAt('`x` @bo', 7)).toEqual({ start: 4, query: 'bo' });
  });
  it('ranks exact, prefix, display-name and substring matches; skips me and disabled users', () => {
    const c = mentionCandidates(users, 'bob', { excludeId: '1' });
    expect(c.map((x) => x.insert)).toEqual(['bob', 'bobby']);
    expect(mentionCandidates(users, 'rob', {}).map((x) => x.insert)).toEqual(['bobby']);
    expect(mentionCandidates(users, 'car', {}).map((x) => x.insert)).toEqual([]);
    expect(mentionCandidates(users, 'ad', { excludeId: '1' })).toEqual([]);
    expect(mentionCandidates(users, 'e', {}).map((x) => x.key)).toContain('everyone');
    expect(mentionCandidates(users, 'he', {}).map((x) => x.key)).toEqual(['here']);
  });
  it('keeps @everyone/@here within the limit', () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ id: String(100 + i), username: `e${i}`, display_name: `E ${i}` }));
    const c = mentionCandidates(many, 'e', { limit: 8 });
    expect(c).toHaveLength(8);
    expect(c.slice(-1)[0].key).toBe('everyone');
  });
  it('replaces the typed query with the chosen name and a space', () => {
    const q = mentionQueryAt('hi @bo', 6)!;
    expect(applyMention('hi @bo', q, 6, 'bobby')).toEqual({ text: 'hi @bobby ', caret: 10 });
    const q2 = mentionQueryAt('hi @bo there', 6)!;
    expect(applyMention('hi @bo there', q2, 6, 'bob')).toEqual({ text: 'hi @bob there', caret: 8 });
  });
});

describe('upload errors in words', () => {
  it('names the limit when a file is too large', () => {
    expect(uploadErrorText('cat.png', 413, { error: { code: 'file_too_large', message: 'too big', max_bytes: 10 << 20 } })).toBe(
      '“cat.png” is too large: files can be at most 10 MB.',
    );
    expect(uploadErrorText('cat.png', 413, null, 25 * 1024 * 1024)).toBe('“cat.png” is too large: files can be at most 25 MB.');
    expect(uploadErrorText('cat.png', 413, { error: { code: 'file_too_large', message: 'Files are at most 25 MB.' } })).toBe(
      '“cat.png” is too large: Files are at most 25 MB.',
    );
  });
  it('explains quota, bad files, network and other failures', () => {
    expect(uploadErrorText('a.bin', 413, { error: { code: 'storage_quota_exceeded', message: 'x', used_bytes: 900 << 20, quota_bytes: 1 << 30 } })).toContain(
      'you use 900 MB of 1 GB',
    );
    expect(uploadErrorText('a.png', 400, { error: { code: 'bad_file', message: 'not an image' } })).toBe(
      '“a.png” could not be read as the file type it claims: not an image',
    );
    expect(uploadErrorText('a.png', 0, null)).toContain("can't reach the Spot box");
    expect(uploadErrorText('a.png', 429, null)).toContain('too often');
    expect(uploadErrorText('a.png', 500, null)).toBe('“a.png” was not uploaded (error 500).');
  });
  it('formats sizes', () => {
    expect(formatBytes(1)).toBe('1 byte');
    expect(formatBytes(1023)).toBe('1023 bytes');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(2 << 20)).toBe('2 MB');
    expect(formatBytes(123 << 20)).toBe('123 MB');
  });
});

describe('emoji search and reactions', () => {
  const list: EmojiEntry[] = [
    { e: '😀', n: 'grinning face', g: 'Smileys' },
    { e: '👍', n: 'thumbs up', g: 'People' },
    { e: '👎', n: 'thumbs down', g: 'People' },
    { e: '🎉', n: 'party popper', g: 'Activities' },
    { e: ':party:', n: 'party', g: 'Custom', url: '/api/emoji/7/image' },
    { e: '🙃', n: 'upside-down face', g: 'Smileys' },
  ];
  it('ranks exact names, then word starts, then substrings', () => {
    expect(searchEmoji(list, 'party').map((x) => x.e)).toEqual([':party:', '🎉']);
    expect(searchEmoji(list, 'thumbs_up').map((x) => x.e)).toEqual(['👍']);
    expect(searchEmoji(list, ':thumbs').map((x) => x.e)).toEqual(['👍', '👎']);
    expect(searchEmoji(list, 'face').map((x) => x.e)).toEqual(['😀', '🙃']);
    expect(searchEmoji(list, 'own').map((x) => x.e)).toEqual(['👎', '🙃']);
    expect(searchEmoji(list, '👍').map((x) => x.e)).toEqual(['👍']);
  });
  it('toggles my reaction optimistically', () => {
    const r0 = [{ emoji: '👍', count: 2, user_ids: ['a', 'b'] }];
    expect(toggledReactions(r0, '👍', 'me')).toEqual({ reactions: [{ emoji: '👍', count: 3, user_ids: ['a', 'b', 'me'] }], add: true });
    expect(toggledReactions([{ emoji: '👍', count: 1, user_ids: ['me'] }], '👍', 'me')).toEqual({ reactions: [], add: false });
    expect(toggledReactions(undefined, '🎉', 'me').reactions).toEqual([{ emoji: '🎉', count: 1, user_ids: ['me'] }]);
  });
  it('says who reacted and how a thread is doing', () => {
    expect(reactorsText(['You'], '👍', 1)).toBe('You reacted with 👍');
    expect(reactorsText(['Alice', 'Bob'], '👍', 2)).toBe('Alice and Bob reacted with 👍');
    expect(reactorsText(['A', 'B', 'C', 'D', 'E', 'F', 'G'], '👍', 9)).toBe('A, B, C, D, E, F and 3 others reacted with 👍');
    expect(repliesText(1)).toBe('1 reply');
    expect(repliesText(0)).toBe('0 replies');
    expect(agoText(1000, 1000 + 10_000)).toBe('just now');
    expect(agoText(0, 5)).toBe('');
    expect(agoText(1000, 1000 + 5 * 60_000)).toBe('5 min ago');
  });
});
