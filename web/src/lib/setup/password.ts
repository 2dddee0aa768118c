// The admin password rules of the setup wizard, the same as the box's
// (firmware/server/src/strength.rs, which has the last word: its `weak_password` message is
// shown too): at least 10 characters, not a common password (nor one with digits added), not
// containing the user name or the box name, at least 5 different characters, not a plain
// sequence. The strength score only guides; it refuses nothing the box would accept.

export const MIN_PASSWORD = 10;
/** bcrypt reads 72 bytes; the box refuses longer passwords. */
export const MAX_PASSWORD_BYTES = 72;

/** The box's list (firmware/server/src/strength.rs `COMMON`), lower-case. */
const COMMON = new Set([
    '123456', 'password', '12345678', 'qwerty', '123456789', '12345', '1234', '111111', '1234567', 'dragon',
    '123123', 'baseball', 'abc123', 'football', 'monkey', 'letmein', 'shadow', 'master', '666666',
    'qwertyuiop', '123321', 'mustang', '1234567890', 'michael', '654321', 'superman', '1qaz2wsx', '7777777',
    '121212', '000000', 'qazwsx', '123qwe', 'killer', 'trustno1', 'jordan', 'jennifer', 'zxcvbnm', 'asdfgh',
    'hunter', 'buster', 'soccer', 'harley', 'batman', 'andrew', 'tigger', 'sunshine', 'iloveyou', '2000',
    'charlie', 'robert', 'thomas', 'hockey', 'ranger', 'daniel', 'starwars', 'klaster', '112233', 'george',
    'computer', 'michelle', 'jessica', 'pepper', '1111', 'zxcvbn', '555555', '11111111', '131313', 'freedom',
    '777777', 'pass', 'maggie', '159753', 'aaaaaa', 'ginger', 'princess', 'joshua', 'cheese', 'amanda',
    'summer', 'love', 'ashley', 'nicole', 'chelsea', 'biteme', 'matthew', 'access', 'yankees', '987654321',
    'dallas', 'austin', 'thunder', 'taylor', 'matrix', 'passw0rd', 'password1', 'password123', 'welcome',
    'welcome1', 'admin', 'admin123', 'administrator', 'raspberry', 'changeme', 'qwerty123', 'iloveyou1',
    '1q2w3e4r', '1q2w3e4r5t', 'qwe123', 'secret', 'abcdefgh', 'abcdefghij', 'letmein123', 'passwort',
    'hallo123', 'spotbox', 'spot1234', 'spotspot', '0123456789', '9876543210', 'qwertzuiop', 'azertyuiop',
    'football1',
]);

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
  // A common password with digits or !?. added is still a common password.
  const core = lower.replace(/[0-9!?.]+$/, '');
  if (COMMON.has(lower) || COMMON.has(core))
    problems.push('That is one of the most common passwords; pick something less guessable.');
  const personal = [ctx.username, ctx.boxName].map((p) => p?.trim().toLowerCase() ?? '').filter((p) => [...p].length >= 3);
  if (personal.some((p) => lower.includes(p))) problems.push("Do not use the user name or the box's name in the password.");
  if (chars.length > 0 && new Set([...lower]).size < 5)
    problems.push('That password repeats a few characters; mix in more different ones.');
  else if (isSequence(lower)) problems.push('That password is a keyboard or number sequence; pick something less guessable.');

  const eff = effectiveLength(chars);
  if (eff < chars.length * 0.7 && chars.length >= 4) hints.push('Avoid repeats and runs like “aaa”, “abc” or “123”.');
  const bits = eff * Math.log2(poolSize(password));
  let score: PasswordCheck['score'] = chars.length === 0 ? 0 : bits < 30 ? 1 : bits < 45 ? 2 : bits < 64 ? 3 : 4;
  if (problems.length && score > 1) score = 1;
  if (score > 0 && score < 4 && !problems.length && chars.length < 16) hints.push('Longer is stronger: a few unrelated words work well.');
  return { allowed: problems.length === 0, problems, hints, score, label: problems.length && chars.length ? 'Not allowed' : LABELS[score] };
}

/** Every byte one more (or one less) than the one before: abcdef, 987654 (as the box checks). */
function isSequence(s: string): boolean {
  const b = new TextEncoder().encode(s);
  if (b.length <= 2) return false;
  const step = (d: number) => b.every((x, i) => i === 0 || x - b[i - 1] === d);
  return step(1) || step(-1);
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
