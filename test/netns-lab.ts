/**
 * Helpers of the tests and benchmarks that run a lab in network namespaces (test/agent, test/e2e,
 * bench/dataplane, bench/soak): a command in a node's namespace, the `capsule agent` client over the
 * agent's Unix socket in the lab's data dir, and polling. Test and benchmark code only.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { agentSocketPath, namespaceName, readLabState } from '@capsule/lab';

/** What a command in a namespace printed and how it ended. */
export interface NodeRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The commands of lab `labName` (data dir `dataDir`), run through the CLI at `cli`. */
export function netnsLab(labName: string, dataDir: string, cli: string) {
  /** Runs argv in a node's namespace; never throws on a non-zero exit. */
  function inNode(node: string, argv: readonly string[], timeoutMs = 30_000): Promise<NodeRun> {
    return new Promise((resolve) => {
      execFile(
        'ip',
        ['netns', 'exec', namespaceName(labName, node), ...argv],
        { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** Runs argv in a node's namespace; its standard output, or throws with the command, node and output. */
  async function must(node: string, argv: readonly string[], timeoutMs?: number): Promise<string> {
    const run = await inNode(node, argv, timeoutMs);
    if (run.code !== 0) throw new Error(`${argv.join(' ')} on ${node} failed: ${run.stderr}${run.stdout}`);
    return run.stdout;
  }

  /** `capsule agent ARGS` on a node over its agent's Unix socket; its JSON answer, or throws with the output. */
  // biome-ignore lint/suspicious/noExplicitAny: the CLI's JSON, read field by field by each test
  async function agentCli(node: string, ...args: string[]): Promise<any> {
    const socket = agentSocketPath(join(dataDir, node, 'data'));
    const run = await inNode(node, [process.execPath, cli, 'agent', ...args, '--socket', socket]);
    if (run.code !== 0)
      throw new Error(`capsule agent ${args.join(' ')} on ${node}: ${run.stderr}${run.stdout}`);
    return JSON.parse(run.stdout);
  }

  /**
   * One request to a node's agent REST API over its Unix socket (from this process: the namespaces
   * share the file system), without a CLI start (~0.3 s each on a busy machine): status and JSON body.
   */
  function agentRequest(
    node: string,
    method: string,
    path: string,
    body?: unknown,
    // biome-ignore lint/suspicious/noExplicitAny: the agent's JSON, read field by field by each test
  ): Promise<{ status: number; body: any }> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const outgoing = request(
        {
          socketPath: agentSocketPath(join(dataDir, node, 'data')),
          path,
          method,
          headers: text === undefined ? {} : { 'content-type': 'application/json' },
          timeout: 20_000,
        },
        (response) => {
          let answer = '';
          response.setEncoding('utf8');
          response.on('data', (chunk) => (answer += chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              body: answer === '' ? undefined : JSON.parse(answer),
            }),
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${path} on ${node}: timed out`)));
      outgoing.end(text);
    });
  }

  /**
   * Puts every thread of a node's daemon in the round-robin real-time class (`chrt -r 10`). The
   * machine runs other test files at the same time (2 cores, load average 11–14 seen): a timing
   * measured on the lab's daemons then measures this lab, not its neighbours. The kernel's
   * real-time throttling (95 % of each second) still bounds a runaway daemon.
   */
  function prioritize(node: string): void {
    schedule(node, ['-r', '-p', '10']);
  }

  /**
   * Puts a prioritized daemon back in the normal class (`chrt -o -p 0`), as soon as the timing it
   * was prioritized for is measured: real-time daemons under load (a flood) can hold both cores
   * for 95 % of each second and starve the other test files' processes (an in-process lab's
   * 750 ms link time-out then fires).
   */
  function deprioritize(node: string): void {
    schedule(node, ['-o', '-p', '0']);
  }

  /** Runs `chrt ARGS tid` for every thread of a node's daemon. */
  function schedule(node: string, args: readonly string[]): void {
    const pid = readLabState(dataDir)!.processes.find((record) => record.node === node)!.pid;
    for (const tid of readdirSync(`/proc/${pid}/task`)) execFileSync('chrt', [...args, tid]);
  }

  return { inNode, must, agentCli, agentRequest, prioritize, deprioritize };
}

/** Polls every 200 ms until `check` resolves a value (not undefined); throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
