/**
 * The controller replicas a node (engine or agent) may use: an ordered list of southbound URLs of
 * controllers on one PostgreSQL store, and which one the node uses now. A node stays on its
 * current replica until a call to it fails the way a dead or sick controller fails (connection
 * refused or reset, no answer within the client's timeout, a 5xx, a 2xx whose body is not JSON);
 * then the southbound client moves on to the next one (round robin) and tries the call there, each
 * replica at most once per call. Tokens and node registrations live in the shared store and are
 * signed with the shared controller key, so a session opened on one replica is valid on every
 * other: moving on needs no new login.
 *
 * `controllerUrlProblems` is the one check of a configured list (engine.yaml and agent.yaml both
 * use it): not empty, at most `CONTROLLER_URLS_MAX`, each an `https://host:port` origin (`http://`
 * only with `insecureHttp`), no duplicates.
 */
import { ApiError } from './errors';

/** Most controller URLs a node is given (a list longer than this is a mistake, not a deployment). */
export const CONTROLLER_URLS_MAX = 16;

/** The replicas a node uses, in order, and the one in use. */
export interface ControllerReplicas {
  /** Every replica's base URL (`https://host:port`), in the configured order. */
  readonly urls: readonly string[];
  /** The replica in use now. */
  readonly current: string;
  /** How many times the node moved on to another replica. */
  readonly failovers: number;
  /**
   * Moves on from `failed` to the next replica and returns the one to use now. When another call
   * moved on from `failed` already (two calls failed at once), nothing moves: one failure, one move.
   */
  failover(failed: string, reason: string): string;
}

/** What is told when a node moves on. */
export interface ControllerReplicasDeps {
  onFailover?: (event: { from: string; to: string; reason: string; failovers: number }) => void;
}

/** The base URL as the clients join paths to it: without trailing slashes. */
function normalized(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The replicas `urls` name (checked with `controllerUrlProblems` first); the first is used first. */
export function createControllerReplicas(
  urls: readonly string[],
  deps: ControllerReplicasDeps = {},
): ControllerReplicas {
  if (urls.length === 0) throw new ApiError('VALIDATION_FAILED', 'no controller URL');
  const list = urls.map(normalized);
  let index = 0;
  let failovers = 0;
  return {
    urls: list,
    get current() {
      return list[index]!;
    },
    get failovers() {
      return failovers;
    },
    failover(failed, reason) {
      if (list.length < 2 || list[index] !== normalized(failed)) return list[index]!;
      const from = list[index]!;
      index = (index + 1) % list.length;
      failovers += 1;
      deps.onFailover?.({ from, to: list[index]!, reason, failovers });
      return list[index]!;
    },
  };
}

/**
 * The problems of a configured list of controller URLs, each with the index of the URL it concerns
 * (undefined: the list as a whole). Never throws, whatever `urls` holds.
 */
export function controllerUrlProblems(
  urls: unknown,
  options: { insecureHttp?: boolean } = {},
): { index: number | undefined; message: string }[] {
  if (!Array.isArray(urls)) return [{ index: undefined, message: 'must be a list of URLs' }];
  if (urls.length === 0) return [{ index: undefined, message: 'must name at least one controller' }];
  if (urls.length > CONTROLLER_URLS_MAX)
    return [
      {
        index: undefined,
        message: `names ${urls.length} controllers; at most ${CONTROLLER_URLS_MAX}`,
      },
    ];
  const problems: { index: number | undefined; message: string }[] = [];
  const seen = new Map<string, number>();
  urls.forEach((text: unknown, index) => {
    if (typeof text !== 'string') {
      problems.push({ index, message: 'must be a URL (a string)' });
      return;
    }
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      problems.push({ index, message: `is not a URL: '${text.slice(0, 100)}'` });
      return;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      problems.push({ index, message: `must be https://host:port, not ${url.protocol}//` });
      return;
    }
    if (url.protocol === 'http:' && !options.insecureHttp) {
      problems.push({
        index,
        message: 'must be https://… (plain http:// only with controller.insecureHttp: true)',
      });
      return;
    }
    if (
      url.username ||
      url.password ||
      url.search ||
      url.hash ||
      (url.pathname !== '/' && url.pathname !== '')
    ) {
      problems.push({
        index,
        message: 'must be an origin (scheme://host:port), without path, query or user',
      });
      return;
    }
    const key = url.origin;
    const first = seen.get(key);
    if (first !== undefined) problems.push({ index, message: `repeats controller URL [${first}] (${key})` });
    else seen.set(key, index);
  });
  return problems;
}

/**
 * The problems of a node config's `controller` section as far as its URLs go (engine.yaml and
 * agent.yaml both use it), each with its key path under the section: `url` (one controller) or
 * `urls` (replicas, tried in order), not both; every URL https unless `insecureHttp: true`, except
 * that a lone `url` keeps its old rule (http allowed without a pin); a pin (`caSha256`) always
 * needs https. Unchecked data in, never throws.
 */
export function controllerSectionProblems(
  section: unknown,
): { segments: (string | number)[]; message: string }[] {
  if (typeof section !== 'object' || section === null || Array.isArray(section)) return [];
  const { url, urls, caSha256, insecureHttp } = section as Record<string, unknown>;
  if (url !== undefined && urls !== undefined)
    return [{ segments: ['urls'], message: 'give url (one controller) or urls (replicas), not both' }];
  if (url === undefined && urls === undefined)
    return [{ segments: ['url'], message: 'is required (or urls: a list of controller replicas)' }];
  const pinned = caSha256 !== undefined;
  if (url !== undefined) {
    if (typeof url !== 'string') return []; // the schema's problem
    const problems = controllerUrlProblems([url], { insecureHttp: !pinned });
    return problems.map(({ message }) => ({
      segments: ['url'],
      message: pinned && /^http:/i.test(url) ? 'must be https://… when caSha256 pins a certificate' : message,
    }));
  }
  const allowHttp = insecureHttp === true && !pinned;
  return controllerUrlProblems(urls, { insecureHttp: allowHttp }).map(({ index, message }) => ({
    segments: index === undefined ? ['urls'] : ['urls', index],
    message:
      pinned && insecureHttp === true && /plain http/.test(message)
        ? 'must be https://… when caSha256 pins a certificate'
        : message,
  }));
}
