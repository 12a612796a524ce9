// The settings page of bxpush.pull in headless Chromium, on the stand-in Bitrix site, against a
// real `bxpush serve` and the real PHP extension:
//   - the module is installed into a temp document root by its own installer (site.php);
//   - `php -S` with libbxpush.so serves the admin page (router.php: the kernel's settings.php,
//     ajax.php and static files); the page's pull client is the real @bitrix24/b24jssdk
//     PullClient behind a minimal BX.PULL, configured by the stand-in pull module;
//   - the status figures appear (runtime up, connections ≥ 1 once the page's client is
//     connected), "Send test event" round-trips through \Bitrix\Pull\Event → bxpush → the
//     page's client and shows the round-trip time; the signature-key helpers mask, reveal and
//     generate; a save with a key the extension does not use is refused with the fix named;
//   - with `bxpush serve` stopped, the page says why the test event did not arrive.
// Screenshots go to a temp dir (paths printed) and to tests/bitrix/browser/last-screenshot*.png
// when those are git-ignored. Everything started is stopped by pid.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '../../js/node_modules/playwright-core/index.mjs';
import { freePort, canConnect, waitFor } from '../../js/lib/server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../../..');
const BXPUSH = process.env.BXPUSH_BIN || path.join(REPO, 'target/release/bxpush');
const EXT = process.env.BXPUSH_SO || process.env.BXPUSH_EXT || path.join(REPO, 'target/release/libbxpush.so');
const PHP = process.env.PHP_BIN || 'php';
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const TEST_TIMEOUT_S = 3; // the page's wait for the test event, saved through the form below

/** A child process whose output is kept (with the key cut out) and that is stopped by pid. */
function startProcess(name, cmd, args, opts = {}) {
  const output = [];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const keep = (chunk) => {
    // php -S logs every connection: keep the rest
    output.push(redact(chunk.toString()).split('\n').filter((l) => !/ (Accepted|Closing)$/.test(l)).join('\n'));
    if (output.length > 500) output.splice(0, output.length - 500);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => { exited = { code, signal }; resolve(exited); }));
  const kill = () => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } };
  process.once('exit', kill);
  return {
    name,
    pid: child.pid,
    get exited() { return exited; },
    log: () => output.join(''),
    async stop() {
      process.removeListener('exit', kill);
      if (!exited) {
        try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
        const t = setTimeout(kill, 3000);
        await exit;
        clearTimeout(t);
      }
    },
  };
}

const key = crypto.randomBytes(32).toString('hex');
const redact = (s) => s.split(key).join('<key>');

let tmp;
let shotDir;
let sock;
let subPort;
let pubPort;
let webPort;
let serve;
let web;
let browser;
let page;
const pageErrors = [];

function serveArgs() {
  return ['serve', '--listen-sub', `127.0.0.1:${subPort}`, '--listen-pub', `127.0.0.1:${pubPort}`,
    '--listen-php', sock, '--signature-key', key, '--data-dir', path.join(tmp, 'data')];
}

async function startServe() {
  const p = startProcess('bxpush serve', BXPUSH, serveArgs(), { env: { ...process.env, RUST_BACKTRACE: '1' } });
  await waitFor(async () => {
    if (p.exited) throw new Error(`bxpush serve exited early (${JSON.stringify(p.exited)}):\n${p.log()}`);
    return (await canConnect(subPort)) && (await canConnect(pubPort)) && fs.existsSync(sock);
  }, { timeout: 10000, what: `bxpush serve on ${subPort}/${pubPort} and ${sock}` });
  return p;
}

function phpArgs() {
  return ['-n', '-d', `extension=${EXT}`, '-d', `bxpush.server=${sock}`, '-d', `bxpush.signature_key=${key}`,
    '-d', `bxpush.spool_dir=${path.join(tmp, 'spool')}`, '-d', 'display_errors=stderr', '-d', 'error_reporting=E_ALL'];
}

const settingsUrl = () => `http://127.0.0.1:${webPort}/bitrix/admin/settings.php?mid=bxpush.pull&lang=en`;

