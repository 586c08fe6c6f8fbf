/**
 * A `fetch` that talks HTTPS to exactly one certificate: the controller's, named by its SHA-256
 * pin (`controller.caSha256` in an agent's or engine's config, `--ca-sha256` for the CLI). The
 * TLS connection is made here, its peer certificate hashed and compared with the pin before a
 * single byte of the request is written; a mismatch fails the request with CONTROLLER_TLS_PIN_MISMATCH
 * naming both fingerprints. No CA, host name or validity check takes part: the pin is the trust.
 *
 * Only `https:` URLs are taken (a pinned client never falls back to plain HTTP). Bodies stream
 * both ways (the push channel is a long-lived response).
 */
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { createSecureContext, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { certificateMatchesPin, certificateSha256, formatCertificateSha256 } from '@capsule/identity';
import { ControllerError } from './errors';

/** A fetch that accepts only the certificate whose SHA-256 is `pin`. */
export function createPinnedFetch(pin: Uint8Array): typeof fetch {
  const expected = formatCertificateSha256(pin);
  // One TLS context for every connection of this client: without it each request built its own
  // OpenSSL SSL_CTX (cipher tables and all). Each request still makes its own TLS connection.
  const secureContext = createSecureContext();
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
      const connect = (_options: unknown, done: (error: Error | null, socket?: TLSSocket) => void) => {
        const socket = tlsConnect({
          host,
          port,
          secureContext,
          // Checked below against the pin instead; SNI only for a name.
          rejectUnauthorized: false,
          ...(/^[0-9.]+$|:/.test(host) ? {} : { servername: host }),
          ALPNProtocols: ['http/1.1'],
        });
        socket.once('error', (error) => done(error));
        socket.once('secureConnect', () => {
          const raw = socket.getPeerCertificate(false)?.raw;
          if (!raw || !certificateMatchesPin(new Uint8Array(raw), pin)) {
            const got = raw
              ? formatCertificateSha256(certificateSha256(new Uint8Array(raw)))
              : 'no certificate';
            const error = new ControllerError(
              'CONTROLLER_TLS_PIN_MISMATCH',
              `the controller at ${url.host} presented certificate sha256 ${got}, not the pinned ${expected}: refusing it`,
            );
            socket.destroy();
            done(error);
            return;
          }
          done(null, socket);
        });
        return undefined;
      };
      const outgoing = httpsRequest(
        {
          method,
          host,
          port,
          path: `${url.pathname}${url.search}`,
          headers: Object.fromEntries(headers),
          createConnection: connect as never,
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

/** Network errors as fetch reports them (a TypeError), so callers' "unreachable" handling holds. */
function wrap(error: Error, url: URL): Error {
  if (error.name === 'AbortError') return error;
  return new TypeError(`fetch failed: ${url.host}: ${error.message}`, { cause: error });
}
