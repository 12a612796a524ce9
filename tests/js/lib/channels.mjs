// Channel ids, signatures (spec §3.2) and the pull config the PHP module hands to the JS client (§8).
import crypto from 'node:crypto';

export const REVISION_WEB = 19;
export const REVISION_MOBILE = 3;
export const CHANNEL_TTL = 43205; // seconds, CPullChannel::CHANNEL_TTL

export const randomHex32 = () => crypto.randomBytes(16).toString('hex');

/** lowercase hex HMAC-SHA1, as CPullChannel::GetSignature with signature_algo=sha1 */
export const sign = (key, value) => crypto.createHmac('sha1', key).update(value).digest('hex');

/**
 * A user's private channel (with its public id) and the portal's shared channel, signed with `key`.
 * Descriptors exactly as PHP builds them for nginx_version 4:
 *   private  `priv:pub.` + hmac("priv:pub")
 *   shared   `shared.` + hmac(shared)
 *   public   `pub.` + hmac("public:" + pub)
 */
export function makeChannels(key, { privateId = randomHex32(), publicId = randomHex32(), sharedId = randomHex32() } = {}) {
  const privateDescriptor = `${privateId}:${publicId}.${sign(key, `${privateId}:${publicId}`)}`;
  const publicSignature = sign(key, `public:${publicId}`);
  return {
    privateId,
    publicId,
    sharedId,
    privateDescriptor,
    sharedDescriptor: `${sharedId}.${sign(key, sharedId)}`,
    publicDescriptor: `${publicId}.${publicSignature}`,
    publicSignature,
  };
}

/** PHP's date('c') for a Date, in UTC: 2024-01-01T00:00:00+00:00 */
export const isoDate = (d) => d.toISOString().replace(/\.\d{3}Z$/, '+00:00');

/**
 * The JSON of \Bitrix\Pull\Config::get() / REST pull.config.get (spec §8) for a bxpush listening
 * on 127.0.0.1:subPort. `websocket: false` forces long polling.
 */
export function makePullConfig({ subPort, channels, userId = 1, websocket = true, now = new Date() }) {
  const start = isoDate(now);
  const end = isoDate(new Date(now.getTime() + CHANNEL_TTL * 1000));
  const base = `127.0.0.1:${subPort}`;
  return {
    server: {
      version: 4,
      server_enabled: true,
      mode: 'personal',
      hostname: '127.0.0.1',
      long_polling: `http://${base}/bitrix/sub/`,
      long_pooling_secure: `https://${base}/bitrix/sub/`, // sic: the key the JS client reads
      websocket_enabled: websocket,
      websocket: `ws://${base}/bitrix/subws/`,
      websocket_secure: `wss://${base}/bitrix/subws/`,
      publish_enabled: true,
      publish: `http://${base}/bitrix/rest/`,
      publish_secure: `https://${base}/bitrix/rest/`,
      config_timestamp: 0,
    },
    api: { revision_web: REVISION_WEB, revision_mobile: REVISION_MOBILE },
    channels: {
      shared: { id: channels.sharedDescriptor, start, end, type: 'shared' },
      private: {
        id: channels.privateDescriptor,
        public_id: channels.publicDescriptor,
        start,
        end,
        type: 'private',
      },
    },
    publicChannels: {
      [String(userId)]: {
        user_id: userId,
        public_id: channels.publicId,
        signature: channels.publicSignature,
        start,
        end,
      },
    },
    serverTime: isoDate(now),
  };
}

/** A message body as \Bitrix\Pull\Event produces it (spec §4.1). */
export function makeMessageBody(moduleId, command, params) {
  const now = new Date();
  return JSON.stringify({
    module_id: moduleId,
    command,
    params,
    extra: {
      server_time: isoDate(now),
      server_time_unix: now.getTime() / 1000,
      server_name: '127.0.0.1',
      revision_web: REVISION_WEB,
      revision_mobile: REVISION_MOBILE,
    },
  });
}
