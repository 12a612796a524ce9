// The real @bitrix24/b24jssdk 2.2.0 PullClient, run under Node against a real `bxpush serve`.
//
// Every case asserts on what the application callback sees (command, params), the way a Bitrix
// page uses the client; the URLs the SDK built are checked only to prove which transport ran.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
// Imported (evaluated) before the browser globals exist: the SDK's bundled axios probes
// `window`/`document` at module load and would take a half-faked browser for a real one.
import { B24PullClientManager } from '@bitrix24/b24jssdk';
import { installBrowserGlobals, setIeMode, sockets, xhrCounts } from './lib/node-browser-env.mjs';
import { makeChannels, makePullConfig, makeMessageBody, sign } from './lib/channels.mjs';
import { startServer, publish, waitFor, sleep, withServerLog } from './lib/server.mjs';

installBrowserGlobals();

const MODULE = 'bxtest';
const USER_ID = 1;
// After the expected messages arrived, how long to keep listening for extras (duplicates, replays
// of old messages). Longer than the server's 400 ms WebSocket coalescing window.
const QUIET_MS = 1200;

let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

/** A fake `b24` whose REST call `pull.config.get` answers with `config` (what the SDK reads). */
function fakeB24(config) {
  const calls = [];
  return {
    calls,
    actions: {
      v2: {
        call: {
          make: async ({ method, params }) => {
            calls.push({ method, params });
            if (method !== 'pull.config.get') throw new Error(`fake b24: unexpected REST call ${method}`);
            // The SDK mutates what it gets (deletes serverTime, adds server.timeShift): a fresh copy each time.
            const result = structuredClone(config);
            return { getData: () => ({ result }) };
          },
        },
      },
    },
    callMethod: async (method) => {
      throw new Error(`fake b24: unexpected REST call ${method}`);
    },
  };
}

/**
 * A PullClient for a fresh set of channels, subscribed to MODULE. `received` collects what the
 * application callback sees: {command, params, extra}.
 */
function makeClient({ websocket = true, srv = server } = {}) {
  const channels = makeChannels(srv.key);
  const config = makePullConfig({ subPort: srv.subPort, channels, userId: USER_ID, websocket });
  const b24 = fakeB24(config);
  const client = new B24PullClientManager({ b24, userId: USER_ID, siteId: 's1' });
  const received = [];
  client.subscribe({
    moduleId: MODULE,
    callback: (data) => received.push(structuredClone(data)),
  });
  const socketsBefore = sockets.length;
  return {
    client,
    channels,
    config,
    received,
    b24,
    /** WebSockets this client opened so far */
    sockets: () => sockets.slice(socketsBefore),
    seqs: () => received.map((m) => m.params.seq),
  };
}

let seqCounter = 0;
/** Publishes one §4.1 message with params {seq, n} to `channelIds` through /bitrix/pub/. */
async function pub(channelIds, seq, { command = 'ping', expiry = 86400, srv = server } = {}) {
  const params = { seq, n: ++seqCounter, text: `message ${seq} / \u00e9\u4e2d "quoted"` };
  await publish(srv, channelIds, makeMessageBody(MODULE, command, params), { expiry });
  return params;
}

/**
 * Publishes `count` messages PREFIX1..PREFIXcount one after the other; returns their seqs.
 * More than the SDK's duplicate filter remembers (10 mids), so a server that replays messages
 * at or before the client's mid makes the first of them reach the app twice.
 */
async function pubMany(channelIds, prefix, count, srv = server) {
  const seqs = [];
  for (let i = 1; i <= count; i++) {
    seqs.push(`${prefix}${i}`);
    await pub(channelIds, `${prefix}${i}`, { srv });
  }
  return seqs;
}
const OLD_COUNT = 12;

async function waitForSeqs(c, seqs, timeout = 5000) {
  await waitFor(() => seqs.every((s) => c.seqs().includes(s)), {
    timeout,
    what: `the app callback to receive ${JSON.stringify(seqs)} (got ${JSON.stringify(c.seqs())})`,
  });
}

