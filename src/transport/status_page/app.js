// The bxpush status page: polls /status.json every second, draws messages per second,
// and listens on its own test channel over WebSocket, falling back to SSE and then long
// polling (the Bitrix client's order, plus SSE), so a test event sent with the form is
// seen arriving through the same path a browser's messages take.
'use strict';

const $ = (id) => document.getElementById(id);
const SAMPLES = 120;
const ORDER = ['websocket', 'sse', 'longpoll'];
const NAMES = { websocket: 'WebSocket', sse: 'SSE', longpoll: 'long polling' };

const state = {
  samples: [],
  last: null, // { published, t }
  test: null, // channel info from /status.json
  listening: false,
};

// ---- figures ----------------------------------------------------------------------------

async function refresh() {
  let s;
  try {
    const r = await fetch('/status.json', { cache: 'no-store' });
    s = await r.json();
  } catch (e) {
    $('live').textContent = 'bxpush does not answer';
    $('live').className = 'badge down';
    return;
  }
  $('live').textContent = 'live';
  $('live').className = 'badge ok';
  $('version').textContent = `v${s.version} · pid ${s.pid}`;
  $('uptime').textContent = `up ${formatDuration(s.uptimeSeconds)}`;
  $('conn-websocket').textContent = s.connections.websocket;
  $('conn-longpoll').textContent = s.connections.longpoll;
  $('conn-sse').textContent = s.connections.sse;
  $('channels').textContent = s.channels;
  $('published').textContent = s.published;
  const now = performance.now();
  if (state.last) {
    const secs = (now - state.last.t) / 1000;
    const rate = secs > 0 ? Math.max(0, (s.published - state.last.published) / secs) : 0;
    state.samples.push(rate);
    if (state.samples.length > SAMPLES) state.samples.shift();
    $('rate').textContent = rate < 10 ? rate.toFixed(1) : Math.round(rate);
  }
  state.last = { published: s.published, t: now };
  drawChart();
  showRecent(s.recent);
  if (!state.test) {
    state.test = s.test;
    $('test-channel').value = s.test.channel;
    listen(firstTransport());
  }
}

