// The status page at / of the trusted listener, in Debian's headless Chromium driven by
// playwright-core, against a real `bxpush serve`: it shows the live connection count,
// sends a test event with its form and shows it arriving in the page itself over
// WebSocket, SSE and long polling; a client's bad request appears under recent errors.
// Saves a screenshot (STATUS_PAGE_SCREENSHOT, default /tmp/bxpush-status-page.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startServer, withServerLog } from './lib/server.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const SCREENSHOT = process.env.STATUS_PAGE_SCREENSHOT || '/tmp/bxpush-status-page.png';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
});

const pageUrl = (query = '') => `http://127.0.0.1:${server.pubPort}/${query}`;

/** Open the page and wait until it listens over `via` (its data-transport). */
async function open(query, via) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pageUrl(query));
  await page.waitForFunction((t) => document.body.dataset.transport === t, via, { timeout: 10000 })
    .catch(async (e) => {
      throw new Error(`page did not listen over ${via}: transport "${await page.textContent('#transport')}", errors ${JSON.stringify(errors)} (${e.message})`);
    });
  return { page, errors };
}

/** Send a test event with the form and wait for it in the page's list. */
async function sendAndSee(page, text, via) {
  await page.fill('#test-text', text);
  await page.click('#send-test');
  const li = page.locator('#received li.arrived', { hasText: text });
  await li.waitFor({ timeout: 10000 });
  assert.equal(await li.getAttribute('data-via'), via);
  assert.match(await page.textContent('#send-result'), /^sent at /);
  return li;
}

test('status page: live counts, a test event over WebSocket, recent errors, screenshot', { timeout: 60000 }, async () => {
  await withServerLog(server, async () => {
    const { page, errors } = await open('', 'websocket');
    // The page's own WebSocket is a live connection, shown within a refresh.
    await page.waitForFunction(() => Number(document.getElementById('conn-websocket').textContent) >= 1, null, { timeout: 5000 });
    const stat = await (await fetch(`http://127.0.0.1:${server.pubPort}/server-stat/`)).json();
    assert.equal(Number(await page.textContent('#conn-websocket')), stat[0].websockets);

    const li = await sendAndSee(page, `ws test ${Date.now()}`, 'websocket');
    assert.match(await li.textContent(), /via WebSocket in \d+ ms$/);
    await page.waitForFunction(() => Number(document.getElementById('published').textContent) >= 1, null, { timeout: 5000 });

    // A client's bad request shows up under recent errors (the log has it at debug only).
    const bad = await fetch(`http://127.0.0.1:${server.subPort}/bitrix/sub/?CHANNEL_ID=nothex`);
    assert.equal(bad.status, 400);
    await page.locator('#recent li', { hasText: 'bad request: subscribe: 4010' }).waitFor({ timeout: 5000 });

    // /status.json is not readable from other origins.
    const res = await fetch(`http://127.0.0.1:${server.pubPort}/status.json`);
    assert.equal(res.headers.get('access-control-allow-origin'), null);

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`status page screenshot: ${SCREENSHOT}`);
    assert.deepEqual(errors, []);
    await page.close();
  });
});

test('status page falls back to SSE and to long polling', { timeout: 60000 }, async () => {
  await withServerLog(server, async () => {
    const sse = await open('?transport=sse', 'sse');
    await sse.page.waitForFunction(() => Number(document.getElementById('conn-sse').textContent) >= 1, null, { timeout: 5000 });
    await sendAndSee(sse.page, `sse test ${Date.now()}`, 'sse');
    await sse.page.close();

    const lp = await open('?transport=longpoll', 'longpoll');
    // Wait until the poll is parked in bxpush, so the event is delivered live.
    await lp.page.waitForFunction(() => Number(document.getElementById('conn-longpoll').textContent) >= 1, null, { timeout: 5000 });
    await sendAndSee(lp.page, `long poll test ${Date.now()}`, 'longpoll');
    assert.deepEqual(lp.errors, []);
    await lp.page.close();
  });
});