/** Expects exactly `seqs`, in that order, after a quiet period with no more messages. */
async function expectExactly(c, seqs, timeout = 5000) {
  await waitForSeqs(c, seqs, timeout);
  await sleep(QUIET_MS);
  assert.deepEqual(c.seqs(), seqs, 'messages seen by the app callback (in order, each exactly once)');
}

/** Starts a WebSocket client and waits for the connection to be open. */
async function startWs(c) {
  await Promise.race([
    c.client.start(),
    sleep(5000).then(() => { throw new Error('PullClient.start() did not connect over WebSocket within 5 s'); }),
  ]);
  assert.equal(c.sockets().length >= 1, true, 'the SDK opened a WebSocket');
  // The server subscribes the connection right after the upgrade; give it a moment.
  await sleep(150);
}

/**
 * Starts a long-polling client. The SDK counts a long poll as connected only at the first
 * 200/304 or after 5 s, so do not wait for start(): wait until its request is on the wire.
 */
async function startLp(c) {
  const started = c.client.start();
  started.catch(() => {});
  await waitFor(() => c.client._connectors?.longPolling?._xhr?.readyState >= 1, {
    timeout: 3000, what: 'the SDK to send its long-polling request',
  });
  await sleep(300);
  return { started };
}

function lastUrl(c) {
  const ws = c.sockets();
  return ws.length ? ws[ws.length - 1].url : null;
}

// ------------------------------------------------------------------------------------------------

test('harness signs channels like Bitrix PHP (spec §11.2 vectors)', () => {
  const ch = makeChannels('test-signature-key', {
    privateId: 'f6fcf2d5d6c2764e292968f0d64b7530',
    publicId: 'a387b57cd8cea2596fae4294fbe0f536',
    sharedId: '975e31775df2c33d6d4fb51adc683a5c',
  });
  assert.equal(sign('test-signature-key', 'f6fcf2d5d6c2764e292968f0d64b7530'), 'b3b9f55bef5e76a5b540da5cc11de4cef6fe2559');
  assert.equal(ch.privateDescriptor, 'f6fcf2d5d6c2764e292968f0d64b7530:a387b57cd8cea2596fae4294fbe0f536.a4d601da975bea990483c3fb4c8b69e6ee19da16');
  assert.equal(ch.publicDescriptor, 'a387b57cd8cea2596fae4294fbe0f536.f59a1bc80c528413971b90120368aa438b7e7f30');
  assert.equal(ch.sharedDescriptor, '975e31775df2c33d6d4fb51adc683a5c.93ee02640500ee17c911d0093c5dbf55778ce25e');
});

test('WebSocket, binary mode (default): app callback gets a published message', { timeout: 20000 }, async () => {
  setIeMode(false);
  const c = makeClient();
  try {
    await withServerLog(server, async () => {
      await startWs(c);
      const url = lastUrl(c);
      assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/bitrix\/subws\/\?CHANNEL_ID=/);
      assert.match(url, /[?&]binaryMode=true(&|$)/, `binary mode URL: ${url}`);
      const params = await pub(c.channels.privateId, 'A');
      await expectExactly(c, ['A']);
      const m = c.received[0];
      assert.equal(m.command, 'ping');
      assert.deepEqual(m.params, params);
      assert.equal(m.extra.revision_web, 19);
      // Backend messages carry sender {type: BACKEND (2)} in protobuf mode (spec §13).
      assert.equal(m.extra.sender?.type, 2, `extra.sender: ${JSON.stringify(m.extra.sender)}`);
      assert.equal(c.b24.calls[0]?.method, 'pull.config.get');
    });
  } finally {
    c.client.destroy();
  }
});

test('WebSocket, binary mode: shared channel, and a message to private+shared reaches the app once', { timeout: 20000 }, async () => {
  setIeMode(false);
  const c = makeClient();
  try {
    await withServerLog(server, async () => {
      await startWs(c);
      await pub(c.channels.sharedId, 'S');
      await waitForSeqs(c, ['S']);
      await pub([c.channels.privateId, c.channels.sharedId], 'PS');
      await pub(c.channels.privateId, 'P');
      await expectExactly(c, ['S', 'PS', 'P']);
    });
  } finally {
    c.client.destroy();
  }
});

