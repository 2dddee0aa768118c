import { describe, expect, it } from 'vitest';
import { actionWords, describeAuditValue, type Resolver } from '../src/lib/audit';

const nameOf: Resolver = (kind, id) => (kind === 'user' ? ({ '7': 'Bob' } as Record<string, string>)[id] ?? null : kind === 'channel' ? `#c${id}` : null);

describe('audit values', () => {
  it('reads strings, user references and objects', () => {
    expect(describeAuditValue('channel:3', nameOf)).toBe('#c3');
    expect(describeAuditValue('role:3', nameOf)).toBe('role:3');
    expect(describeAuditValue('user:99', nameOf)).toBe('user:99');
    expect(actionWords('user.ban')).toBe('banned');
    expect(actionWords('x.y')).toBe('x.y');
    expect(describeAuditValue('user:7', nameOf)).toBe('Bob');
    expect(describeAuditValue({ user_id: '7', minutes: 10, reason: 'spam' }, nameOf)).toBe('user: Bob · minutes: 10 · reason: spam');
    expect(describeAuditValue({ allow: ['view'], deny: [], role_id: '2' }, nameOf)).toBe('allow: view · role: 2');
    expect(describeAuditValue({ role_ids: [], user_ids: ['7', 8] }, nameOf)).toBe('users: Bob, 8');
    expect(describeAuditValue({ channel_id: 4, reason: '<img src=x>' }, nameOf)).toBe('channel: #c4 · reason: <img src=x>');
    expect(describeAuditValue(null, nameOf)).toBe('');
    expect(actionWords('dj.update')).toBe('changed the DJ settings');
    expect(describeAuditValue({ enabled: true, room_id: '5' }, nameOf)).toBe('enabled: true · room: #c5');
    expect(describeAuditValue({ command_channels: ['3', '4'] }, nameOf)).toBe('command channels: #c3, #c4');
  });
  it('bounds depth and length', () => {
    const deep = { a: { b: { c: { d: { e: 1 } } } } };
    expect(describeAuditValue(deep, nameOf)).toContain('…');
    expect(describeAuditValue('x'.repeat(1000), nameOf).length).toBe(300);
  });
});
