<?php
// Events (notes §4.1): persistent handlers in b_module_to_module (INSERT IGNORE on a unique
// id, exact-match unregister, loaded only for installed modules) and runtime handlers for
// this hit; D7 Event/EventResult; the old GetModuleEvents/ExecuteModuleEventEx wrappers.

namespace Bitrix\Main {

    use BxStandin\Db;

    class EventResult
    {
        public const UNDEFINED = 0;
        public const SUCCESS = 1;
        public const ERROR = 2;

        protected $type;
        protected $parameters;
        protected $moduleId;
        protected $handler;

        public function __construct($type, $parameters = null, $moduleId = null, $handler = null)
        {
            $this->type = $type;
            $this->parameters = $parameters;
            $this->moduleId = $moduleId;
            $this->handler = $handler;
        }

        public function getType()
        {
            return $this->type;
        }

        public function getParameters()
        {
            return $this->parameters;
        }

        public function getModuleId()
        {
            return $this->moduleId;
        }
    }

    class Event
    {
        protected $moduleId;
        protected $type;
        protected $parameters;
        protected $filter;
        protected $results = [];

        public function __construct($moduleId, $type, $parameters = [], $filter = null)
        {
            $this->moduleId = $moduleId;
            $this->type = $type;
            $this->parameters = $parameters;
            $this->filter = $filter;
        }

        public function send($sender = null): void
        {
            EventManager::getInstance()->send($this);
        }

        public function getModuleId()
        {
            return $this->moduleId;
        }

        public function getEventType()
        {
            return $this->type;
        }

        public function getParameters()
        {
            return $this->parameters;
        }

        public function getParameter($key)
        {
            return $this->parameters[$key] ?? null;
        }

        public function getFilter()
        {
            return $this->filter;
        }

        public function addResult(EventResult $r): void
        {
            $this->results[] = $r;
        }

        /** @return EventResult[] */
        public function getResults(): array
        {
            return $this->results;
        }
    }

    class EventManager
    {
        private static ?EventManager $instance = null;
        /** runtime handlers: [from][event][key] => row */
        private array $runtime = [];
        private int $runtimeKey = 0;

        public static function getInstance(): self
        {
            return self::$instance ??= new self();
        }

        public function registerEventHandler($fromModuleId, $eventType, $toModuleId, $toClass = '', $toMethod = '', $sort = 100, $toPath = '', $toMethodArg = [])
        {
            $this->register($fromModuleId, $eventType, $toModuleId, $toClass, $toMethod, $sort, $toPath, $toMethodArg, 2);
        }

        public function registerEventHandlerCompatible($fromModuleId, $eventType, $toModuleId, $toClass = '', $toMethod = '', $sort = 100, $toPath = '', $toMethodArg = [])
        {
            $this->register($fromModuleId, $eventType, $toModuleId, $toClass, $toMethod, $sort, $toPath, $toMethodArg, 1);
        }

        private function register($from, $event, $to, $class, $method, $sort, $path, $args, int $version): void
        {
            $argsS = is_array($args) && $args !== [] ? serialize($args) : '';
            $row = [
                'SORT' => (int)$sort,
                'FROM_MODULE_ID' => $from,
                'MESSAGE_ID' => $event,
                'TO_MODULE_ID' => $to,
                'TO_CLASS' => (string)$class,
                'TO_METHOD' => (string)$method,
                'TO_PATH' => (string)$path,
                'TO_METHOD_ARG' => $argsS,
                'VERSION' => $version,
            ];
            $row['UNIQUE_ID'] = md5($from . '.' . $event . '.' . $to . '.' . $path . '.' . $class . '.' . $method . '.' . $argsS . '.' . $version);
            Db::mutate(function (array &$t) use ($row) {
                foreach ($t['b_module_to_module'] ?? [] as $r) {
                    if ($r['UNIQUE_ID'] === $row['UNIQUE_ID']) {
                        return;   // INSERT IGNORE
                    }
                }
                $row['ID'] = Db::nextId($t, 'b_module_to_module');
                $t['b_module_to_module'][] = $row;
            });
        }