test('WebSocket, text mode (IE path, no binaryMode): app callback gets a published message', { timeout: 20000 }, async () => {
  setIeMode(true);
  const c = makeClient();
  try {
    await withServerLog(server, async () => {
      await startWs(c);
      const url = lastUrl(c);
      assert.doesNotMatch(url, /binaryMode/, `text mode URL: ${url}`);
      const a = await pub(c.channels.privateId, 'A');
      await waitForSeqs(c, ['A']);
      const b = await pub(c.channels.privateId, 'B');
      await expectExactly(c, ['A', 'B']);
      assert.deepEqual(c.received.map((m) => [m.command, m.params]), [['ping', a], ['ping', b]]);
      // The client keeps the envelope's mid/tag/time for the next connection (spec §13).
      assert.match(c.client.session.mid ?? '', /^\d{26}$/, `session.mid after text frames: ${c.client.session.mid}`);
    });
  } finally {
    c.client.destroy();
    setIeMode(false);
  }
});

test('long polling, binary mode (websocket_enabled: false): app callback gets published messages', { timeout: 25000 }, async () => {
  setIeMode(false);
  const c = makeClient({ websocket: false });
  try {
    await withServerLog(server, async () => {
      const { started } = await startLp(c); // start() resolves at the first reply
      assert.equal(c.sockets().length, 0, 'no WebSocket when websocket_enabled is false');
      const a = await pub(c.channels.privateId, 'A');
      await waitForSeqs(c, ['A']);
      await Promise.race([started, sleep(3000).then(() => { throw new Error('long polling did not count as connected after its first reply'); })]);
      assert.equal(c.client.isConnected(), true);
      // The next poll carries mid=A's id; publish while it is parked.
      await sleep(300);
      const b = await pub(c.channels.privateId, 'B');
      await pub(c.channels.sharedId, 'C');
      await expectExactly(c, ['A', 'B', 'C']);
      assert.deepEqual(c.received[0].params, a);
      assert.deepEqual(c.received[1].params, b);
      assert.equal(c.received[0].extra.sender?.type, 2, `extra.sender: ${JSON.stringify(c.received[0].extra.sender)}`);
    });
  } finally {
    c.client.destroy();
  }
});

test('long polling, text mode: app callback gets published messages', { timeout: 25000 }, async () => {
  setIeMode(true);
  const c = makeClient({ websocket: false });
  try {
    await withServerLog(server, async () => {
      await startLp(c);
      await pub(c.channels.privateId, 'A');
      await waitForSeqs(c, ['A']);
      await sleep(300);
      await pub(c.channels.privateId, 'B');
      await expectExactly(c, ['A', 'B']);
      assert.match(c.client.session.mid ?? '', /^\d{26}$/);
    });
  } finally {
    c.client.destroy();
    setIeMode(false);
  }
});

test('WebSocket reconnect with mid: messages published while stopped arrive once, old ones not again', { timeout: 25000 }, async () => {
  setIeMode(false);
  const c = makeClient();
  try {
    await withServerLog(server, async () => {
      await startWs(c);
      const old = await pubMany(c.channels.privateId, 'A', OLD_COUNT);
      await expectExactly(c, old);
      const midA = c.client.session.mid;
      assert.match(midA ?? '', /^\d{26}$/, `session.mid after the A messages: ${midA}`);

      c.client.stop(); // closes the socket with 1000; no automatic reconnect
      await sleep(300);
      await pub(c.channels.privateId, 'B');
      await pub(c.channels.privateId, 'C');
      await sleep(200);
      assert.deepEqual(c.seqs(), old, 'nothing arrives while stopped');

      await startWs(c);
      const url = lastUrl(c);
      assert.match(url, new RegExp(`[?&]mid=${midA}(&|$)`), `reconnect URL carries the last mid: ${url}`);
      await expectExactly(c, [...old, 'B', 'C']);
      // Live delivery continues on the resumed connection.
      await pub(c.channels.privateId, 'D');
      await expectExactly(c, [...old, 'B', 'C', 'D']);
    });
  } finally {
    c.client.destroy();
  }
});

