import { describe, expect, it } from 'vitest';
import { canModerate, effectivePerms, nextTri, setTri, triOf, type ChatRole } from '../src/lib/perms';

const roles: ChatRole[] = [
  { id: '1', name: '@everyone', color: null, position: 0, permissions: ['view', 'send'] },
  { id: '2', name: 'mods', color: '#f00', position: 1, permissions: ['view', 'send', 'moderate', 'pin'] },
  { id: '3', name: 'guests', color: null, position: 2, permissions: [] },
];

describe('override tri-state', () => {
  it('reads allow, deny and inherit (deny wins when both)', () => {
    const ov = { allow: ['view', 'pin'], deny: ['send', 'pin'] };
    expect(triOf(ov, 'view')).toBe('allow');
    expect(triOf(ov, 'send')).toBe('deny');
    expect(triOf(ov, 'pin')).toBe('deny');
    expect(triOf(ov, 'manage_channel')).toBe('inherit');
    expect(triOf(null, 'view')).toBe('inherit');
  });

  it('sets one permission without touching the others, no duplicates, stable order', () => {
    let ov = setTri(null, 'send', 'deny');
    expect(ov).toEqual({ allow: [], deny: ['send'] });
    ov = setTri(ov, 'view', 'allow');
    ov = setTri(ov, 'view', 'allow');
    expect(ov).toEqual({ allow: ['view'], deny: ['send'] });
    ov = setTri(ov, 'send', 'allow');
    expect(ov).toEqual({ allow: ['view', 'send'], deny: [] });
    ov = setTri(ov, 'view', 'inherit');
    ov = setTri(ov, 'send', 'inherit');
    expect(ov).toEqual({ allow: [], deny: [] });
    // a broken input (both lists) is repaired
    expect(setTri({ allow: ['pin', 'view'], deny: ['pin'] }, 'send', 'inherit')).toEqual({ allow: ['view'], deny: ['pin'] });
  });

  it('cycles', () => {
    expect(nextTri('allow')).toBe('inherit');
    expect(nextTri('inherit')).toBe('deny');
    expect(nextTri('deny')).toBe('allow');
  });
});

describe('effective permissions', () => {
  const member = { role: 'member', role_ids: [] as string[] };
  const mod = { role: 'member', role_ids: ['2'] };

  it('starts from the roles', () => {
    expect([...effectivePerms(member, roles)].sort()).toEqual(['send', 'view']);
    expect(effectivePerms(mod, roles).has('moderate')).toBe(true);
    expect(effectivePerms({ role: 'admin' }, roles).size).toBe(6);
    expect(effectivePerms(null, roles).size).toBe(0);
  });

  it('applies @everyone, then the user’s other roles (deny, then allow)', () => {
    const hidden = [{ role_id: '1', allow: [], deny: ['view'] }];
    expect(effectivePerms(member, roles, hidden).has('view')).toBe(false);
    expect(effectivePerms(mod, roles, hidden).has('view')).toBe(false);
    const modsSee = [...hidden, { role_id: '2', allow: ['view'], deny: [] }];
    expect(effectivePerms(mod, roles, modsSee).has('view')).toBe(true);
    expect(effectivePerms(member, roles, modsSee).has('view')).toBe(false);
    // among the user's other roles, an allow beats a deny
    const both = { role: 'member', role_ids: ['2', '3'] };
    const clash = [
      { role_id: '2', allow: [], deny: ['send'] },
      { role_id: '3', allow: ['send'], deny: [] },
    ];
    expect(effectivePerms(both, roles, clash).has('send')).toBe(true);
    // admins ignore overrides
    expect(effectivePerms({ role: 'admin' }, roles, hidden).has('view')).toBe(true);
  });

  it('takes moderate from roles only', () => {
    expect(effectivePerms(member, roles, [{ role_id: '1', allow: ['moderate'], deny: [] }]).has('moderate')).toBe(false);
    expect(effectivePerms(mod, roles, [{ role_id: '2', allow: [], deny: ['moderate'] }]).has('moderate')).toBe(true);
    expect(canModerate(mod, roles)).toBe(true);
    expect(canModerate(member, roles)).toBe(false);
    expect(canModerate({ role: 'admin' }, [])).toBe(true);
  });
});