function formatDuration(s) {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

function drawChart() {
  const c = $('rate-chart');
  const ratio = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = c.clientHeight;
  if (c.width !== w * ratio) { c.width = w * ratio; c.height = h * ratio; }
  const g = c.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  const max = Math.max(1, ...state.samples);
  const pad = 22;
  g.strokeStyle = '#d9dee8';
  g.fillStyle = '#6b7385';
  g.font = '11px system-ui, sans-serif';
  for (const f of [0, 0.5, 1]) {
    const y = h - pad - f * (h - 2 * pad);
    g.beginPath(); g.moveTo(pad + 20, y); g.lineTo(w - 4, y); g.stroke();
    g.fillText((max * f).toFixed(max * f < 10 ? 1 : 0), 2, y + 4);
  }
  if (state.samples.length < 2) return;
  const step = (w - pad - 24) / (SAMPLES - 1);
  const x0 = w - 4 - step * (state.samples.length - 1);
  g.strokeStyle = '#2f6fde';
  g.lineWidth = 2;
  g.beginPath();
  state.samples.forEach((v, i) => {
    const x = x0 + i * step;
    const y = h - pad - (v / max) * (h - 2 * pad);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
}

function showRecent(entries) {
  const ul = $('recent');
  ul.replaceChildren();
  if (!entries.length) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'none';
    ul.append(li);
    return;
  }
  for (const e of entries) {
    const li = document.createElement('li');
    li.className = `level-${e.level}`;
    li.textContent = `${new Date(e.time_ms).toLocaleTimeString()} ${e.level}: ${e.text}`;
    ul.append(li);
  }
}

// ---- listening on the test channel ------------------------------------------------------

function firstTransport() {
  const forced = new URLSearchParams(location.search).get('transport');
  return ORDER.includes(forced) ? forced : ORDER[0];
}

function subBase() {
  const host = state.test.subHost || location.hostname;
  return `${host}:${state.test.subPort}`;
}

function channelQuery() {
  return `CHANNEL_ID=${encodeURIComponent(state.test.descriptor)}`;
}

function nextTransport(t) {
  const i = ORDER.indexOf(t);
  return i >= 0 && i + 1 < ORDER.length ? ORDER[i + 1] : null;
}

function using(t) {
  $('transport').textContent = NAMES[t];
  document.body.dataset.transport = t;
}

/** Open transport `t`; if it cannot even open, fall back to the next one. */
function listen(t) {
  if (!t) {
    $('transport').textContent = 'nothing: no transport reaches bxpush';
    return;
  }
  if (t === 'websocket') listenWebSocket();
  else if (t === 'sse') listenSse();
  else listenLongPoll();
}

function listenWebSocket() {
  let opened = false;
  const ws = new WebSocket(`ws://${subBase()}/bitrix/subws/?${channelQuery()}`);
  ws.onopen = () => { opened = true; using('websocket'); };
  ws.onmessage = (e) => envelopes(e.data).forEach((env) => arrived(env.text, 'websocket'));
  ws.onclose = () => {
    if (opened) setTimeout(listenWebSocket, 2000); // it worked once: reconnect
    else listen(nextTransport('websocket'));
  };
}

function listenSse() {
  let opened = false;
  const es = new EventSource(`http://${subBase()}/bitrix/sub/?${channelQuery()}`);
  es.onopen = () => { opened = true; using('sse'); };
  es.onmessage = (e) => arrived(JSON.parse(e.data).text, 'sse');
  es.onerror = () => {
    if (!opened) { es.close(); listen(nextTransport('sse')); }
    // once opened, EventSource reconnects by itself (Last-Event-ID)
  };
}

async function listenLongPoll() {
  let mid = '';
  let failures = 0;
  using('longpoll');
  for (;;) {
    try {
      const r = await fetch(`http://${subBase()}/bitrix/sub/?${channelQuery()}${mid ? `&mid=${mid}` : ''}`, { cache: 'no-store' });
      failures = 0;
      if (r.status === 200) {
        const list = envelopes(await r.text());
        list.forEach((env) => arrived(env.text, 'longpoll'));
        if (list.length) mid = list[list.length - 1].mid;
      } else if (r.status === 304) {
        mid = r.headers.get('Last-Message-Id') || mid;
      } else {
        await new Promise((ok) => setTimeout(ok, 2000));
      }
    } catch (e) {
      failures++;
      if (failures > 3) { $('transport').textContent = 'nothing: no transport reaches bxpush'; return; }
      await new Promise((ok) => setTimeout(ok, 2000));
    }
  }
}

/** The JSON envelopes of a text-mode body (#!NGINXNMS!#{…}#!NGINXNME!#…). */
function envelopes(text) {
  const out = [];
  const re = /#!NGINXNMS!#([\s\S]*?)#!NGINXNME!#/g;
  let m;
  while ((m = re.exec(text))) {
    try { out.push(JSON.parse(m[1])); } catch (e) { /* not ours */ }
  }
  return out;
}

function arrived(text, via) {
  const li = document.createElement('li');
  const params = (text && text.params) || {};
  const ms = params.sent ? ` in ${Date.now() - params.sent} ms` : '';
  li.className = 'arrived';
  li.dataset.via = via;
  li.textContent = `${params.text ?? JSON.stringify(text)} — via ${NAMES[via]}${ms}`;
  $('received').prepend(li);
}

// ---- sending ----------------------------------------------------------------------------

$('test-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (!state.test) return;
  const body = JSON.stringify({
    module_id: 'bxpush',
    command: 'status_page_test',
    params: { text: $('test-text').value, sent: Date.now() },
  });
  const out = $('send-result');
  try {
    const r = await fetch(`/bitrix/pub/?CHANNEL_ID=${state.test.channel}`, {
      method: 'POST',
      headers: { 'Message-Expiry': '60' },
      body,
    });
    out.textContent = r.ok ? `sent at ${new Date().toLocaleTimeString()}` : `refused: ${r.status} ${await r.text()}`;
  } catch (e) {
    out.textContent = `not sent: ${e.message}`;
  }
});

refresh();
setInterval(refresh, 1000);