        public function unRegisterEventHandler($fromModuleId, $eventType, $toModuleId, $toClass = '', $toMethod = '', $toPath = '', $toMethodArg = [])
        {
            $argsS = is_array($toMethodArg) && $toMethodArg !== [] ? serialize($toMethodArg) : '';
            Db::mutate(function (array &$t) use ($fromModuleId, $eventType, $toModuleId, $toClass, $toMethod, $toPath, $argsS) {
                $t['b_module_to_module'] = array_values(array_filter($t['b_module_to_module'] ?? [], fn($r) => !(
                    $r['FROM_MODULE_ID'] === $fromModuleId && $r['MESSAGE_ID'] === $eventType
                    && $r['TO_MODULE_ID'] === $toModuleId && $r['TO_CLASS'] === (string)$toClass
                    && $r['TO_METHOD'] === (string)$toMethod && $r['TO_PATH'] === (string)$toPath
                    && $r['TO_METHOD_ARG'] === $argsS)));
            });
        }

        public function addEventHandler($fromModuleId, $eventType, $callback, $includeFile = false, $sort = 100): int
        {
            return $this->addRuntime($fromModuleId, $eventType, $callback, $includeFile, $sort, 2);
        }

        public function addEventHandlerCompatible($fromModuleId, $eventType, $callback, $includeFile = false, $sort = 100): int
        {
            return $this->addRuntime($fromModuleId, $eventType, $callback, $includeFile, $sort, 1);
        }

        private function addRuntime($from, $event, $callback, $file, $sort, int $version): int
        {
            $key = $this->runtimeKey++;
            $this->runtime[strtoupper($from)][strtoupper($event)][$key] = [
                'SORT' => (int)$sort, 'FROM_MODULE_ID' => $from, 'MESSAGE_ID' => $event, 'TO_MODULE_ID' => '',
                'TO_CLASS' => '', 'TO_METHOD' => '', 'TO_PATH' => '', 'TO_METHOD_ARG' => [],
                'CALLBACK' => $callback, 'FULL_PATH' => $file ?: '', 'VERSION' => $version,
            ];
            return $key;
        }

        public function removeEventHandler($fromModuleId, $eventType, $iEventHandlerKey): bool
        {
            $f = strtoupper($fromModuleId);
            $e = strtoupper($eventType);
            if (isset($this->runtime[$f][$e][$iEventHandlerKey])) {
                unset($this->runtime[$f][$e][$iEventHandlerKey]);
                return true;
            }
            return false;
        }

        /** Persistent rows of installed modules, then runtime ones; ordered by SORT (stable). */
        public function findEventHandlers($eventModuleId, $eventType, ?array $filter = null): array
        {
            $out = [];
            foreach (Db::table('b_module_to_module') as $r) {
                if (strcasecmp($r['FROM_MODULE_ID'], $eventModuleId) !== 0 || strcasecmp($r['MESSAGE_ID'], $eventType) !== 0) {
                    continue;
                }
                if (!ModuleManager::isModuleInstalled($r['TO_MODULE_ID'])) {
                    continue;   // INNER JOIN b_module
                }
                if ($filter !== null && !in_array($r['TO_MODULE_ID'], $filter, true)) {
                    continue;
                }
                $r['TO_METHOD_ARG'] = $r['TO_METHOD_ARG'] === '' ? [] : unserialize($r['TO_METHOD_ARG']);
                $r['TO_NAME'] = $r['TO_CLASS'] !== '' ? $r['TO_CLASS'] . '::' . $r['TO_METHOD'] : $r['TO_PATH'];
                $out[] = $r;
            }
            foreach ($this->runtime[strtoupper($eventModuleId)][strtoupper($eventType)] ?? [] as $r) {
                $out[] = $r;
            }
            usort($out, fn($a, $b) => $a['SORT'] <=> $b['SORT']);
            return $out;
        }

