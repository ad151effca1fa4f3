// Dex (github.com/dexidp/dex), a real OpenID Connect provider, for the UI's OIDC login test: built by
// scripts/peers/build-dex.sh into .cache/peers/dex/dex (or DEX_BIN), run with in-memory storage,
// its password database (one static user) and one public client (PKCE, no secret) whose redirect
// URI is the UI's `/oidc/callback`.

import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from './spoor.mjs';

export const DEX_BIN = resolve(REPO_ROOT, process.env.DEX_BIN ?? '.cache/peers/dex/dex');
export const DEX_USER = { email: 'admin@example.com', password: 'password' };
// bcrypt (cost 10) of "password", as in Dex's config.dev.yaml.
const DEX_HASH = '$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W';

/** A free loopback port (closed again, so a process can bind it right after). */
export async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** Starts Dex for the UI at `uiOrigin` (`http://127.0.0.1:PORT`); returns its issuer and stop(). */
export async function startDex(dir, uiOrigin, { clientId = 'spoor-ui' } = {}) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}/dex`;
  const config = join(dir, 'dex.yaml');
  writeFileSync(
    config,
    `issuer: ${issuer}
storage:
  type: memory
web:
  http: 127.0.0.1:${port}
  allowedOrigins: ['${uiOrigin}']
oauth2:
  skipApprovalScreen: true
staticClients:
  - id: ${clientId}
    name: Spoor
    public: true
    redirectURIs: ['${uiOrigin}/oidc/callback']
enablePasswordDB: true
staticPasswords:
  - email: ${DEX_USER.email}
    hash: "${DEX_HASH}"
    username: admin
    userID: 08a8684b-db88-4b73-90a9-3cd1661f5466
`,
  );
  const child = spawn(DEX_BIN, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (c) => (log += c));
  child.stderr.on('data', (c) => (log += c));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dex exited with ${child.exitCode}:\n${log}`);
    try {
      const res = await fetch(`${issuer}/.well-known/openid-configuration`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dex did not answer within 20 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    issuer,
    clientId,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export function dexBuilt() {
  return existsSync(DEX_BIN);
}
