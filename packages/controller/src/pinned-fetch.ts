/**
 * A `fetch` that talks HTTPS to exactly one certificate: the controller's, named by its SHA-256
 * pin (`controller.caSha256` in an agent's or engine's config, `--ca-sha256` for the CLI). The
 * TLS connection is made here, its peer certificate hashed and compared with the pin before a
 * single byte of the request is written; a mismatch fails the request with CONTROLLER_TLS_PIN_MISMATCH
 * naming both fingerprints. No CA, host name or validity check takes part: the pin is the trust.
 *
 * Connections are kept alive and reused (an agent's keep-alive every 30 s, the CLI's requests one
 * after another): a connection is checked once, when it is made, and only a checked one is ever
 * reused; an idle one is closed after `idleMs`, or sooner when the server's `Keep-Alive: timeout`
 * hint (Node's agent reads it) is shorter, and does not keep a process alive.
 *
 * Only `https:` URLs are taken (a pinned client never falls back to plain HTTP). Bodies stream
 * both ways (the push channel is a long-lived response).
 */
import { Agent, request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { type ConnectionOptions, createSecureContext, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { certificateMatchesPin, certificateSha256, formatCertificateSha256 } from '@capsule/identity';
import { ControllerError } from './errors';

/** How long an idle connection is kept when the server gives no hint (Fastify's is 72 s). */
const defaultIdleMs = 60_000;

/** The methods whose request may be sent twice to the same effect (RFC 9110 §9.2.2). */
const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** An HTTPS agent whose every connection is to the certificate `pin` names, checked before use. */
class PinnedAgent extends Agent {
  readonly #pin: Uint8Array;
  readonly #expected: string;

  /** `idleMs`: how long an idle connection is kept; undefined: none is kept. */
  constructor(pin: Uint8Array, idleMs: number | undefined) {
    // One TLS context for every connection of this agent: without it each connection built its
    // own OpenSSL SSL_CTX (cipher tables and all).
    super({
      keepAlive: idleMs !== undefined,
      ...(idleMs !== undefined && { timeout: idleMs }),
      secureContext: createSecureContext(),
    });
    this.#pin = pin;
    this.#expected = formatCertificateSha256(pin);
  }

  /** Node's agent calls this for a new connection; `done` gets it only once its certificate matched. */
  override createConnection(
    options: ConnectionOptions & { host?: string; port?: number },
    done: (error: Error | null, socket?: Duplex) => void,
  ): undefined {
    const host = options.host ?? 'localhost';
    const socket = tlsConnect({
      host,
      port: options.port ?? 443,
      secureContext: options.secureContext,
      // Checked below against the pin instead; SNI only for a name.
      rejectUnauthorized: false,
      ...(/^[0-9.]+$|:/.test(host) ? {} : { servername: host }),
      ALPNProtocols: ['http/1.1'],
    });
    const failed = (error: Error) => done(error);
    socket.once('error', failed);
    socket.once('secureConnect', () => {
      socket.off('error', failed); // from here on the agent and the request handle its errors
      const raw = socket.getPeerCertificate(false)?.raw;
      if (!raw || !certificateMatchesPin(new Uint8Array(raw), this.#pin)) {
        const got = raw ? formatCertificateSha256(certificateSha256(new Uint8Array(raw))) : 'no certificate';
        socket.destroy();
        done(
          new ControllerError(
            'CONTROLLER_TLS_PIN_MISMATCH',
            `the controller at ${host}:${options.port} presented certificate sha256 ${got}, not the pinned ${this.#expected}: refusing it`,
          ),
        );
        return;
      }
      done(null, socket as TLSSocket);
    });
    return undefined;
  }
}

/**
 * A fetch that accepts only the certificate whose SHA-256 is `pin`. `idleMs`: how long an idle
 * connection is kept for the next request at most.
 */
export function createPinnedFetch(pin: Uint8Array, { idleMs = defaultIdleMs } = {}): typeof fetch {
  const agent = new PinnedAgent(pin, idleMs); // a pin of the wrong length throws here, not at the first request
  /** For a request sent again after its kept connection was closed under it: a new connection. */
  const fresh = new PinnedAgent(pin, undefined);
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== 'https:')
      throw new ControllerError(
        'CONTROLLER_TLS_NOT_HTTPS',
        `a pinned controller connection is https only, not ${url.protocol}//`,
      );
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const body = init?.body;
    if (body !== undefined && body !== null && typeof body !== 'string')
      throw new ControllerError('CONTROLLER_TLS_NOT_HTTPS', 'the pinned fetch sends string bodies only');
    const signal = init?.signal ?? undefined;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 443);
    const send = (again: boolean) =>
      new Promise<Response>((resolveResponse, rejectResponse) => {
        const outgoing = httpsRequest(
          {
            method,
            host,
            port,
            path: `${url.pathname}${url.search}`,
            headers: Object.fromEntries(headers),
            agent: again ? fresh : agent,
            ...(signal && { signal }),
          },
          (incoming) => {
            const responseHeaders = new Headers();
            for (const [name, value] of Object.entries(incoming.headers))
              if (value !== undefined)
                responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
            const status = incoming.statusCode ?? 502;
            const noBody = status === 204 || status === 304 || method === 'HEAD';
            resolveResponse(
              new Response(noBody ? null : (Readable.toWeb(incoming) as ReadableStream<Uint8Array>), {
                status,
                statusText: incoming.statusMessage,
                headers: responseHeaders,
              }),
            );
          },
        );
        outgoing.once('error', (error: NodeJS.ErrnoException) => {
          // A kept connection the server closed as this request went out on it (its idle
          // time-out, its stop) fails with ECONNRESET before any answer: an idempotent request is
          // sent once more, on a new connection, as Node's documentation advises. Any other is
          // the caller's to repeat (RFC 9110 §9.2.2): the server may have carried it out and died
          // before answering, and a replica behind the same address would carry it out again.
          if (
            !again &&
            outgoing.reusedSocket &&
            error.code === 'ECONNRESET' &&
            idempotent.has(method.toUpperCase()) &&
            !signal?.aborted
          ) {
            resolveResponse(send(true));
            return;
          }
          rejectResponse(error instanceof ControllerError ? error : wrap(error, url));
        });
        outgoing.end(body ?? undefined);
      });
    return send(false);
  };
}

/** Network errors as fetch reports them (a TypeError), so callers' "unreachable" handling holds. */
function wrap(error: Error, url: URL): Error {
  if (error.name === 'AbortError') return error;
  return new TypeError(`fetch failed: ${url.host}: ${error.message}`, { cause: error });
}