test('WebSocket connection killed: the SDK reconnects (0.5 s) with mid and gets what it missed exactly once', { timeout: 25000 }, async () => {
  setIeMode(false);
  const c = makeClient();
  try {
    await withServerLog(server, async () => {
      await startWs(c);
      const old = await pubMany(c.channels.privateId, 'A', OLD_COUNT);
      await expectExactly(c, old);
      const midA = c.client.session.mid;
      const first = c.sockets().at(-1);
      first.terminate(); // abrupt TCP close, as a network drop; the SDK schedules a reconnect in 0.5–0.6 s
      // Published at once: the server may still think the old connection is alive.
      await pub(c.channels.privateId, 'B');
      await pub(c.channels.privateId, 'C');
      await waitFor(() => c.sockets().length >= 2 && c.sockets().at(-1).readyState === 1, {
        timeout: 5000, what: 'the SDK to reconnect its WebSocket',
      });
      assert.match(c.sockets().at(-1).url, new RegExp(`[?&]mid=${midA}(&|$)`), 'reconnect carries the last mid');
      await expectExactly(c, [...old, 'B', 'C']);
    });
  } finally {
    c.client.destroy();
  }
});

test('long-polling reconnect with mid: messages published while stopped arrive once, old ones not again', { timeout: 25000 }, async () => {
  setIeMode(false);
  const c = makeClient({ websocket: false });
  try {
    await withServerLog(server, async () => {
      await startLp(c);
      const old = await pubMany(c.channels.privateId, 'A', OLD_COUNT);
      await expectExactly(c, old);
      const midA = c.client.session.mid;
      assert.match(midA ?? '', /^\d{26}$/, `session.mid after the A messages: ${midA}`);

      c.client.stop(); // aborts the parked request
      await sleep(300);
      await pub(c.channels.privateId, 'B');
      await pub(c.channels.privateId, 'C');
      await sleep(200);
      assert.deepEqual(c.seqs(), old, 'nothing arrives while stopped');

      await startLp(c);
      await expectExactly(c, [...old, 'B', 'C']);
      await pub(c.channels.privateId, 'D');
      await expectExactly(c, [...old, 'B', 'C', 'D']);
    });
  } finally {
    c.client.destroy();
  }
});

test('a replay longer than --max-send-chunk reaches the app once and in order (WebSocket and long polling, text and binary)', { timeout: 90000 }, async () => {
  // 2 KiB chunks: a replay of 25 messages (~400 B each) comes as several WebSocket frames, or
  // as several long-poll replies that the SDK asks for again with its last mid (spec §2.2).
  const small = await startServer({ extraArgs: ['--max-send-chunk', '2048'] });
  try {
    for (const [websocket, ie] of [[true, false], [true, true], [false, false], [false, true]]) {
      setIeMode(ie);
      const c = makeClient({ websocket, srv: small });
      const start = websocket ? startWs : startLp;
      try {
        await withServerLog(small, async () => {
          await start(c);
          const old = await pubMany(c.channels.privateId, `A${websocket}${ie}-`, 3, small);
          await expectExactly(c, old);
          c.client.stop();
          await sleep(300);
          const missed = await pubMany(c.channels.privateId, `B${websocket}${ie}-`, 25, small);
          const polls = xhrCounts.sent;
          await start(c);
          await expectExactly(c, [...old, ...missed], 10000);
          // It did come in pieces: frames on the resumed socket, or polls since the restart.
          const pieces = websocket ? c.sockets().at(-1).frames : xhrCounts.sent - polls;
          assert.ok(pieces >= 4, `the replay came in ${pieces} frames or polls`);
        });
      } finally {
        c.client.destroy();
      }
    }
  } finally {
    setIeMode(false);
    await small.stop();
  }
});
