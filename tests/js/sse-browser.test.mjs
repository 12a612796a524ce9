// EventSource (SSE) in a real browser: Debian's headless Chromium, driven by playwright-core,
// against a real `bxpush serve`. The page is served by a tiny loopback HTTP server on another
// port, so the stream is cross-origin and needs the server's `Access-Control-Allow-Origin: *`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { chromium } from 'playwright-core';
import { makeChannels, makeMessageBody } from './lib/channels.mjs';
import { startServer, publish, sleep, withServerLog } from './lib/server.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// The page keeps every EventSource it opened and what each received.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>bxpush SSE</title></head>
<body><script>
window.streams = [];
window.openStream = (url) => {
  const s = { url, opened: 0, errors: 0, events: [], readyStates: [] };
  const es = new EventSource(url);
  s.es = es;
  es.addEventListener('open', () => { s.opened++; });
  es.addEventListener('error', () => { s.errors++; s.readyStates.push(es.readyState); });
  es.addEventListener('message', (e) => {
    s.events.push({ type: e.type, lastEventId: e.lastEventId, data: e.data, origin: e.origin });
  });
  window.streams.push(s);
  return window.streams.length - 1;
};
window.closeStream = (i) => window.streams[i].es.close();
window.streamState = (i) => {
  const s = window.streams[i];
  return { url: s.url, opened: s.opened, errors: s.errors, events: s.events, readyState: s.es.readyState };
};
</script></body></html>`;

let server;
let pageServer;
let pagePort;
let browser;
let page;

before(async () => {
  server = await startServer();
  pageServer = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  pagePort = pageServer.address().port;
  // playwright gives the browser a fresh temporary profile (it refuses --user-data-dir in args)
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${pagePort}/`);
});

after(async () => {
  await browser?.close().catch(() => {});
  await new Promise((resolve) => (pageServer ? pageServer.close(resolve) : resolve()));
  pageServer?.closeAllConnections?.();
  await server?.stop();
});

const RFC1123 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

function streamUrl(channels, extraQuery = '') {
  return `http://127.0.0.1:${server.subPort}/bitrix/sub/?CHANNEL_ID=${encodeURIComponent(channels.privateDescriptor)}${extraQuery}`;
}

async function openStream(url) {
  const i = await page.evaluate((u) => window.openStream(u), url);
  await page.waitForFunction((n) => window.streams[n].opened > 0, i, { timeout: 5000 }).catch(async (e) => {
    const st = await page.evaluate((n) => window.streamState(n), i);
    throw new Error(`EventSource did not open within 5 s: ${JSON.stringify(st)} (${e.message})`);
  });
  return i;
}

async function waitForEvents(i, count, timeout = 5000) {
  try {
    await page.waitForFunction(([n, c]) => window.streams[n].events.length >= c, [i, count], { timeout });
  } catch (e) {
    const st = await page.evaluate((n) => window.streamState(n), i);
    throw new Error(`expected ${count} SSE events: ${JSON.stringify(st)} (${e.message})`);
  }
  return page.evaluate((n) => window.streamState(n).events, i);
}

/** Checks one SSE event against the §4.2 envelope of `body` and returns the parsed envelope. */
function checkEvent(ev, body) {
  assert.equal(ev.type, 'message');
  assert.match(ev.lastEventId, /^\d{26}$/, `lastEventId is a 26-digit mid: ${ev.lastEventId}`);
  const env = JSON.parse(ev.data);
  assert.deepEqual(Object.keys(env), ['id', 'mid', 'channel', 'tag', 'time', 'text'], `envelope keys: ${ev.data}`);
  assert.equal(env.mid, ev.lastEventId, 'envelope mid = event id');
  assert.equal(env.id, parseInt(env.mid.substring(10), 10), 'id = counter part of the mid');
  assert.equal(env.channel, '-');
  assert.match(env.tag, /^\d{3}$/);
  assert.match(env.time, RFC1123);
  assert.deepEqual(env.text, JSON.parse(body), 'text is the published body');
  return env;
}

test('EventSource in Chromium receives published messages with id = mid and the text envelope', { timeout: 30000 }, async () => {
  await withServerLog(server, async () => {
    const ch = makeChannels(server.key);
    const i = await openStream(streamUrl(ch));
    await sleep(150);
    const b1 = makeMessageBody('bxtest', 'sse', { seq: 1, text: 'first / "one" \u00e9' });
    const b2 = makeMessageBody('bxtest', 'sse', { seq: 2, text: 'second' });
    await publish(server, ch.privateId, b1);
    await publish(server, ch.privateId, b2);
    const events = await waitForEvents(i, 2);
    await sleep(500);
    const all = await page.evaluate((n) => window.streamState(n).events, i);
    assert.equal(all.length, 2, `exactly two events: ${JSON.stringify(all)}`);
    const e1 = checkEvent(events[0], b1);
    const e2 = checkEvent(events[1], b2);
    assert.ok(e2.mid > e1.mid, `mids increase: ${e1.mid} < ${e2.mid}`);
    await page.evaluate((n) => window.closeStream(n), i);
  });
});

