/**
 * The password policy of every user the controller stores (the bootstrap admin, users created or
 * given a new password through the API): at least `minPasswordLength` characters, at least
 * `minDistinctPasswordCharacters` different characters, not the user's own login, and not one of
 * a short list of common passwords — compared without case and without the digits and symbols
 * people tack on ("Password2024!" is "password"). The controller answers a refused password with
 * WEAK_PASSWORD and this function's sentence.
 */

/** The shortest password accepted (NIST SP 800-63B asks for at least 8; we ask for 12). */
export const minPasswordLength = 12;
/** The fewest different characters a password must have (refuses `aaaaaaaaaaaa`, `abababababab`). */
export const minDistinctPasswordCharacters = 5;

/**
 * Common passwords and the base words of common passwords, lower case, letters and inner symbols
 * only (what `baseWord` leaves). Short on purpose: the length rule does most of the work; this list
 * stops the long passwords every guessing list starts with.
 */
const commonPasswords: ReadonlySet<string> = new Set([
  'password',
  'passw0rd',
  'p@ssw0rd',
  'p@ssword',
  'passwordpassword',
  'admin',
  'administrator',
  'adminadmin',
  'adminpassword',
  'root',
  'toor',
  'changeme',
  'changeit',
  'default',
  'secret',
  'letmein',
  'welcome',
  'iloveyou',
  'qwerty',
  'qwertyuiop',
  'qwertyuiopasdfghjkl',
  'asdfghjkl',
  'zxcvbnm',
  'qazwsxedc',
  'qwertyqwerty',
  'abcdefghijkl',
  'abcdefghijklmnop',
  'abcdefghijklmnopqrstuvwxyz',
  'football',
  'baseball',
  'superman',
  'batman',
  'dragon',
  'monkey',
  'sunshine',
  'princess',
  'starwars',
  'trustno',
  'master',
  'shadow',
  'whatever',
  'capsule',
  'capsuleadmin',
  'controller',
]);

/** The word under a password: lower case, with leading and trailing digits and symbols removed. */
function baseWord(password: string): string {
  return password.toLowerCase().replace(/^[^a-z]+|[^a-z]+$/g, '');
}

/** Keyboard and digit runs that are common passwords whatever their length (`123456789012`, `1q2w3e4r5t6y`). */
const commonRuns = ['1234567890', '0987654321', '1q2w3e4r5t6y7u8i9o0p', '1qaz2wsx3edc4rfv', 'zaq12wsxcde3'];

/**
 * Why `password` is not acceptable for the user `login` (undefined when it is): a sentence for the
 * WEAK_PASSWORD answer. Never throws.
 */
export function passwordProblem(password: string, login?: string): string | undefined {
  const characters = [...password];
  if (characters.length < minPasswordLength)
    return `a password needs at least ${minPasswordLength} characters (this one has ${characters.length})`;
  if (new Set(characters).size < minDistinctPasswordCharacters)
    return `a password needs at least ${minDistinctPasswordCharacters} different characters`;
  const lower = password.toLowerCase();
  if (login !== undefined && login.length > 0 && baseWord(password) === login.toLowerCase())
    return 'a password must not be the user name';
  if (commonPasswords.has(baseWord(password)) || commonPasswords.has(lower))
    return 'that is a common password: choose another';
  const digitsAndLetters = lower.replace(/[^a-z0-9]/g, '');
  if (
    digitsAndLetters.length > 0 &&
    commonRuns.some((run) => run.startsWith(digitsAndLetters) || digitsAndLetters.startsWith(run))
  )
    return 'that is a common password (a keyboard or digit run): choose another';
  return undefined;
}
