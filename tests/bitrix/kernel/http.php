<?php
// Bitrix\Main\Web\HttpClient over plain sockets: HTTP/1.1 with Connection: close, the
// kernel's default headers, socket/stream timeouts, and getError() keyed like the real one
// ("NETWORK" => "[2] stream_socket_client(): Unable to connect to tcp://… (Connection refused)").

namespace Bitrix\Main\Web;

class HttpClient
{
    public const HTTP_GET = 'GET';
    public const HTTP_POST = 'POST';
    public const HTTP_PUT = 'PUT';
    public const HTTP_DELETE = 'DELETE';
    public const HTTP_HEAD = 'HEAD';

    private float $socketTimeout = 30;
    private float $streamTimeout = 60;
    private bool $waitResponse = true;
    private array $headers = [];
    private int $status = 0;
    private string $result = '';
    private array $responseHeaders = [];
    private array $errors = [];

    public function __construct(?array $options = null)
    {
        $options ??= [];
        $this->socketTimeout = (float)($options['socketTimeout'] ?? 30);
        $this->streamTimeout = (float)($options['streamTimeout'] ?? 60);
        $this->waitResponse = (bool)($options['waitResponse'] ?? true);
        foreach ($options['headers'] ?? [] as $k => $v) {
            $this->setHeader($k, $v);
        }
    }

    public function setHeader($name, $value, $replace = true)
    {
        $k = strtolower($name);
        if ($replace || !isset($this->headers[$k])) {
            $this->headers[$k] = [$name, (string)$value];
        }
        return $this;
    }

    public function setTimeout($timeout)
    {
        $this->socketTimeout = (float)$timeout;
        return $this;
    }

    public function setStreamTimeout($timeout)
    {
        $this->streamTimeout = (float)$timeout;
        return $this;
    }

    public function waitResponse($wait)
    {
        $this->waitResponse = (bool)$wait;
        return $this;
    }

    public function disableSslVerification()
    {
        return $this;
    }

    public function get($url)
    {
        return $this->query(self::HTTP_GET, $url) ? $this->result : false;
    }

    public function post($url, $postData = null, $multipart = false)
    {
        if (is_array($postData)) {
            $postData = http_build_query($postData, '', '&');
        }
        return $this->query(self::HTTP_POST, $url, $postData) ? $this->result : false;
    }

    public function query($method, $url, $entityBody = null): bool
    {
        $this->status = 0;
        $this->result = '';
        $this->responseHeaders = [];
        $this->errors = [];
        $u = parse_url($url);
        if (!$u || empty($u['host'])) {
            $this->errors['URI_PARSE'] = 'Incorrect URI: ' . $url;
            return false;
        }
        $scheme = strtolower($u['scheme'] ?? 'http');
        $port = $u['port'] ?? ($scheme === 'https' ? 443 : 80);
        $target = ($u['path'] ?? '/') . (isset($u['query']) ? '?' . $u['query'] : '');
        $addr = ($scheme === 'https' ? 'ssl://' : 'tcp://') . $u['host'] . ':' . $port;

        $err = null;
        set_error_handler(function ($no, $str) use (&$err) {
            $err = "[$no] $str";
            return true;
        });
        $ctx = stream_context_create(['ssl' => ['verify_peer' => false, 'verify_peer_name' => false]]);
        $s = stream_socket_client($addr, $errno, $errstr, $this->socketTimeout, STREAM_CLIENT_CONNECT, $ctx);
        restore_error_handler();
        if (!$s) {
            $this->errors['NETWORK'] = $err ?? "[$errno] $errstr";
            return false;
        }
        $sec = (int)$this->streamTimeout;
        stream_set_timeout($s, $sec, (int)(($this->streamTimeout - $sec) * 1e6));

        $h = [
            'host' => ['Host', $u['host'] . (isset($u['port']) ? ':' . $u['port'] : '')],
            'connection' => ['Connection', 'close'],
            'accept' => ['Accept', '*/*'],
            'accept-language' => ['Accept-Language', 'en'],
        ];
        if ($method === self::HTTP_POST || $entityBody !== null) {
            $h['content-type'] = ['Content-Type', 'application/x-www-form-urlencoded'];
        }
        $h = $this->headers + $h;
        $body = (string)$entityBody;
        if ($entityBody !== null || $method === self::HTTP_POST) {
            $h['content-length'] = ['Content-Length', (string)strlen($body)];
        }
        $req = "$method $target HTTP/1.1\r\n";
        foreach ($h as [$k, $v]) {
            $req .= "$k: $v\r\n";
        }
        fwrite($s, $req . "\r\n" . $body);

        $raw = '';
        while (!feof($s)) {
            $chunk = fread($s, 65536);
            if ($chunk === false || ($chunk === '' && stream_get_meta_data($s)['timed_out'])) {
                break;
            }
            $raw .= $chunk;
            if (!$this->waitResponse && str_contains($raw, "\r\n\r\n")) {
                break;
            }
        }
        $timedOut = stream_get_meta_data($s)['timed_out'];
        fclose($s);
        $pos = strpos($raw, "\r\n\r\n");
        if ($pos === false) {
            $this->errors[$timedOut ? 'STREAM_TIMEOUT' : 'STREAM_READING'] = $timedOut ? 'Stream reading timeout has been reached.' : 'Cannot read from the stream.';
            return false;
        }
        $lines = explode("\r\n", substr($raw, 0, $pos));
        $this->status = (int)(explode(' ', $lines[0])[1] ?? 0);
        foreach (array_slice($lines, 1) as $l) {
            [$k, $v] = explode(':', $l, 2) + [1 => ''];
            $this->responseHeaders[strtolower(trim($k))] = trim($v);
        }
        $rest = substr($raw, $pos + 4);
        if (stripos($this->responseHeaders['transfer-encoding'] ?? '', 'chunked') !== false) {
            $rest = self::dechunk($rest);
        }
        $this->result = $rest;
        return true;
    }

    private static function dechunk(string $s): string
    {
        $out = '';
        while ($s !== '') {
            $p = strpos($s, "\r\n");
            if ($p === false) {
                break;
            }
            $len = hexdec(trim(explode(';', substr($s, 0, $p))[0]));
            if ($len === 0) {
                break;
            }
            $out .= substr($s, $p + 2, $len);
            $s = substr($s, $p + 2 + $len + 2);
        }
        return $out;
    }

    public function getStatus()
    {
        return $this->status;
    }

    public function getResult()
    {
        return $this->result;
    }

    public function getHeaders(): array
    {
        return $this->responseHeaders;
    }

    public function getError(): array
    {
        return $this->errors;
    }
}
