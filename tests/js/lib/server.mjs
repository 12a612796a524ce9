// Starts a real `bxpush serve` on free loopback ports for a test file, and publishes to it.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BXPUSH_BIN = process.env.BXPUSH_BIN || path.join(REPO_ROOT, 'target/release/bxpush');

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port that was free a moment ago (bind 127.0.0.1:0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` now. */
export function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

/** Polls `pred` every `interval` ms until it returns truthy; throws `what` after `timeout` ms. */
export async function waitFor(pred, { timeout = 5000, interval = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

/**
 * Starts `bxpush serve --listen-sub 127.0.0.1:P1 --listen-pub 127.0.0.1:P2 --signature-key K --data-dir D`
 * and waits (≤10 s) until both ports accept TCP connections. Returns a handle with the ports, the key,
 * `log()` (the server's stderr/stdout so far) and `stop()` (SIGTERM, then SIGKILL, by pid).
 */
export async function startServer({ extraArgs = [], env = {} } = {}) {
  if (!fs.existsSync(BXPUSH_BIN)) {
    throw new Error(`bxpush binary not found at ${BXPUSH_BIN} (run 'make build' or set BXPUSH_BIN)`);
  }
  const key = crypto.randomBytes(32).toString('hex');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bxpush-js-'));
  const subPort = await freePort();
  let pubPort = await freePort();
  while (pubPort === subPort) pubPort = await freePort();
  const args = [
    'serve',
    '--listen-sub', `127.0.0.1:${subPort}`,
    '--listen-pub', `127.0.0.1:${pubPort}`,
    '--signature-key', key,
    '--data-dir', dataDir,
    ...extraArgs,
  ];
  const output = [];
  const child = spawn(BXPUSH_BIN, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_BACKTRACE: '1', ...env },
  });
  const collect = (chunk) => {
    output.push(chunk.toString());
    if (output.length > 2000) output.splice(0, output.length - 2000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => { exited = { code, signal }; resolve(exited); });
  });
  const killOnExit = () => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } };
  process.once('exit', killOnExit);

  const handle = {
    pid: child.pid,
    key,
    dataDir,
    subPort,
    pubPort,
    args,
    log: () => output.join(''),
    get exited() { return exited; },
    async stop() {
      process.removeListener('exit', killOnExit);
      if (!exited) {
        try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
        const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000);
        await exitPromise;
        clearTimeout(t);
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };

  try {
    await waitFor(async () => {
      if (exited) throw new Error(`bxpush exited early (${JSON.stringify(exited)})`);
      return (await canConnect(subPort)) && (await canConnect(pubPort));
    }, { timeout: 10000, interval: 50, what: `bxpush to listen on ${subPort} and ${pubPort}` });
  } catch (e) {
    await handle.stop();
    e.message += `\n$ ${BXPUSH_BIN} ${args.join(' ')}\n--- bxpush output ---\n${handle.log()}`;
    throw e;
  }
  return handle;
}

/**
 * Trusted text-mode publish (spec §2.4), as the PHP pull module does it:
 * POST http://127.0.0.1:PUB/bitrix/pub/?CHANNEL_ID=<ids joined by '/'>, `Message-Expiry`, raw body.
 * Asserts the documented answer (200, empty body) and returns it.
 */
export async function publish(server, channelIds, body, { expiry = 86400 } = {}) {
  const ids = Array.isArray(channelIds) ? channelIds.join('/') : channelIds;
  const url = `http://127.0.0.1:${server.pubPort}/bitrix/pub/?CHANNEL_ID=${ids}`;
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (expiry !== null) headers['Message-Expiry'] = String(expiry);
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  if (res.status !== 200 || text !== '') {
    throw new Error(`POST ${url} (Message-Expiry: ${expiry}) → ${res.status} ${JSON.stringify(text)}; expected 200 with an empty body`);
  }
  return res;
}

/** Adds the server's log to an error thrown by `fn` (so a failing test shows what bxpush said). */
export async function withServerLog(server, fn) {
  try {
    return await fn();
  } catch (e) {
    const tail = server.log().split('\n').slice(-60).join('\n');
    if (e && typeof e === 'object') {
      e.message = `${e.message}\n--- bxpush output (last 60 lines) ---\n${tail}`;
    }
    throw e;
  }
}
