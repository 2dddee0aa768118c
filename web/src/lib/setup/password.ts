// The admin password rules of the setup wizard, the same as the box's (which has the last
// word: its `weak_password` message is shown too): at least 10 characters, not a common
// password, not the user name or the box name. The strength score only guides; it refuses
// nothing the box would accept.

export const MIN_PASSWORD = 10;
/** bcrypt reads 72 bytes; the box refuses longer passwords. */
export const MAX_PASSWORD_BYTES = 72;

/** Common passwords of 10+ characters (shorter ones fail the length rule anyway). */
const COMMON = new Set(
  [
    '1234567890', '0123456789', '0987654321', '12345678910', '123456789a', '1234567890a',
    '1111111111', '0000000000', '1212121212', '1234512345', '1q2w3e4r5t', '1qaz2wsx3edc',
    'qwertyuiop', 'qwerty1234', 'qwerty12345', 'qwerty123456', '1234qwer!@', 'asdfghjkl1',
    'asdfghjkl;', 'zxcvbnm123', 'password12', 'password123', 'password1234', 'password1!',
    'passw0rd12', 'p@ssw0rd12', 'password!!', 'passwordpassword', 'iloveyou12', 'iloveyou123',
    'letmein123', 'welcome123', 'welcome1234', 'sunshine12', 'football12', 'football123',
    'baseball12', 'princess12', 'superman12', 'starwars12', 'michael123', 'charlie123',
    'abcdefghij', 'abcdefg123', 'abcd123456', 'abc1234567', 'administrator', 'admin12345',
    'admin123456', 'changeme123', 'raspberrypi', 'raspberry12', 'trustno1234', 'monkey1234',
    'dragon1234', 'master1234', 'whatever12', 'computer12', 'internet12', 'q1w2e3r4t5',
    'a1b2c3d4e5', 'qazwsxedc1', 'qazwsxedcrfv', 'zaq12wsxcde', 'passpass12', 'secret1234',
    'hello12345', 'spotspot12',
  ],
);

export interface PasswordCheck {
  /** Whether the box's rules allow it. */
  allowed: boolean;
  /** Why not, in words (empty when allowed). */
  problems: string[];
  /** Ways to make it stronger (never a refusal). */
  hints: string[];
  /** 0 (nothing typed) to 4 (strong). */
  score: 0 | 1 | 2 | 3 | 4;
  label: string;
}

const LABELS = ['No password yet', 'Weak', 'Fair', 'Good', 'Strong'] as const;

export function checkPassword(password: string, ctx: { username?: string; boxName?: string } = {}): PasswordCheck {
  const problems: string[] = [];
  const hints: string[] = [];
  const chars = [...password];
  const lower = password.toLowerCase();
  if (chars.length < MIN_PASSWORD) {
    problems.push(
      chars.length === 0
        ? `Choose a password of at least ${MIN_PASSWORD} characters.`
        : `Use at least ${MIN_PASSWORD} characters (${MIN_PASSWORD - chars.length} more).`,
    );
  }
  if (new TextEncoder().encode(password).length > MAX_PASSWORD_BYTES)
    problems.push(`Passwords can be at most ${MAX_PASSWORD_BYTES} bytes long (fewer with accents or emoji).`);
  if (COMMON.has(lower)) problems.push('This is one of the most common passwords; choose another.');
  const user = ctx.username?.trim().toLowerCase();
  const box = ctx.boxName?.trim().toLowerCase();
  if (user && lower === user) problems.push('The password must not be your user name.');
  else if (box && lower === box) problems.push('The password must not be the box name.');
  else if (user && user.length >= 3 && lower.includes(user)) hints.push('Leave your user name out of it.');

  const eff = effectiveLength(chars);
  if (eff < chars.length * 0.7 && chars.length >= 4) hints.push('Avoid repeats and runs like “aaa”, “abc” or “123”.');
  const bits = eff * Math.log2(poolSize(password));
  let score: PasswordCheck['score'] = chars.length === 0 ? 0 : bits < 30 ? 1 : bits < 45 ? 2 : bits < 64 ? 3 : 4;
  if (problems.length && score > 1) score = 1;
  if (score > 0 && score < 4 && !problems.length && chars.length < 16) hints.push('Longer is stronger: a few unrelated words work well.');
  return { allowed: problems.length === 0, problems, hints, score, label: problems.length && chars.length ? 'Not allowed' : LABELS[score] };
}

/** Characters that repeat or continue a run (aaa, abc, 321) count for little. */
function effectiveLength(chars: string[]): number {
  let n = 0;
  for (let i = 0; i < chars.length; i++) {
    if (i === 0) {
      n += 1;
      continue;
    }
    const d = (chars[i].codePointAt(0) ?? 0) - (chars[i - 1].codePointAt(0) ?? 0);
    n += d === 0 || d === 1 || d === -1 ? 0.25 : 1;
  }
  return n;
}

function poolSize(s: string): number {
  let pool = 0;
  if (/[a-z]/.test(s)) pool += 26;
  if (/[A-Z]/.test(s)) pool += 26;
  if (/[0-9]/.test(s)) pool += 10;
  if (/[^a-zA-Z0-9]/.test(s)) pool += 33;
  return Math.max(pool, 2);
}
