// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { parseBlocks, parseInline, renderMarkdown, safeUrl, toPlainText } from '../src/lib/markdown';

function html(src: string): string {
  const div = document.createElement('div');
  div.appendChild(renderMarkdown(src, document));
  return div.innerHTML;
}

function dom(src: string): HTMLDivElement {
  const div = document.createElement('div');
  div.appendChild(renderMarkdown(src, document));
  return div;
}

describe('markdown: formatting', () => {
  it('renders emphasis, code and strike', () => {
    expect(html('**bold** *it* _it2_ ~~gone~~ `x < y`')).toBe(
      '<p><strong>bold</strong> <em>it</em> <em>it2</em> <del>gone</del> <code>x &lt; y</code></p>',
    );
  });
  it('keeps snake_case and lone stars as text', () => {
    expect(html('snake_case_name and 2 * 3 * 4')).toBe('<p>snake_case_name and 2 * 3 * 4</p>');
  });
  it('turns newlines into line breaks and blank lines into paragraphs', () => {
    expect(html('a\nb\n\nc')).toBe('<p>a<br>b</p><p>c</p>');
  });
  it('renders fenced code blocks verbatim', () => {
    expect(html('```js\nlet a = "<b>";\n**no**\n```')).toBe('<pre><code>let a = "&lt;b&gt;";\n**no**</code></pre>');
  });
  it('renders quotes and lists', () => {
    expect(html('> quoted *x*\n- one\n- two\n3. three')).toBe(
      '<blockquote><p>quoted <em>x</em></p></blockquote><ul><li>one</li><li>two</li></ul><ol start="3"><li>three</li></ol>',
    );
  });
  it('honours backslash escapes', () => {
    expect(html('\\*not em\\*')).toBe('<p>*not em*</p>');
  });
  it('autolinks bare URLs without trailing punctuation', () => {
    const d = dom('see https://example.com/a_b?x=1.');
    const a = d.querySelector('a')!;
    expect(a.getAttribute('href')).toBe('https://example.com/a_b?x=1');
    expect(d.textContent).toBe('see https://example.com/a_b?x=1.');
  });
  it('renders safe links with rel and target', () => {
    const a = dom('[site](https://example.com/x)').querySelector('a')!;
    expect(a.getAttribute('href')).toBe('https://example.com/x');
    expect(a.getAttribute('rel')).toBe('noopener noreferrer nofollow');
    expect(a.getAttribute('target')).toBe('_blank');
    expect(a.textContent).toBe('site');
  });
  it('plain text strips markup', () => {
    expect(toPlainText('**hi** [there](https://x.org)\n> q')).toBe('hi there q');
  });
});

describe('markdown: hostile input stays inert', () => {
  const hostile = [
    '<img src=x onerror=alert(1)>',
    '<script>alert(1)</script>',
    '<a href="javascript:alert(1)">x</a>',
    '<svg onload=alert(1)>',
    '<iframe src="https://evil.example"></iframe>',
    '<style>body{display:none}</style>',
    '"><img src=x onerror=alert(1)>',
    '**<img src=x onerror=alert(1)>**',
    '`<script>`',
  ];
  for (const src of hostile) {
    it(`no elements from raw HTML: ${src}`, () => {
      const d = dom(src);
      expect(d.querySelector('img, script, svg, iframe, style')).toBeNull();
      // A bare https URL inside the text may become a (safe) link; nothing else does.
      for (const a of d.querySelectorAll('a')) expect(a.getAttribute('href')).toMatch(/^https:\/\//);
      for (const el of d.querySelectorAll('*')) {
        for (const attr of Array.from(el.attributes)) expect(attr.name.startsWith('on')).toBe(false);
      }
      // The source text is shown as text.
      expect(d.textContent).toContain(src.replace(/\*\*/g, '').replace(/`/g, ''));
    });
  }

  const badLinks = [
    '[x](javascript:alert(1))',
    '[x](JaVaScRiPt:alert(1))',
    '[x]( javascript:alert(1))',
    '[x](java\tscript:alert(1))',
    '[x](javascript&#58;alert(1))',
    '[x](vbscript:msgbox(1))',
    '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
    '[x](file:///etc/passwd)',
    '[x](//evil.example/)',
    '[x](/relative)',
    '[x](<javascript:alert(1)>)',
    'javascript:alert(1)',
    '[x](https://ok.example "title") [y](javascript:alert(1))',
  ];
  for (const src of badLinks) {
    it(`no unsafe link: ${src}`, () => {
      const d = dom(src);
      for (const a of d.querySelectorAll('a')) {
        const href = a.getAttribute('href') ?? '';
        expect(href).toMatch(/^(https?:|mailto:)/);
      }
      expect(d.innerHTML.toLowerCase()).not.toContain('href="javascript');
      expect(d.innerHTML.toLowerCase()).not.toContain('href="data');
    });
  }

  it('safeUrl allows only http, https and mailto', () => {
    expect(safeUrl('https://a.example/x')).toBe('https://a.example/x');
    expect(safeUrl('mailto:me@a.example')).toBe('mailto:me@a.example');
    expect(safeUrl('javascript:alert(1)')).toBeNull();
    expect(safeUrl('JAVASCRIPT:alert(1)')).toBeNull();
    expect(safeUrl('data:text/html,x')).toBeNull();
    expect(safeUrl('http://')).toBeNull();
    expect(safeUrl('ht\ntp://a.example')).toBeNull();
    expect(safeUrl('/local')).toBeNull();
  });

  it('link labels cannot smuggle nested links', () => {
    const d = dom('[[a](https://in.example)](https://out.example)');
    expect(d.querySelectorAll('a').length).toBe(1);
    expect(d.querySelector('a')!.getAttribute('href')).toBe('https://out.example/');
  });

  it('deep nesting and huge input do not blow up', () => {
    const deep = '> '.repeat(200) + 'x' + '**'.repeat(500);
    expect(() => parseBlocks(deep)).not.toThrow();
    const big = '*a '.repeat(4000);
    const t0 = Date.now();
    parseInline(big);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