/** Adds the page's state and both servers' output to a failure. */
async function explain(fn) {
  try {
    return await fn();
  } catch (e) {
    let state = '';
    try {
      state = await page.evaluate(() => {
        const q = (s) => document.querySelector(s);
        return JSON.stringify({
          client: q('#bxpush-client-status')?.outerHTML,
          result: q('#bxpush-test-result')?.outerHTML,
          runtime: q('[data-bxpush-stat="runtime"]')?.outerHTML,
          connections: q('[data-bxpush-stat="connections"]')?.outerHTML,
          updated: q('[data-bxpush-stat="updated"]')?.outerHTML,
          problems: q('[data-bxpush-stat="problems"]')?.textContent,
          messages: q('.adm-info-message')?.textContent,
        }, null, 1);
      });
    } catch { /* page gone */ }
    e.message += `\n--- page ---\n${redact(state)}\n--- page errors ---\n${pageErrors.join('\n')}`
      + `\n--- php -S ---\n${web?.log().split('\n').slice(-40).join('\n')}`
      + `\n--- bxpush serve ---\n${serve?.log().split('\n').slice(-30).join('\n')}`;
    throw e;
  }
}

async function screenshot(name) {
  const file = path.join(shotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
  const copy = path.join(HERE, name === 'settings-page' ? 'last-screenshot.png' : `last-screenshot-${name}.png`);
  try {
    execFileSync('git', ['-C', REPO, 'check-ignore', '-q', path.relative(REPO, copy)]);
    fs.copyFileSync(file, copy);   // only when git ignores it: never a binary in a commit
  } catch { /* not ignored (or no git): keep only the temp copy */ }
  return file;
}

before(async () => {
  for (const [what, file] of [['bxpush', BXPUSH], ['the PHP extension', EXT], ['chromium', CHROMIUM]]) {
    if (!fs.existsSync(file)) throw new Error(`${what} not found at ${file} (run 'make build' / install chromium)`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bxpush-settings-'));
  shotDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bxpush-settings-shots-'));
  sock = path.join(tmp, 'php.sock');
  subPort = await freePort();
  do { pubPort = await freePort(); } while (pubPort === subPort);
  do { webPort = await freePort(); } while (webPort === subPort || webPort === pubPort);

  serve = await startServe();

  // the site, with the module installed by its own installer
  try {
    execFileSync(PHP, [...phpArgs(), path.join(HERE, 'site.php'), path.join(tmp, 'site'), String(subPort), String(pubPort)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`building the site / installing bxpush.pull failed:\n${redact(String(e.stderr || ''))}${redact(String(e.stdout || ''))}`);
  }

  web = startProcess('php -S', PHP, [...phpArgs(), '-S', `127.0.0.1:${webPort}`, '-t', path.join(tmp, 'site'), path.join(HERE, 'router.php')]);
  await waitFor(async () => {
    if (web.exited) throw new Error(`php -S exited early:\n${web.log()}`);
    return canConnect(webPort);
  }, { timeout: 10000, what: `php -S on ${webPort}` });

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
});

after(async () => {
  await browser?.close().catch(() => {});
  await web?.stop();
  await serve?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('saving the form: a wrong key is refused naming the fix; a valid save redirects and sticks', { timeout: 60000 }, async () => {
  await explain(async () => {
    await page.goto(settingsUrl());
    await page.waitForSelector('#bxpush-pull-settings[data-ready="1"]');

    // Signature key tab: masked by default, revealed on request, generated in the browser.
    await page.click('.adm-detail-tab[data-tab="bxpush_key"]');
    const flag = await page.textContent('#bxpush-key-flag');
    assert.ok(!flag.includes(key), 'the flag line is masked until "Show"');
    assert.match(flag, new RegExp(`^--signature-key ${key.slice(0, 4)}•+${key.slice(-4)}$`));
    assert.equal(await page.getAttribute('#bxpush_signature_key', 'type'), 'password');
    await screenshot('settings-page-key');   // masked: the test key never reaches a file
    await page.click('#bxpush-key-reveal');
    assert.equal(await page.textContent('#bxpush-key-flag'), `--signature-key ${key}`);
    assert.equal(await page.textContent('#bxpush-key-ini'), `bxpush.signature_key = "${key}"`);
    await page.click('#bxpush-key-generate');
    const generated = await page.inputValue('#bxpush_signature_key');
    assert.match(generated, /^[A-Za-z0-9]{64}$/, 'a generated key has 64 letters and digits');
    assert.notEqual(generated, key);
    assert.equal(await page.textContent('#bxpush-key-ini'), `bxpush.signature_key = "${generated}"`);

    // Saving a key the extension does not use is refused, and says how to fix it.
    await Promise.all([page.waitForNavigation(), page.click('input[name="Update"]')]);
    const refused = await page.textContent('.adm-info-message');
    assert.match(refused, /not saved/i);
    assert.match(refused, /differs from bxpush\.signature_key.*php\.ini.*bxpush serve.*save again/s);

    // A valid save (the key the extension uses, a shorter wait for the test event) → redirect.
    await page.goto(settingsUrl());
    await page.click('.adm-detail-tab[data-tab="bxpush_connection"]');
    await screenshot('settings-page-connection');
    await page.fill('#bxpush_test_timeout', String(TEST_TIMEOUT_S));
    await Promise.all([page.waitForNavigation(), page.click('input[name="Update"]')]);
    assert.match(page.url(), /[?&]saved=Y/, 'post/redirect/get after a save');
    assert.match(await page.textContent('.adm-info-message'), /Settings saved/);
    assert.equal(await page.inputValue('#bxpush_test_timeout'), String(TEST_TIMEOUT_S));
    const config = JSON.parse(await page.textContent('#bxpush-pull-settings-config'));
    assert.equal(config.testTimeout, TEST_TIMEOUT_S);
  });
});

test('status figures appear and the test event round-trips to the page\'s pull client', { timeout: 90000 }, async () => {
  await explain(async () => {
    await page.goto(settingsUrl());
    await page.waitForSelector('#bxpush-pull-settings[data-ready="1"]');

    assert.equal(await page.textContent('[data-bxpush-field="server"]'), sock, 'runtime address = bxpush.server');
    await page.waitForSelector('[data-bxpush-stat="runtime"][data-state="up"]');
    assert.match(await page.textContent('[data-bxpush-stat="runtime"]'), /^Answers: bxpush \d+\.\d+\.\d+, pid \d+, up \d+ s$/);

    // The page's own client connects (WebSocket), and the next status refresh counts it.
    await page.waitForSelector('#bxpush-client-status[data-state="online"]', { timeout: 20000 });
    await page.waitForFunction(() => {
      const el = document.querySelector('[data-bxpush-stat="connections"]');
      return Number(el.getAttribute('data-total')) >= 1 && Number(el.getAttribute('data-websocket')) >= 1;
    }, null, { timeout: 20000 });
    assert.match(await page.textContent('[data-bxpush-stat="connections"]'), /^WebSocket [1-9]\d*, long polling \d+, SSE \d+ \(total [1-9]\d*\)$/);
    assert.ok(Number(await page.getAttribute('[data-bxpush-stat="channels"]', 'data-value')) >= 1, 'channels ≥ 1');
    for (const stat of ['messagesToday', 'published', 'badRequests', 'slowReadersCut']) {
      assert.match(await page.getAttribute(`[data-bxpush-stat="${stat}"]`, 'data-value'), /^\d+$/, `${stat} is a number`);
    }
    assert.match(await page.textContent('[data-bxpush-stat="spool"]'), /^empty \(.*spool\) · this worker: queued \d+, spooled \d+, replayed \d+$/);
    assert.equal(await page.getAttribute('[data-bxpush-stat="problems"]', 'data-count'), '0',
      `no problems: ${await page.textContent('[data-bxpush-stat="problems"]')}`);
    assert.match(await page.textContent('[data-bxpush-stat="errors"]'), /^None$/);

    // Send test event → it arrives through the real runtime, with the round trip shown.
    await page.click('#bxpush-send-test');
    await page.waitForSelector('#bxpush-test-result[data-state="arrived"]', { timeout: TEST_TIMEOUT_S * 1000 + 2000 });
    const rtt = Number(await page.getAttribute('#bxpush-test-result', 'data-rtt'));
    assert.ok(rtt > 0 && rtt < TEST_TIMEOUT_S * 1000, `round trip ${rtt} ms`);
    assert.equal(await page.textContent('#bxpush-test-result'), `Arrived: round trip ${rtt} ms`);

    // The runtime counted it: messages published today ≥ 1 on a later refresh.
    await page.waitForFunction(() => Number(document.querySelector('[data-bxpush-stat="messagesToday"]').getAttribute('data-value')) >= 1,
      null, { timeout: 15000 });
    await screenshot('settings-page');
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  });
});

test('with bxpush serve stopped, the page says why the test event did not arrive', { timeout: 90000 }, async () => {
  await explain(async () => {
    // The admin keeps the page of the previous test open while the runtime goes away.
    await serve.stop();
    await page.waitForSelector('[data-bxpush-stat="runtime"][data-state="down"]', { timeout: 15000 });
    await page.waitForFunction(() => document.querySelector('#bxpush-client-status').getAttribute('data-state') !== 'online',
      null, { timeout: 15000 });
    assert.match(await page.textContent('[data-bxpush-stat="runtime"]'), /^Does not answer: .+/);

    await page.click('#bxpush-send-test');
    const result = '#bxpush-test-result[data-state="timeout"], #bxpush-test-result[data-state="error"]';
    await page.waitForSelector(result, { timeout: TEST_TIMEOUT_S * 1000 + 10000 });
    const text = await page.textContent('#bxpush-test-result');
    const state = await page.getAttribute('#bxpush-test-result', 'data-state');
    if (state === 'timeout') {
      assert.match(text, new RegExp(`^Did not arrive within ${TEST_TIMEOUT_S} s\\. Likely causes:`));
    } else {
      assert.match(text, /^The site could not hand the event over: /);
    }
    // the cause it knows: the runtime does not answer at bxpush.server, and how to fix it
    assert.ok(text.includes(`The runtime does not answer at ${sock}: start bxpush serve with --listen-php ${sock}`), text);
    assert.ok(!text.includes(key), 'no key on the page');
    // Sends go through the module's transport shim into the extension, which keeps the event
    // in its spool while the runtime is down: the page says so and counts the spooled file.
    assert.match(await page.textContent('#bxpush_connection'), /How PHP sends\s*Through the PHP extension \(transport shim\)/);
    assert.ok(text.includes('The event was kept in the spool and will be delivered once the runtime is back.'), text);
    await page.waitForFunction(() => Number(document.querySelector('[data-bxpush-stat="spool"]').getAttribute('data-files')) >= 1,
      null, { timeout: 10000 });
    assert.equal(await page.getAttribute('#bxpush-client-status', 'data-state') === 'online', false,
      'the page\'s client is not connected to a stopped runtime');
    await screenshot('settings-page-runtime-down');
  });
});

test('once bxpush serve is back, the spooled test event reaches the page, shown as late', { timeout: 90000 }, async () => {
  await explain(async () => {
    assert.ok(await page.$('#bxpush-test-result[data-state="timeout"]'), 'the previous test left the page waiting for its event');
    serve = await startServe();   // same addresses and data dir: the page's client reconnects by itself
    await page.waitForSelector('[data-bxpush-stat="runtime"][data-state="up"]', { timeout: 15000 });
    await page.waitForSelector('#bxpush-test-result[data-state="late"]', { timeout: 60000 });
    const rtt = Number(await page.getAttribute('#bxpush-test-result', 'data-rtt'));
    assert.ok(rtt >= TEST_TIMEOUT_S * 1000, `arrived after the ${TEST_TIMEOUT_S} s wait: ${rtt} ms`);
    assert.equal(await page.textContent('#bxpush-test-result'), `Arrived late: round trip ${rtt} ms`);
    await page.waitForSelector('#bxpush-client-status[data-state="online"]');
    await screenshot('settings-page-late');
  });
});
