<?php
/**
 * IDE stubs of the `bxpush` PHP extension: every function, class and setting it exposes.
 * Never include this file at run time (the extension defines all of it).
 * `phpt/070-stubs.phpt` fails when these stubs and the loaded extension disagree.
 *
 * Settings (php.ini, `-d`, `ini_set()`; the defaults are shown):
 *
 * @ini bxpush.server "/run/bxpush/php.sock"
 *      Where the owner process (`bxpush serve --listen-php`, or `BxPush\Server::run()`)
 *      takes events from PHP workers: a unix socket path (`/path`, `unix:/path`) or
 *      `IP:port` (TCP; frames are authenticated with the signature key); or several,
 *      comma-separated, in order of preference: a worker fails over to the next when its
 *      owner fails (exactly once across owners with the Redis engine).
 * @ini bxpush.signature_key ""
 *      The pull module's signature key (= `bxpush serve --signature-key`). Signs and
 *      verifies channels; per-user channels are derived from it.
 * @ini bxpush.signature_algo "sha1"
 *      `sha1` or `sha256` (= `--signature-algo`).
 * @ini bxpush.bitrix_compat "1"
 *      Make `\Bitrix\Pull\Push`, `\Bitrix\Pull\Event`, `\CPullWatch`, `\CPullStack`
 *      aliases of the `BxPush\Compat` classes when those names are autoloaded and free
 *      (never inside a Bitrix kernel, where `\Bitrix\Main\Loader` exists).
 * @ini bxpush.spool_dir "/var/spool/bxpush"
 *      Where a worker writes events the owner did not acknowledge in time (created if
 *      missing; must be writable by the PHP user); replayed when the owner is back.
 * @ini bxpush.flush_timeout_ms "200"
 *      At the end of a request that sent something, wait at most this long for the
 *      owner's acknowledgement, then spool the rest. Also the shutdown wait.
 * @ini bxpush.channel_ttl "43205"
 *      Channel validity reported in the client config (`end = start + channel_ttl`),
 *      at most 43205 (derived channels rotate every 12 h).
 * @ini bxpush.public_url ""
 *      Base URL of the push endpoints for the client config, e.g.
 *      `https://example.com` or `http://127.0.0.1:8010`; empty = the request's host.
 * @ini bxpush.server_name ""
 *      `extra.server_name` of messages; empty = `$_SERVER['SERVER_NAME']`/`HTTP_HOST`.
 * @ini bxpush.connect_timeout_ms "100"
 *      Connect timeout of the forwarder to the owner (queries wait this + 1 s).
 * @ini bxpush.queue_items "10000"
 *      Events a worker keeps in memory before spooling (php.ini only).
 * @ini bxpush.queue_bytes "16777216"
 *      Bytes a worker keeps in memory before spooling (php.ini only).
 */

namespace BxPush {

    /**
     * Every error of the extension, with the reason in the message.
     */
    class Exception extends \Exception
    {
    }

    /**
     * Publish a message now (not queued).
     *
     * @param string|string[] $channels a channel id (32 lowercase hex, trusted, unsigned),
     *     a signed descriptor (`id.sig`, `private:public.sig`, public `id.sig`), an array of
     *     them, or several joined by `/`
     * @param array|string $message an array is sent as `json_encode($m, JSON_UNESCAPED_UNICODE)`,
     *     a string as is (valid UTF-8, at most 1 MiB)
     * @param int $expiry seconds the message is kept for clients that reconnect (0 = live only)
     * @param string|null $type the statistics label (protobuf `type`, counted in `daily.messages`
     *     of `/server-stat/`); default `<module_id>_<command>`; one not matching
     *     `^[a-zA-Z0-9_*-]{1,32}$` is counted as `unknown`
     * @return int the number of distinct channels (a channel named twice gets the message once)
     * @throws Exception on any bad input or if the hand-off refuses it
     */
    function publish(mixed $channels, mixed $message, int $expiry = 86400, ?string $type = null): int {}

    /**
     * Which channels are online.
     *
     * @param string|string[] $channels as for publish()
     * @return array<string, bool> channel as given => online
     * @throws Exception
     */
    function channel_stats(mixed $channels): array {}

    /**
     * Hand the pull module's prepared queue to bxpush: exactly the `$messages` that
     * `\Bitrix\Pull\ProtobufTransport::sendMessages()` receives (the transport shim of the
     * `bxpush.pull` Bitrix module calls this instead of POSTing). Entries without channels,
     * `module_id` or `command` are skipped; each other entry is one message to all its
     * channels, with the body, type and expiry the stock transport would send
     * (shared/spec/pull-transport-vectors.md §3), handed to the owner like publish():
     * spooled while it is down, delivered once. Nothing is handed over when it throws.
     *
     * @param array $messages `[key => ['event' => [module_id, command, params, extra, expiry], 'channels' => [32-hex, ...]]]`
     * @return array{messages: int, receivers: int, refused: array<string, string>} messages handed over,
     *   channels in all, and entries refused (key => reason: a body over the 1 MiB payload limit)
     * @throws Exception code 1: a body cannot be JSON-encoded ("JSON error: <msg> [<code>]");
     *   code 2: a negative expiry while neither gmp nor bcmath is loaded (the stock encoder's refusal);
     *   code 0: a channel that is not 32 hex digits, or the hand-off refused
     */
    function send_pull_messages(array $messages): array {}

