/* bxpush.pull settings page: live status (AJAX), the page's pull client state, the test
 * event round trip, and the signature-key helpers. Uses only fetch() and the documented
 * BX.PULL API (subscribe, start, isConnected), so it runs with Bitrix's own pull client
 * or any client that keeps that API. Every string shown comes from the page's config
 * (lang/<lang>/options.php). */
(function () {
	'use strict';

	if (document.readyState === 'loading') {
		document.addEventListener('DOMContentLoaded', init);
	} else {
		init();
	}

	function init() {
		var MODULE_ID = 'bxpush.pull';
		var root = document.getElementById('bxpush-pull-settings');
		var configNode = document.getElementById('bxpush-pull-settings-config');
		if (!root || !configNode) {
			return;
		}
		var config = JSON.parse(configNode.textContent);
		var M = config.messages || {};

		function msg(code, replace) {
			var s = M[code] || code;
			if (replace) {
				Object.keys(replace).forEach(function (k) {
					s = s.split('#' + k + '#').join(String(replace[k]));
				});
			}
			return s;
		}

		function $(id) {
			return document.getElementById(id);
		}

		function setText(el, text) {
			if (el) {
				el.textContent = text;
			}
		}

		function statEl(path) {
			return root.querySelector('[data-bxpush-stat="' + path + '"]');
		}

		function fmtBytes(n) {
			if (n < 1024) {
				return n + ' ' + msg('BYTES');
			}
			var units = ['KiB', 'MiB', 'GiB'];
			var v = n;
			var u = -1;
			do {
				v /= 1024;
				u++;
			} while (v >= 1024 && u < units.length - 1);
			return v.toFixed(1) + ' ' + units[u];
		}

		function fillList(el, items, emptyText, render) {
			if (!el) {
				return;
			}
			el.textContent = '';
			if (!items || items.length === 0) {
				el.textContent = emptyText;
				el.setAttribute('data-count', '0');
				return;
			}
			var ul = document.createElement('ul');
			ul.className = 'bxpush-list';
			items.forEach(function (item) {
				var li = document.createElement('li');
				render(li, item);
				ul.appendChild(li);
			});
			el.appendChild(ul);
			el.setAttribute('data-count', String(items.length));
		}

		// ---- Status ------------------------------------------------------------------------

		var lastStatus = config.status || null;

		function renderStatus(st) {
			lastStatus = st;
			var rt = st.runtime || {};
			var runtimeEl = statEl('runtime');
			if (rt.reachable) {
				setText(runtimeEl, msg('RUNTIME_UP', {
					VERSION: rt.version || '?',
					PID: rt.pid || '?',
					UPTIME: rt.uptimeSeconds != null ? rt.uptimeSeconds : '?'
				}));
				runtimeEl.setAttribute('data-state', 'up');
			} else {
				setText(runtimeEl, msg('RUNTIME_DOWN', {ERROR: rt.error || ''}));
				runtimeEl.setAttribute('data-state', 'down');
			}

			var figures = {
				connections: rt.reachable ? msg('CONNECTIONS', {
					WS: rt.connections.websocket,
					LP: rt.connections.longPolling,
					SSE: rt.connections.sse,
					TOTAL: rt.connections.total
				}) : '—',
				channels: rt.reachable ? String(rt.channels) : '—',
				messagesToday: rt.reachable ? String(rt.messagesToday) : '—',
				published: rt.reachable ? String(rt.published) : '—',
				badRequests: rt.reachable ? String(rt.badRequests) : '—',
				slowReadersCut: rt.reachable ? String(rt.slowReadersCut) : '—'
			};
			Object.keys(figures).forEach(function (k) {
				var el = statEl(k);
				setText(el, figures[k]);
				if (el && rt.reachable) {
					if (k === 'connections') {
						el.setAttribute('data-total', String(rt.connections.total));
						el.setAttribute('data-websocket', String(rt.connections.websocket));
						el.setAttribute('data-long-polling', String(rt.connections.longPolling));
						el.setAttribute('data-sse', String(rt.connections.sse));
					} else {
						el.setAttribute('data-value', figures[k]);
					}
				} else if (el) {
					el.removeAttribute('data-value');
					el.removeAttribute('data-total');
				}
			});

			var sp = st.spool || {};
			var spoolEl = statEl('spool');
			var parts = [];
			if (!st.extension.loaded) {
				parts.push('—');
			} else {
				parts.push(sp.files > 0 ? msg('SPOOL', {
					FILES: sp.files,
					BYTES: fmtBytes(sp.bytes),
					AGE: sp.oldestSeconds != null ? sp.oldestSeconds : '?',
					DIR: sp.dir
				}) : msg('SPOOL_EMPTY', {DIR: sp.dir}));
				if (sp.bad > 0) {
					parts.push(msg('SPOOL_BAD', {COUNT: sp.bad}));
				}
				if (sp.worker) {
					parts.push(msg('SPOOL_WORKER', {
						QUEUED: sp.worker.queued,
						SPOOLED: sp.worker.spooled,
						REPLAYED: sp.worker.replayed
					}));
				}
				if (sp.error) {
					parts.push(sp.error);
				}
			}
			setText(spoolEl, parts.join(' · '));
			if (spoolEl) {
				spoolEl.setAttribute('data-files', String(sp.files || 0));
			}

			fillList(statEl('problems'), st.problems, msg('NO_PROBLEMS'), function (li, p) {
				li.textContent = p.message;
				li.setAttribute('data-code', p.code);
			});
			fillList(statEl('errors'), st.errors, msg('NO_ERRORS'), function (li, e) {
				var t = new Date(e.time * 1000);
				li.textContent = t.toLocaleString() + ' [' + e.source + '] ' + e.message;
			});
			var upd = statEl('updated');
			setText(upd, msg('UPDATED', {TIME: new Date(st.time).toLocaleTimeString()}));
			if (upd) {
				upd.removeAttribute('data-error');
			}
			root.setAttribute('data-status-time', String(st.time));
		}

		function runAction(action, data) {
			var body = new URLSearchParams();
			body.set('sessid', config.sessid);
			Object.keys(data || {}).forEach(function (k) {
				body.set(k, data[k]);
			});
			return fetch(config.ajaxUrl + '?action=' + encodeURIComponent(action), {
				method: 'POST',
				credentials: 'same-origin',
				headers: {'X-Bitrix-Csrf-Token': config.sessid},
				body: body
			}).then(function (res) {
				return res.text().then(function (text) {
					var json;
					try {
						json = JSON.parse(text);
					} catch (e) {
						throw new Error('HTTP ' + res.status + ': ' + text.slice(0, 200));
					}
					if (json.status !== 'success') {
						var errs = (json.errors || []).map(function (e) {
							return e.message;
						});
						throw new Error(errs.join('; ') || ('HTTP ' + res.status));
					}
					return json.data;
				});
			});
		}

		var refreshTimer = null;

		function refreshStatus() {
			return runAction('bxpush:pull.settings.status').then(renderStatus, function (err) {
				var upd = statEl('updated');
				setText(upd, msg('REFRESH_FAILED', {ERROR: err.message}));
				if (upd) {
					upd.setAttribute('data-error', '1');
				}
			});
		}

		function scheduleRefresh() {
			clearTimeout(refreshTimer);
			refreshTimer = setTimeout(function () {
				refreshStatus().then(scheduleRefresh, scheduleRefresh);
			}, config.refreshMs || 5000);
		}

		// ---- The page's pull client -------------------------------------------------------------

		var clientEl = $('bxpush-client-status');
		var clientState = 'none';
		var pending = null;

		function setClientState(state, detail) {
			clientState = state;
			if (!clientEl) {
				return;
			}
			clientEl.setAttribute('data-state', state);
			var text = {
				none: msg('CLIENT_NONE'),
				online: msg('CLIENT_ONLINE'),
				offline: msg('CLIENT_OFFLINE'),
				connect: msg('CLIENT_CONNECTING'),
				failed: msg('CLIENT_START_FAILED', {ERROR: detail || ''})
			}[state] || state;
			clientEl.textContent = text;
		}

		function pullApi() {
			return window.BX && window.BX.PULL && typeof window.BX.PULL.subscribe === 'function' ? window.BX.PULL : null;
		}

		function startClient() {
			var pull = pullApi();
			if (!pull) {
				setClientState('none');
				return;
			}
			var statusType = window.BX.PullClient && window.BX.PullClient.SubscriptionType
				? window.BX.PullClient.SubscriptionType.Status : 'status';
			pull.subscribe({
				type: statusType,
				callback: function (data) {
					var s = data && data.status;
					if (s === 'online' || s === 'offline' || s === 'connect') {
						setClientState(s);
					}
				}
			});
			pull.subscribe({
				moduleId: MODULE_ID,
				command: 'test',
				callback: function (params) {
					onTestEvent(params || {});
				}
			});
			var connected = typeof pull.isConnected === 'function' && pull.isConnected();
			setClientState(connected ? 'online' : 'connect');
			if (!connected && typeof pull.start === 'function') {
				Promise.resolve()
					.then(function () {
						return pull.start();
					})
					.then(function () {
						if (typeof pull.isConnected === 'function' && pull.isConnected()) {
							setClientState('online');
						}
					}, function (err) {
						var e = err && err.ex ? (err.ex.error_description || err.ex.error) : (err && err.message) || String(err);
						// a DOM event stringified by the client says nothing: drop it
						e = String(e).replace(/:?\s*\[object \w+\]/g, '').trim();
						setClientState('failed', e || '?');
					});
			}
		}

		// ---- Test event ------------------------------------------------------------------------

		var testBtn = $('bxpush-send-test');
		var testResult = $('bxpush-test-result');

		function setResult(state, text) {
			testResult.setAttribute('data-state', state);
			testResult.textContent = '';
			var lines = Array.isArray(text) ? text : [text];
			lines.forEach(function (line, i) {
				var div = document.createElement(i === 0 ? 'span' : 'div');
				div.textContent = line;
				if (i > 0) {
					div.className = 'bxpush-cause';
				}
				testResult.appendChild(div);
			});
		}

		function nonce() {
			var a = new Uint8Array(12);
			(window.crypto || window.msCrypto).getRandomValues(a);
			return Array.prototype.map.call(a, function (b) {
				return ('0' + b.toString(16)).slice(-2);
			}).join('');
		}

		// Test events that timed out: one may still come (kept in a spool while the runtime
		// was down, delivered once it is back); nonce => its test.
		var overdue = {};

		function onTestEvent(params) {
			var p = pending && params.nonce === pending.nonce ? pending : overdue[params.nonce];
			if (!p) {
				return;
			}
			delete overdue[p.nonce];
			var rtt = Math.round(performance.now() - p.t0);
			clearTimeout(p.timer);
			if (p === pending) {
				pending = null;
				testBtn.disabled = !config.canWrite;
			} else if (pending) {
				return; // a newer test is on show: leave it
			}
			testResult.setAttribute('data-rtt', String(rtt));
			setResult(p.timedOut ? 'late' : 'arrived', msg(p.timedOut ? 'TEST_LATE' : 'TEST_ARRIVED', {RTT: rtt}));
		}

		/** Why the event did not come, from what the page knows: freshest status first. */
		function explainTimeout(st, sendData) {
			var causes = [];
			(st && st.problems || []).forEach(function (p) {
				causes.push(p.message);
			});
			if (!pullApi()) {
				causes.push(msg('TEST_CAUSE_NO_CLIENT'));
			} else if (clientState !== 'online') {
				causes.push(msg('TEST_CAUSE_CLIENT', {STATE: clientEl ? clientEl.textContent : clientState}));
			}
			if (sendData && sendData.delivered && st && st.runtime && !st.runtime.reachable) {
				causes.push(msg('TEST_SPOOLED'));
			}
			if (causes.length === 0) {
				causes.push(msg('TEST_CAUSE_UNKNOWN'));
			}
			return causes;
		}

		function onTimeout(p) {
			if (pending !== p) {
				return;
			}
			p.timedOut = true;
			overdue[p.nonce] = p;
			testBtn.disabled = !config.canWrite;
			refreshStatus().then(null, function () {}).then(function () {
				if (pending !== p) {
					return;
				}
				var lines = [msg('TEST_TIMEOUT', {SECONDS: p.timeout})].concat(explainTimeout(lastStatus, p.sendData));
				setResult('timeout', lines);
			});
		}

		function sendTest() {
			if (pending && !pending.timedOut) {
				return;
			}
			var p = {nonce: nonce(), t0: performance.now(), timeout: config.testTimeout, timedOut: false, timer: null, sendData: null};
			pending = p;
			testBtn.disabled = true;
			testResult.removeAttribute('data-rtt');
			setResult('sending', msg('TEST_SENDING'));
			p.timer = setTimeout(function () {
				onTimeout(p);
			}, p.timeout * 1000);
			runAction('bxpush:pull.settings.sendTest', {nonce: p.nonce}).then(function (data) {
				p.sendData = data;
				if (data.status) {
					renderStatus(data.status);
				}
				if (pending !== p) {
					return;
				}
				if (!data.delivered) {
					clearTimeout(p.timer);
					p.timedOut = true;
					testBtn.disabled = !config.canWrite;
					setResult('error', [msg('TEST_TRANSPORT_FAILED', {ERROR: (data.errors || []).join('; ')})]
						.concat(explainTimeout(data.status, data)));
					return;
				}
				if (testResult.getAttribute('data-state') === 'sending') {
					setResult('waiting', msg('TEST_WAITING', {SECONDS: p.timeout}));
				}
			}, function (err) {
				if (pending !== p) {
					return;
				}
				clearTimeout(p.timer);
				pending = null;
				testBtn.disabled = !config.canWrite;
				setResult('error', msg('TEST_SEND_FAILED', {ERROR: err.message}));
			});
		}

		// ---- Signature key -------------------------------------------------------------------------

		var keyInput = $('bxpush_signature_key');
		var revealBtn = $('bxpush-key-reveal');
		var genBtn = $('bxpush-key-generate');
		var flagEl = $('bxpush-key-flag');
		var iniEl = $('bxpush-key-ini');
		var keyNote = $('bxpush-key-note');
		var revealed = false;

		function mask(key) {
			var n = key.length;
			if (n === 0) {
				return '';
			}
			if (n < 12) {
				return new Array(n + 1).join('•');
			}
			return key.slice(0, 4) + new Array(n - 8 + 1).join('•') + key.slice(-4);
		}

		function renderKeyLines() {
			var k = revealed ? keyInput.value : mask(keyInput.value);
			flagEl.textContent = flagEl.getAttribute('data-prefix') + k;
			iniEl.textContent = iniEl.getAttribute('data-prefix') + k + iniEl.getAttribute('data-suffix');
		}

		function generateKey() {
			var alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
			var c = window.crypto || window.msCrypto;
			if (!c || !c.getRandomValues) {
				setText(keyNote, msg('KEY_NO_CRYPTO'));
				return;
			}
			var out = '';
			var buf = new Uint8Array(1);
			while (out.length < 64) {
				c.getRandomValues(buf);
				if (buf[0] < 248) { // 248 = 4 * 62: no modulo bias
					out += alphabet[buf[0] % 62];
				}
			}
			keyInput.value = out;
			setText(keyNote, msg('KEY_GENERATED'));
			renderKeyLines();
		}

		if (keyInput && flagEl && iniEl && config.canWrite) {
			keyInput.addEventListener('input', renderKeyLines);
			revealBtn.addEventListener('click', function () {
				revealed = !revealed;
				keyInput.type = revealed ? 'text' : 'password';
				revealBtn.value = msg(revealed ? 'KEY_HIDE' : 'KEY_SHOW');
				renderKeyLines();
			});
			genBtn.addEventListener('click', generateKey);
			renderKeyLines();
		}

		// ---- Start ----------------------------------------------------------------------------------

		if (lastStatus) {
			renderStatus(lastStatus);
		}
		if (testBtn) {
			testBtn.addEventListener('click', sendTest);
		}
		startClient();
		refreshStatus().then(scheduleRefresh, scheduleRefresh);
		root.setAttribute('data-ready', '1');
	}
})();