test('EventSource resumes with &mid=: only messages after it arrive', { timeout: 30000 }, async () => {
  await withServerLog(server, async () => {
    const ch = makeChannels(server.key);
    const i = await openStream(streamUrl(ch));
    await sleep(150);
    const b1 = makeMessageBody('bxtest', 'sse', { seq: 1 });
    const b2 = makeMessageBody('bxtest', 'sse', { seq: 2 });
    await publish(server, ch.privateId, b1);
    await publish(server, ch.privateId, b2);
    const events = await waitForEvents(i, 2);
    const lastMid = events[1].lastEventId;
    await page.evaluate((n) => window.closeStream(n), i);
    await sleep(200);

    const b3 = makeMessageBody('bxtest', 'sse', { seq: 3, text: 'published while closed' });
    await publish(server, ch.privateId, b3); // stored (Message-Expiry: 86400)

    const j = await openStream(streamUrl(ch, `&mid=${lastMid}`));
    const resumed = await waitForEvents(j, 1);
    await sleep(800);
    const all = await page.evaluate((n) => window.streamState(n).events, j);
    assert.equal(all.length, 1, `only the message after mid ${lastMid}: ${JSON.stringify(all)}`);
    const e3 = checkEvent(resumed[0], b3);
    assert.ok(e3.mid > lastMid, `resumed mid ${e3.mid} > ${lastMid}`);

    // And live delivery goes on on the resumed stream.
    const b4 = makeMessageBody('bxtest', 'sse', { seq: 4 });
    await publish(server, ch.privateId, b4);
    const more = await waitForEvents(j, 2);
    checkEvent(more[1], b4);
    await page.evaluate((n) => window.closeStream(n), j);
  });
});

/** Reads SSE events from a fetch() response body until `count` events or `timeout` ms. */
async function readSse(res, count, timeout = 5000) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const events = [];
  const comments = [];
  let buf = '';
  const deadline = Date.now() + timeout;
  try {
    while (events.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const chunk = await Promise.race([reader.read(), sleep(left).then(() => null)]);
      if (!chunk || chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true });
      let k;
      while ((k = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, k);
        buf = buf.slice(k).replace(/^\r?\n\r?\n/, '');
        const ev = { id: null, data: [] };
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith(':')) { comments.push(line); continue; }
          const m = /^([^:]*)(?::\s?(.*))?$/.exec(line);
          if (m[1] === 'id') ev.id = m[2] ?? '';
          else if (m[1] === 'data') ev.data.push(m[2] ?? '');
        }
        if (ev.data.length) events.push({ id: ev.id, data: ev.data.join('\n') });
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return { events, comments };
}

test('SSE over plain HTTP: headers, and resume from a Last-Event-ID header on /bitrix/subws/', { timeout: 30000 }, async () => {
  await withServerLog(server, async () => {
    const ch = makeChannels(server.key);
    const url = `http://127.0.0.1:${server.subPort}/bitrix/subws/?CHANNEL_ID=${encodeURIComponent(ch.privateDescriptor)}`;
    const ac = new AbortController();
    const res = await fetch(url, { headers: { Accept: 'text/event-stream' }, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    await sleep(150);
    const b1 = makeMessageBody('bxtest', 'sse', { seq: 1 });
    const b2 = makeMessageBody('bxtest', 'sse', { seq: 2 });
    await publish(server, ch.privateId, b1);
    await publish(server, ch.privateId, b2);
    const first = await readSse(res, 2);
    ac.abort();
    assert.equal(first.events.length, 2, JSON.stringify(first));
    const [m1, m2] = first.events.map((e) => checkEvent({ type: 'message', lastEventId: e.id, data: e.data }, e === first.events[0] ? b1 : b2));

    const res2 = await fetch(url, { headers: { Accept: 'text/event-stream', 'Last-Event-ID': m1.mid } });
    assert.equal(res2.status, 200);
    const second = await readSse(res2, 2, 1500);
    assert.deepEqual(second.events.map((e) => e.id), [m2.mid], `resume after ${m1.mid}: ${JSON.stringify(second.events)}`);
  });
});