    /**
     * The RequestBatch bodies the pull module's own transport would POST for `$messages`,
     * byte for byte (its packing rule), for a path that must stay HTTP.
     *
     * @param array $messages as for send_pull_messages()
     * @param array{max_channels_per_request?: int, max_messages_per_request?: int, max_payload?: int} $limits
     *   the pull module's `limit_max_*` options (defaults 100, 100, 1048576)
     * @return string[] binary protobuf bodies, one per POST
     * @throws Exception as send_pull_messages(), and for an unknown or non-positive limit
     */
    function encode_pull_batches(array $messages, ?array $limits = null): array {}

    /**
     * `private:public.sig` (with a public id) or `id.sig`: Bitrix's `CPullChannel::SignChannel`.
     *
     * @throws Exception without a key or with a malformed id
     */
    function sign_channel(string $channel_id, ?string $public_id = null): string {}

    /**
     * `public.sig("public:" + public)`: Bitrix's `CPullChannel::SignPublicChannel`.
     *
     * @throws Exception
     */
    function sign_public_channel(string $public_id): string {}

    /**
     * Whether a `private:public.sig` or `id.sig` descriptor is signed with the key.
     *
     * @throws Exception without a key
     */
    function verify_channel(string $descriptor): bool {}

    /**
     * Whether a public descriptor `id.sig` is signed as `public:<id>`.
     *
     * @throws Exception without a key
     */
    function verify_public_channel(string $descriptor): bool {}

    /**
     * Lowercase hex HMAC of `$value` with the key and algorithm (`CPullChannel::GetSignature`).
     *
     * @throws Exception without a key
     */
    function signature(string $value): string {}

    /**
     * Send what `Event::add` queued, then wait until what this process handed to the
     * forwarder is acknowledged or spooled, at most `$timeout_ms` (default
     * `bxpush.flush_timeout_ms`).
     *
     * @return array{complete: bool, report: string, acked?: int, spooled?: int, failed?: int}
     * @throws Exception
     */
    function flush(?int $timeout_ms = null): array {}

    /**
     * The extension's state in this process (what `php --ri bxpush` shows).
     *
     * @return array{version: string, pid: int, hosting: bool, sub?: string, pub?: string,
     *     server: string, forwarder: bool, forwarder_stats?: array{connected: bool, submitted: int,
     *     acked: int, spooled: int, replayed: int, queued: int, rejected: int, owner: ?string,
     *     failovers: int}, queued_events: int,
     *     submitted_in_request: bool}
     */
    function status(): array {}

    /**
     * Host the bxpush runtime (the same server as `bxpush serve`) in this PHP CLI process.
     * Config keys are the `bxpush serve` flags with underscores (`listen_sub`, `listen_pub`,
     * `listen_php`, `signature_key`, `signature_algo`, `data_dir`, `long_poll_timeout`, …);
     * `signature_key`/`signature_algo` default to the ini settings. Static only.
     */
    class Server
    {
        /**
         * Start the runtime in the background of this process.
         *
         * @return array{sub: string, pub: string, pid: int} the addresses (port 0 = a free port)
         * @throws Exception for an unknown key, a bad value, an address in use
         */
        public static function start(?array $config = null): array {}

        /**
         * Start the runtime and block until SIGTERM or SIGINT (or `Server::stop()` from a
         * pcntl signal handler); then stop it. PHP's signal handlers keep working.
         *
         * @throws Exception
         */
        public static function run(?array $config = null): void {}

        /**
         * Stop the runtime hosted by this process; false if none was running.
         *
         * @throws Exception
         */
        public static function stop(int $grace_ms = 1000): bool {}

        /** Whether this process hosts the runtime. */
        public static function isRunning(): bool {}

        /**
         * The `/server-stat/` object of the hosted runtime, or of the owner at
         * `bxpush.server`, plus `hosted` (and `sub`, `pub`, `pid` when hosted).
         *
         * @throws Exception if the owner cannot be reached
         */
        public static function stats(): mixed {}

        /** Not instantiable: always throws. */
        public function __construct() {}
    }

    /**
     * The client config of `\Bitrix\Pull\Config::get(['JSON' => true])` for the stock
     * Bitrix JS client. Static only.
     */
    class Config
    {
        /**
         * JSON config (server version 4, personal mode) for a user: signed private and
         * shared channels derived from the signature key, `publicChannels`, URLs.
         *
         * @throws Exception without a key or for user 0
         */
        public static function forUser(int $user_id): string {}

        /**
         * The same config as an array.
         *
         * @throws Exception
         */
        public static function toArray(int $user_id): mixed {}

        /** Not instantiable: always throws. */
        public function __construct() {}
    }
}

