/**
 * A `fetch` that talks HTTPS to exactly one certificate: the controller's, named by its SHA-256
 * pin (`controller.caSha256` in an agent's or engine's config, `--ca-sha256` for the CLI). The
 * TLS connection is made here, its peer certificate hashed and compared with the pin before a
 * single byte of the request is written; a mismatch fails the request with CONTROLLER_TLS_PIN_MISMATCH
 * naming both fingerprints. No CA, host name or validity check takes part: the pin is the trust.
 *
 * Only `https:` URLs are taken (a pinned client never falls back to plain HTTP). Bodies stream
 * both ways (the push channel is a long-lived response). Checked connections are kept alive and
 * reused, as fetch does.
 */
import type { ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { type Duplex, Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { certificateMatchesPin, certificateSha256, formatCertificateSha256 } from '@capsule/identity';
import { ControllerError } from './errors';

/** A fetch that accepts only the certificate whose SHA-256 is `pin`. */
export function createPinnedFetch(pin: Uint8Array): typeof fetch {
  const agent = new PinnedAgent(pin);
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
    return new Promise<Response>((resolveResponse, rejectResponse) => {
      const outgoing = httpsRequest(
        {
          method,
          host,
          port,
          path: `${url.pathname}${url.search}`,
          headers: Object.fromEntries(headers),
          agent,
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
      outgoing.once('error', (error) =>
        rejectResponse(error instanceof ControllerError ? error : wrap(error, url)),
      );
      outgoing.end(body ?? undefined);
    });
  };
}

/**
 * The connections of one pinned fetch: each new one is checked against the pin on `secureConnect`
 * before the agent hands it to a request; checked ones are kept alive and reused (as fetch
 * does), so a node's keep-alives and requests do not each pay a TLS handshake.
 */
class PinnedAgent extends HttpsAgent {
  readonly #pin: Uint8Array;
  readonly #expected: string;

  constructor(pin: Uint8Array) {
    super({ keepAlive: true });
    this.#pin = pin;
    this.#expected = formatCertificateSha256(pin);
  }

  override createConnection(
    options: ClientRequestArgs,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): undefined {
    // The agent always passes its callback (it takes a connection made later, as here).
    const done = callback!;
    const host = options.host ?? 'localhost';
    const port = Number(options.port ?? 443);
    const socket = tlsConnect({
      host,
      port,
      // Checked below against the pin instead; SNI only for a name.
      rejectUnauthorized: false,
      ...(/^[0-9.]+$|:/.test(host) ? {} : { servername: host }),
      ALPNProtocols: ['http/1.1'],
    });
    const failed = (error: Error) => done(error, socket);
    socket.once('error', failed);
    socket.once('secureConnect', () => {
      socket.off('error', failed);
      const raw = socket.getPeerCertificate(false)?.raw;
      if (!raw || !certificateMatchesPin(new Uint8Array(raw), this.#pin)) {
        const got = raw ? formatCertificateSha256(certificateSha256(new Uint8Array(raw))) : 'no certificate';
        socket.destroy();
        done(
          new ControllerError(
            'CONTROLLER_TLS_PIN_MISMATCH',
            `the controller at ${host.includes(':') ? `[${host}]` : host}:${port} presented certificate sha256 ${got}, not the pinned ${this.#expected}: refusing it`,
          ),
          socket,
        );
        return;
      }
      done(null, socket);
    });
    return undefined;
  }
}

/** Network errors as fetch reports them (a TypeError), so callers' "unreachable" handling holds. */
function wrap(error: Error, url: URL): Error {
  if (error.name === 'AbortError') return error;
  return new TypeError(`fetch failed: ${url.host}: ${error.message}`, { cause: error });
}
