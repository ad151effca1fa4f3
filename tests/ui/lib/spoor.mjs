// Starts the real Spoor binary on ephemeral ports and finds them from its log lines
// (`listening listener=<name> addr=<ip:port>` on stderr).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const ARTIFACTS = resolve(REPO_ROOT, 'tests/artifacts/ui');

const LISTENERS = ['otlp-grpc', 'otlp-http', 'query-http', 'admin-http'];
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const LINE = /listening.*?listener="?([\w-]+)"?.*?addr="?([0-9a-fA-F.:[\]]+)"?/;

/** Receivers a test may ask for (on an ephemeral loopback port); the others are off. */
const OPTIONAL = ['jaeger-thrift-compact', 'jaeger-thrift-binary', 'jaeger-thrift-http', 'jaeger-grpc', 'zipkin'];

/**
 * Starts the binary; `receivers` lists optional receivers to turn on, e.g. ['jaeger-thrift-http'];
 * `args` are more flags, e.g. ['--monitor-step', '1s']; `queryHttp` the query listener's address
 * (for a test that must know it before start, e.g. an OIDC redirect URI).
 */
export async function startSpoor({ timeoutMs = 30_000, receivers = [], args: extra = [], queryHttp = '127.0.0.1:0' } = {}) {
  const bin = resolve(REPO_ROOT, process.env.SPOOR_BIN ?? 'target/debug/spoor');
  if (!existsSync(bin)) throw new Error(`Spoor binary not found at ${bin}: build it with \`cargo build -p spoor\` or set SPOOR_BIN`);
  const args = [
    '--otlp-grpc', '127.0.0.1:0',
    '--otlp-http', '127.0.0.1:0',
    '--query-http', queryHttp,
    '--query-grpc', 'off',
    '--admin-http', '127.0.0.1:0',
    '--health-http', 'off',
    '--tempo-http', 'off',
    '--sampling-http', 'off',
    '--storage', 'memory',
  ];
  for (const r of OPTIONAL) args.push(`--${r}`, receivers.includes(r) ? '127.0.0.1:0' : 'off');
  args.push(...extra);
  const listeners = [...LISTENERS, ...receivers];
  const child = spawn(bin, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const addrs = {};
  let log = '';
  const ready = new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`spoor did not report its listeners within ${timeoutMs} ms; log:\n${log}`)), timeoutMs);
    const onData = (chunk) => {
      log += chunk.toString();
      let nl;
      while ((nl = log.indexOf('\n')) >= 0) {
        const line = log.slice(0, nl).replace(ANSI, '');
        log = log.slice(nl + 1);
        if (process.env.SPOOR_LOG) process.stderr.write(`[spoor] ${line}\n`);
        const m = LINE.exec(line);
        if (m) addrs[m[1]] = m[2];
        if (listeners.every((l) => addrs[l])) {
          clearTimeout(timer);
          resolveReady();
        }
      }
    };
    child.stderr.on('data', onData);
    child.stdout.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`spoor exited with ${code} before it was ready; log:\n${log}`));
    });
  });
  await ready;
  return {
    child,
    queryUrl: `http://${addrs['query-http']}`,
    otlpHttpUrl: `http://${addrs['otlp-http']}`,
    addrs,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** GET a query-API path and return `data`, or throw with the body. */
export async function api(spoor, path, headers = {}) {
  const res = await fetch(`${spoor.queryUrl}${path}`, { headers });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
  return body?.data;
}

export async function waitFor(what, fn, { timeoutMs = 20_000, intervalMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