namespace BxPush\Compat {

    /**
     * The autoloader registered at request start when `bxpush.bitrix_compat` is on:
     * declares the Bitrix names as aliases of these classes. Not meant to be called.
     */
    function autoload(string $class): void {}

    /**
     * `\Bitrix\Pull\Event`: queue pull messages; sent at `send()` or at the end of the
     * request. Bitrix's contract: false and `getLastError()` on bad input.
     */
    class Event
    {
        /**
         * Queue a message. Identical messages (ignoring `extra.server_time*`; or the same
         * `groupId`) are merged into one message with many receivers.
         *
         * @param int|string|array $recipients user ids, 32-hex channel ids, signed channels
         * @param array $params `module_id`, `command`, `params`, `expiry` (86400), `extra`, `groupId`
         * @param string $channel_type `private` or `shared` (others need a resolver)
         */
        public static function add(mixed $recipients, array $params, string $channel_type = 'private'): bool {}

        /** Send what is queued now; false (and a warning) if the hand-off refused it. */
        public static function send(): bool {}

        /** Why the last call returned false. */
        public static function getLastError(): ?string {}

        /**
         * Replace the user → channel mapping for this request:
         * `fn(int $userId, string $channelType): string|array|null` (null skips the user);
         * null restores the derived channels.
         *
         * @param callable|null $resolver
         * @throws \BxPush\Exception if not callable
         */
        public static function setChannelResolver(mixed $resolver = null): void {}

        /** Events queued and not sent yet. */
        public static function getQueueSize(): int {}

        /** Not instantiable: always throws. */
        public function __construct() {}
    }

    /**
     * `\Bitrix\Pull\Push`: the instance form `(new Push(1))->addUser(2)->setMessage([...])->send()`
     * (throws `\BxPush\Exception` on bad input) and Bitrix's static `Push::add()`.
     */
    class Push
    {
        /**
         * @param int|string|array|null $users user ids or channel ids
         * @throws \BxPush\Exception
         */
        public function __construct(mixed $users = null) {}

        /**
         * @param int|string|array $user
         * @return $this
         * @throws \BxPush\Exception
         */
        public function addUser(mixed $user): \BxPush\Compat\Push {}

        /**
         * @param string|string[] $channel
         * @return $this
         * @throws \BxPush\Exception
         */
        public function addChannel(mixed $channel): \BxPush\Compat\Push {}

        /**
         * @param array $params as for `Event::add`
         * @return $this
         * @throws \BxPush\Exception
         */
        public function setMessage(array $params): \BxPush\Compat\Push {}

        /**
         * @return $this
         */
        public function setChannelType(string $channel_type): \BxPush\Compat\Push {}

        /** @return int[] */
        public function getUsers(): array {}

        /**
         * Send now (not queued).
         *
         * @throws \BxPush\Exception without message or recipients, or if refused
         */
        public function send(): bool {}

        /**
         * Bitrix's `Push::add($users, $params)`: queues the pull part like `Event::add`;
         * a push-only (mobile) message returns false (see `Event::getLastError()`).
         */
        public static function add(mixed $users, array $params): bool {}
    }

    /**
     * `\CPullWatch`: users watching tags (kept by the owner; 32 min unless extended).
     */
    class CPullWatch
    {
        /** Watch a tag; queued until the queue is sent, or at once with `$immediate`. */
        public static function Add(mixed $user, mixed $tag, bool $immediate = false): bool {}

        /** Send the queued watch additions now (all, or one user's). */
        public static function DeferredSql(mixed $user = null): bool {}

        /** Refresh watches of a tag or an array of tags, now. */
        public static function Extend(mixed $user, mixed $tags): bool {}

        /** Stop watching a tag (null: all of the user's tags), now. */
        public static function Delete(mixed $user, mixed $tag = null): bool {}

        /**
         * Queue a message to every user watching the tag(s), minus `$params['skip_users']`.
         */
        public static function AddToStack(mixed $tag, array $params, string $channel_type = 'private'): bool {}

        /**
         * @return array<int, int> userId => userId
         * @throws \BxPush\Exception if the owner cannot be asked
         */
        public static function GetUserList(mixed $tag): array {}

        /**
         * @return int[]
         * @throws \BxPush\Exception
         */
        public static function getUsersByTag(mixed $tag): array {}

        /** Not instantiable: always throws. */
        public function __construct() {}
    }

    /**
     * `\CPullStack`: thin wrappers of `Event::add`, and `Send()`.
     */
    class CPullStack
    {
        public static function AddByUser(mixed $user, array $message, string $channel_type = 'private'): bool {}

        public static function AddByUsers(mixed $users, array $message, string $channel_type = 'private'): bool {}

        public static function AddByChannel(mixed $channel, ?array $params = null): bool {}

        /** A message to the shared (portal-wide) channel. */
        public static function AddShared(array $message, string $channel_type = 'shared'): bool {}

        /** `Event::send()`. */
        public static function Send(): bool {}

        /** Not instantiable: always throws. */
        public function __construct() {}
    }
}
