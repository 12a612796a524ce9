/* A minimal BX.PULL for the stand-in site: the real @bitrix24/b24jssdk PullClient (window.B24Js)
 * exposing only the documented BX.PULL API (subscribe, start, stop, restart, isConnected,
 * getDebugInfo) and BX.PullClient.{SubscriptionType, PullStatus, CloseReasons}. Its config
 * comes from the site's pull.config.get action (\Bitrix\Pull\Config::get of the stand-in pull
 * module), with the CSRF token from BX.message('bitrix_sessid'). Test scaffolding only. */
(function () {
	'use strict';
	var BX = window.BX = window.BX || {};
	var Sdk = window.B24Js;
	var message = typeof BX.message === 'function' ? BX.message : function () { return undefined; };
	if (!Sdk || !Sdk.B24PullClientManager) {
		throw new Error('pull.shim.js: window.B24Js (the b24jssdk UMD bundle) must be loaded first');
	}
	var sessid = message('bitrix_sessid') || '';

	function getConfig() {
		var body = new URLSearchParams();
		body.set('sessid', sessid);
		body.set('CACHE', 'N');
		return fetch('/bitrix/services/main/ajax.php?action=pull.config.get', {
			method: 'POST',
			credentials: 'same-origin',
			headers: {'X-Bitrix-Csrf-Token': sessid},
			body: body
		}).then(function (res) {
			return res.json().then(function (json) {
				if (json.status !== 'success') {
					var err = new Error((json.errors || []).map(function (e) { return e.message; }).join('; ') || 'HTTP ' + res.status);
					err.status = res.status;
					throw err;
				}
				return json.data;
			});
		});
	}

	var b24 = {
		actions: {v2: {call: {make: function (req) {
			if (req.method !== 'pull.config.get') {
				return Promise.reject(new Error('stand-in BX.PULL: REST method ' + req.method + ' is not served'));
			}
			return getConfig().then(function (result) {
				return {getData: function () { return {result: result}; }};
			});
		}}}},
		callMethod: function (method) {
			return Promise.reject(new Error('stand-in BX.PULL: REST method ' + method + ' is not served'));
		}
	};

	var client = new Sdk.B24PullClientManager({
		b24: b24,
		userId: Number(message('USER_ID')) || 0,
		siteId: message('SITE_ID') || 's1',
		serverEnabled: message('pull_server_enabled') === 'Y',
		configTimestamp: Number(message('pull_config_timestamp')) || 0,
		skipStorageInit: true
	});

	BX.PullClient = {
		SubscriptionType: Sdk.SubscriptionType,
		PullStatus: Sdk.PullStatus,
		CloseReasons: Sdk.CloseReasons
	};
	BX.PULL = {
		subscribe: function (params) { return client.subscribe(params); },
		start: function (config) { return client.start(config); },
		stop: function (code, reason) { return client.stop(code, reason); },
		restart: function (code, reason) { return client.restart(code, reason); },
		isConnected: function () { return client.isConnected(); },
		getDebugInfo: function () { return client.getDebugInfo ? client.getDebugInfo() : null; }
	};
})();
