<?php
// Application (document root, background jobs run at the end of the hit), Context, request.

namespace Bitrix\Main {

    class Application
    {
        public const JOB_PRIORITY_NORMAL = 100;
        public const JOB_PRIORITY_LOW = 50;

        private static ?Application $instance = null;
        private array $jobs = [];
        private ?Context $context = null;

        public static function getInstance(): self
        {
            return self::$instance ??= new self();
        }

        public static function getDocumentRoot(): string
        {
            return rtrim($_SERVER['DOCUMENT_ROOT'] ?? '', '/');
        }

        public function getContext(): Context
        {
            return $this->context ??= new Context();
        }

        public static function getConnection($name = ''): DB\Connection
        {
            return new DB\Connection();
        }

        public function addBackgroundJob(callable $job, array $args = [], $priority = self::JOB_PRIORITY_NORMAL): self
        {
            $this->jobs[] = [$job, $args, (int)$priority, count($this->jobs)];
            return $this;
        }

        /** Higher priority first, then in the order added (as the kernel after the response). */
        public function runBackgroundJobs(): void
        {
            while ($this->jobs) {
                $jobs = $this->jobs;
                $this->jobs = [];
                usort($jobs, fn($a, $b) => [$b[2], $a[3]] <=> [$a[2], $b[3]]);
                foreach ($jobs as [$job, $args]) {
                    try {
                        $job(...$args);
                    } catch (\Throwable $e) {
                        // the kernel logs a failed job and goes on with the next
                        \BxStandin\Log::exception($e, 'background job');
                    }
                }
            }
        }

        public function pendingBackgroundJobs(): int
        {
            return count($this->jobs);
        }
    }

    class Context
    {
        public static function getCurrent(): Context
        {
            return Application::getInstance()->getContext();
        }

        public function getRequest(): HttpRequest
        {
            return new HttpRequest();
        }

        public function getSite()
        {
            return defined('SITE_ID') ? SITE_ID : 's1';
        }

        public function getLanguage()
        {
            return defined('LANGUAGE_ID') ? LANGUAGE_ID : 'en';
        }

        public function getServer(): Server
        {
            return new Server();
        }
    }

    class Server
    {
        public function getDocumentRoot()
        {
            return Application::getDocumentRoot();
        }

        public function getHttpHost()
        {
            return $_SERVER['HTTP_HOST'] ?? '';
        }

        public function get($name)
        {
            return $_SERVER[$name] ?? null;
        }
    }

    class HttpRequest
    {
        public function get($name)
        {
            return $_REQUEST[$name] ?? null;
        }

        public function getPost($name)
        {
            return $_POST[$name] ?? null;
        }

        public function getQuery($name)
        {
            return $_GET[$name] ?? null;
        }

        public function isPost(): bool
        {
            return $this->getRequestMethod() === 'POST';
        }

        public function getRequestMethod(): string
        {
            return strtoupper($_SERVER['REQUEST_METHOD'] ?? 'GET');
        }

        public function getHeader($name)
        {
            $k = 'HTTP_' . strtoupper(str_replace('-', '_', $name));
            return $_SERVER[$k] ?? null;
        }

        public function isHttps(): bool
        {
            return !empty($_SERVER['HTTPS']) && $_SERVER['HTTPS'] !== 'off';
        }

        public function getHttpHost()
        {
            return $_SERVER['HTTP_HOST'] ?? '';
        }

        public function getRequestedPage()
        {
            return explode('?', $_SERVER['REQUEST_URI'] ?? '/', 2)[0];
        }
    }
}

namespace Bitrix\Main\DB {

    class Connection
    {
        public function getType(): string
        {
            return 'mysql';
        }
    }
}

namespace BxStandin {

    /** Where the stand-in writes what the real kernel would log (stderr). */
    final class Log
    {
        public static function exception(\Throwable $e, string $where): void
        {
            fwrite(STDERR, "[stand-in kernel] $where: " . get_class($e) . ': ' . $e->getMessage() . "\n");
        }
    }
}