        public function send(Event $event): void
        {
            foreach ($this->findEventHandlers($event->getModuleId(), $event->getEventType(), $event->getFilter()) as $h) {
                $r = $h['VERSION'] >= 2
                    ? self::call($h, [$event])
                    : self::call($h, array_values((array)$event->getParameters()));
                if ($r instanceof EventResult) {
                    $event->addResult($r);
                }
            }
        }

        /** Include the handler's module and file, then call it with $args (after TO_METHOD_ARG). */
        public static function call(array $h, array $args)
        {
            if (!empty($h['TO_MODULE_ID']) && $h['TO_MODULE_ID'] !== 'main' && !Loader::includeModule($h['TO_MODULE_ID'])) {
                return null;
            }
            $root = Application::getDocumentRoot();
            if (!empty($h['TO_PATH']) && is_file($root . $h['TO_PATH'])) {
                include_once $root . $h['TO_PATH'];
            }
            if (!empty($h['FULL_PATH']) && is_file($h['FULL_PATH'])) {
                include_once $h['FULL_PATH'];
            }
            $cb = $h['CALLBACK'] ?? ($h['TO_CLASS'] !== '' ? [$h['TO_CLASS'], $h['TO_METHOD']] : null);
            if ($cb === null || !is_callable($cb)) {
                return null;
            }
            return $cb(...array_merge((array)($h['TO_METHOD_ARG'] ?? []), $args));
        }
    }
}

namespace {

    use Bitrix\Main\EventManager;

    function RegisterModuleDependences($FROM_MODULE_ID, $MESSAGE_ID, $TO_MODULE_ID, $TO_CLASS = '', $TO_METHOD = '', $SORT = 100, $TO_PATH = '', $TO_METHOD_ARG = [])
    {
        EventManager::getInstance()->registerEventHandlerCompatible($FROM_MODULE_ID, $MESSAGE_ID, $TO_MODULE_ID, $TO_CLASS, $TO_METHOD, $SORT, $TO_PATH, $TO_METHOD_ARG);
    }

    function UnRegisterModuleDependences($FROM_MODULE_ID, $MESSAGE_ID, $TO_MODULE_ID, $TO_CLASS = '', $TO_METHOD = '', $TO_PATH = '', $TO_METHOD_ARG = [])
    {
        EventManager::getInstance()->unRegisterEventHandler($FROM_MODULE_ID, $MESSAGE_ID, $TO_MODULE_ID, $TO_CLASS, $TO_METHOD, $TO_PATH, $TO_METHOD_ARG);
    }

    function AddEventHandler($FROM_MODULE_ID, $MESSAGE_ID, $CALLBACK, $SORT = 100, $FULL_PATH = false)
    {
        return EventManager::getInstance()->addEventHandlerCompatible($FROM_MODULE_ID, $MESSAGE_ID, $CALLBACK, $FULL_PATH, $SORT);
    }

    function GetModuleEvents($MODULE_ID, $MESSAGE_ID, $bReturnArray = false)
    {
        $rows = EventManager::getInstance()->findEventHandlers($MODULE_ID, $MESSAGE_ID);
        return $bReturnArray ? $rows : new \BxStandin\ArrayResult($rows);
    }

    /** Old-style events pass $arParams positionally, whatever the handler's VERSION. */
    function ExecuteModuleEventEx($arEvent, $arParams = [])
    {
        return EventManager::call($arEvent, array_values((array)$arParams));
    }
}

namespace BxStandin {

    /** What CDBResult gives the old API: Fetch() row by row. */
    class ArrayResult
    {
        private array $rows;

        public function __construct(array $rows)
        {
            $this->rows = array_values($rows);
        }

        public function Fetch()
        {
            return array_shift($this->rows) ?? false;
        }

        public function GetNext()
        {
            return $this->Fetch();
        }

        public function SelectedRowsCount(): int
        {
            return count($this->rows);
        }
    }
}
