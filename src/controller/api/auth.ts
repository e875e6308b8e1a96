/**
 * Who is asking the HTTP API: a bearer token from `api.tokenFile` (compared in constant time) and/or,
 * with `api.tls.clientCaFile`, a client certificate that CA signed; every credential presented must be valid. The identity is what a write
 * is journaled with (`api:<token name>`, `cert:<subject>`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/** One token of the file: its name (journaled as who) and the SHA-256 of the token (compared, never the token). */
interface TokenEntry {
  name: string;
  digest: Buffer;
}

/** Shortest token accepted: 16 characters (`openssl rand -hex 32` gives 64). */
export const MIN_TOKEN_LENGTH = 16;
const TOKEN_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/**
 * Parse a token file: one `name:token` a line, `#` comments and blank lines ignored.
 * @throws Error naming the file, the line and the fix (a bad name, a short token, a name twice).
 */
export function parseTokenFile(text: string, file: string): TokenEntry[] {
  const entries: TokenEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `${file} line ${index + 1}`;
    const colon = line.indexOf(':');
    if (colon < 0) throw new Error(`${at} is not name:token; write one "name:token" a line (the name is journaled as who made a write)`);
    const name = line.slice(0, colon).trim();
    const token = line.slice(colon + 1).trim();
    if (!TOKEN_NAME.test(name)) throw new Error(`${at}: the name "${name}" is not 1-64 letters, digits, "_", ".", "@" or "-"`);
    if (token.length < MIN_TOKEN_LENGTH)
      throw new Error(`${at}: the token of "${name}" is ${token.length} characters; give at least ${MIN_TOKEN_LENGTH} (e.g. openssl rand -hex 32)`);
    if (entries.some((e) => e.name === name)) throw new Error(`${at}: the name "${name}" is there twice; give each token its own name`);
    entries.push({ name, digest: sha256(token) });
  });
  if (entries.length === 0) throw new Error(`${file} has no token; write one "name:token" a line`);
  return entries;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * The tokens of a file, read again when the file changes (size or modification time), so a token
 * is added or revoked without a restart. A file that no longer parses accepts no token (closed,
 * not the old tokens) until it is fixed; the error is returned for the log.
 */
export class TokenFile {
  private entries: TokenEntry[] = [];
  private seen = '';
  private problem?: string;

  constructor(readonly file: string) {}

  /**
   * Read it now. @throws Error naming the file when it cannot be read or parsed, or when others than
   * its owner may read it (start-up refuses then).
   */
  async load(): Promise<void> {
    const info = await stat(this.file);
    // Anyone who reads the file can approve migrations: as ssh does with private keys, an open file is refused.
    if ((info.mode & 0o077) !== 0)
      throw new Error(`${this.file} is mode 0${(info.mode & 0o777).toString(8)}: others than its owner can read the tokens; chmod 600 ${this.file}`);
    this.entries = parseTokenFile(await readFile(this.file, 'utf8'), this.file);
    this.seen = fileVersion(info);
    this.problem = undefined;
  }

  /** Read it again if it changed. @returns the problem when it no longer reads (no token is accepted then). */
  async refresh(): Promise<string | undefined> {
    try {
      const info = await stat(this.file);
      if (fileVersion(info) === this.seen && this.problem === undefined) return undefined;
      await this.load();
    } catch (error) {
      this.entries = [];
      this.seen = '';
      this.problem = (error as Error).message;
    }
    return this.problem;
  }

  /** The file no longer reads (or became readable by others): no token is accepted until it is fixed. */
  get unusable(): boolean {
    return this.problem !== undefined;
  }

  /** The name of the token `presented` is, or undefined. Every entry is compared (constant time each), whatever matches. */
  match(presented: string): string | undefined {
    const digest = sha256(presented);
    let found: string | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, digest) && found === undefined) found = e.name;
    return found;
  }
}

/**
 * What makes the token file another version: its content (size, mtime) and its mode (a chmod
 * changes only ctime and mode: a file made readable by others must stop being used at once).
 */
function fileVersion(info: { size: number; mtimeMs: number; ctimeMs: number; mode: number }): string {
  return `${info.size}:${info.mtimeMs}:${info.ctimeMs}:${info.mode}`;
}

/**
 * How a request authenticated, or why not. `none`: it presented no credential at all (no
 * Authorization header, no client certificate), the one refusal `api.anonymousReads` may let a GET past.
 */
export type Identity = { by: string } | { refused: string; none?: true };

/** The subject of a certificate as one line: "CN=ops,O=Example". */
function subjectLine(subject: Record<string, string | string[]> | undefined): string {
  if (!subject) return '';
  return Object.entries(subject)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(',');
}

/**
 * Who sent `req`. Every credential presented must be valid, whatever the others: a client
 * certificate that `api.tls.clientCaFile` did not sign, a malformed Authorization header or a token
 * not in `api.tokenFile` refuses the request, even beside a valid credential of the other kind (a
 * wrong credential is never passed over for another). Both valid: the token names who (`api:<name>`);
 * a certificate alone: `cert:<subject>`. Undefined `tokens`: tokens are not configured (any token is wrong).
 */
export function identify(req: IncomingMessage, tokens: TokenFile | undefined, clientCertificates: boolean): Identity {
  let certificate: string | undefined;
  if (clientCertificates) {
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerCertificate?.();
    // Without a certificate node gives an empty object.
    if (peer && Object.keys(peer).length > 0) {
      if (!socket.authorized)
        return {
          refused: `the client certificate is not one api.tls.clientCaFile signed (${String(socket.authorizationError ?? 'unverified')}); send one it signed, or none`,
        };
      const subject = subjectLine(peer.subject as unknown as Record<string, string | string[]>);
      if (!subject) return { refused: 'the client certificate has no subject to journal as who; give it one (e.g. CN=<who>)' };
      certificate = `cert:${subject}`;
    }
  }
  // Node keeps the first of two Authorization headers; a proxy may keep the last: two are refused.
  if ((req.headersDistinct?.authorization?.length ?? 0) > 1) return { refused: 'two Authorization headers were sent: send one' };
  const header = req.headers.authorization;
  if (header === undefined) {
    if (certificate !== undefined) return { by: certificate };
    return {
      none: true,
      refused: `no credentials: send "Authorization: Bearer <token>" (a token of api.tokenFile)${clientCertificates ? ' or a client certificate of api.tls.clientCaFile' : ''}`,
    };
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return { refused: 'the Authorization header is not "Bearer <token>"' };
  if (!tokens)
    return { refused: 'a bearer token was sent, and no api.tokenFile is configured: send none (the client certificate alone), or configure api.tokenFile' };
  if (tokens?.unusable) return { refused: "no token is accepted now: api.tokenFile cannot be used (the daemon's log says why)" };
  const name = tokens?.match(match[1]);
  if (name === undefined) return { refused: 'the bearer token is not one of api.tokenFile' };
  return { by: `api:${name}` };
}
