// What @bitrix24/b24jssdk's PullClient needs from a browser, provided under Node 20.
//
// - global `WebSocket`: the `ws` package (Node 20 has none without a flag). The SDK sets
//   `binaryType = 'arraybuffer'` and uses add/removeEventListener, which `ws` supports. Each
//   constructed socket is recorded in `sockets` so tests can see the URL the SDK built and
//   kill a connection; `frames` counts the data frames it received.
// - `window`: PullClient.isWebSocketSupported() requires `window.WebSocket`; init() and
//   SharedConfig call `window.addEventListener` ('beforeunload', 'offline', 'online', 'storage').
//   No `window.localStorage`: the SDK then skips config/session caching (each client starts clean).
// - `document`: the constructor reads `document.location.href` (https → *_secure URLs), and
//   Browser.isIE() evaluates `'attachEvent' in document` on every connect: present → the IE path,
//   i.e. text mode (no `binaryMode=true`) for WebSocket and long polling.
// - global `XMLHttpRequest` for long polling (the SDK has no fetch path): `xhr2`, with abort()
//   fixed to do what browsers do (XHR spec "request error steps"): an in-flight request goes to
//   DONE with status 0 and fires readystatechange, then readyState is UNSENT (0). xhr2 leaves
//   readyState at OPENED (1) and fires nothing; the SDK's performRequest() returns silently unless
//   readyState is 0 or 4, so a long poll the client aborted (its 60 s timeout) would never be
//   re-issued, and its `_requestAborted` flag would swallow the next real answer.
//   (`xmlhttprequest-ssl` 4.0.0 gets abort() right but then throws an uncaught TypeError,
//   `request.reusedSocket` of null, when the aborted request's socket closes.)
import { WebSocket as WsWebSocket } from 'ws';
import XHR2 from 'xhr2';

export const sockets = [];
/** Long-poll (and publish) requests sent so far. */
export const xhrCounts = { sent: 0 };

class RecordingWebSocket extends WsWebSocket {
  constructor(url, ...rest) {
    super(url, ...rest);
    this.frames = 0;
    this.on('message', () => { this.frames += 1; });
    sockets.push(this);
  }
}

class BrowserLikeXMLHttpRequest extends XHR2 {
  send(...args) {
    xhrCounts.sent += 1;
    return super.send(...args);
  }

  abort() {
    const inFlight = Boolean(this._request); // xhr2 keeps the node request while send() is active
    super.abort(); // aborts it, detaches it (late events are ignored), fires abort/loadend
    if (inFlight) {
      this.status = 0;
      this.statusText = '';
      this._setReadyState(XHR2.DONE); // readystatechange, readyState 4
      this.readyState = XHR2.UNSENT; // then 0, without an event
    }
  }
}

let installed = false;

export function installBrowserGlobals() {
  if (installed) return;
  installed = true;
  globalThis.WebSocket = RecordingWebSocket;
  globalThis.XMLHttpRequest = BrowserLikeXMLHttpRequest;
  const win = new EventTarget();
  win.WebSocket = RecordingWebSocket;
  globalThis.window = win;
  globalThis.document = { location: { href: 'http://127.0.0.1/' } };
}

/** Text mode on/off: the SDK uses protobuf only when `!('attachEvent' in document)`. */
export function setIeMode(on) {
  if (on) globalThis.document.attachEvent = () => {};
  else delete globalThis.document.attachEvent;
}
