<?php
// Stand-in D7 controllers (bitrix-module-notes.md §5.3, §8): Engine\Controller with
// configureActions() prefilters, ActionFilter\{Authentication, HttpMethod, Csrf},
// Engine\CurrentUser, and BxStandin\AjaxRouter — what /bitrix/services/main/ajax.php does:
// resolve `vendor:module.controller.action` through the module's .settings.php `controllers`
// section (installed modules only), run the prefilters, bind the action's parameters by name
// from the request, and answer {"status": "success"|"error", "data": …, "errors": […]}.

namespace Bitrix\Main\Engine\ActionFilter {

    use Bitrix\Main\Error;

    if (!class_exists('Bitrix\\Main\\Engine\\ActionFilter\\Base', false)) {
        abstract class Base
        {
            /** null = pass; an Error = the action is refused with it. */
            abstract public function standinCheck(): ?Error;
        }

        class Authentication extends Base
        {
            public function __construct($enableRedirect = false)
            {
            }

            public function standinCheck(): ?Error
            {
                global $USER;
                return is_object($USER) && $USER->IsAuthorized() ? null
                    : new Error('Authorization required', 'invalid_authentication');
            }
        }

        class HttpMethod extends Base
        {
            public const METHOD_GET = 'GET';
            public const METHOD_POST = 'POST';

            private array $methods;

            public function __construct(array $allowedMethods = [self::METHOD_GET])
            {
                $this->methods = array_map('strtoupper', $allowedMethods);
            }

            public function standinCheck(): ?Error
            {
                $m = strtoupper($_SERVER['REQUEST_METHOD'] ?? 'GET');
                return in_array($m, $this->methods, true) ? null
                    : new Error('Wrong method for current action', 'wrong_method');
            }
        }

        class Csrf extends Base
        {
            public function __construct($enabled = true, $tokenName = 'sessid', $returnNew = true)
            {
            }

            public function standinCheck(): ?Error
            {
                return check_bitrix_sessid() ? null : new Error('Invalid csrf token', 'invalid_csrf');
            }
        }
    }
}

namespace Bitrix\Main\Engine {

    use Bitrix\Main\Error;

    if (!class_exists('Bitrix\\Main\\Engine\\Controller', false)) {
        class CurrentUser
        {
            public static function get(): self
            {
                return new self();
            }

            public function getId()
            {
                global $USER;
                return is_object($USER) ? $USER->GetID() : null;
            }

            public function isAdmin(): bool
            {
                global $USER;
                return is_object($USER) && $USER->IsAdmin();
            }

            public function canDoOperation($operationName): bool
            {
                global $USER;
                return is_object($USER) && $USER->CanDoOperation($operationName);
            }

            public function getUserGroups(): array
            {
                global $USER;
                return is_object($USER) ? (array)$USER->GetUserGroupArray() : [];
            }
        }

        class Controller
        {
            /** @var Error[] */
            private array $errors = [];

            public function __construct($request = null)
            {
            }

            public function configureActions()
            {
                return [];
            }

            protected function getDefaultPreFilters()
            {
                return [
                    new ActionFilter\Authentication(),
                    new ActionFilter\HttpMethod([ActionFilter\HttpMethod::METHOD_GET, ActionFilter\HttpMethod::METHOD_POST]),
                    new ActionFilter\Csrf(),
                ];
            }

            public function addError(Error $error)
            {
                $this->errors[] = $error;
                return $this;
            }

            public function addErrors(array $errors)
            {
                foreach ($errors as $e) {
                    $this->addError($e);
                }
                return $this;
            }

            public function getErrors()
            {
                return $this->errors;
            }

            public function getCurrentUser()
            {
                return CurrentUser::get();
            }

            public function getRequest()
            {
                return \Bitrix\Main\Context::getCurrent()->getRequest();
            }

            /**
             * Runs `<action>Action` with the prefilters of configureActions() (or the default
             * ones) and parameters bound by name from `$params`; the ajax.php answer.
             */
            public function standinRun(string $action, array $params): array
            {
                $method = null;
                foreach (get_class_methods($this) as $m) {
                    if (strcasecmp($m, $action . 'Action') === 0) {
                        $method = $m;
                    }
                }
                if ($method === null) {
                    return self::answer(null, [new Error("Could not find description of $action in " . static::class, 'NO_ACTION')]);
                }
                $config = $this->configureActions();
                $conf = null;
                foreach ((array)$config as $name => $c) {
                    if (strcasecmp((string)$name, $action) === 0) {
                        $conf = $c;
                    }
                }
                $filters = is_array($conf) && array_key_exists('prefilters', $conf) ? $conf['prefilters'] : $this->getDefaultPreFilters();
                foreach ($filters as $f) {
                    $e = $f instanceof ActionFilter\Base ? $f->standinCheck() : null;
                    if ($e !== null) {
                        return self::answer(null, [$e]);
                    }
                }
                $args = [];
                foreach ((new \ReflectionMethod($this, $method))->getParameters() as $p) {
                    $n = $p->getName();
                    if (array_key_exists($n, $params)) {
                        $v = $params[$n];
                        $t = $p->getType();
                        $tn = $t instanceof \ReflectionNamedType ? $t->getName() : null;
                        if ($tn === 'int') {
                            $v = (int)$v;
                        } elseif ($tn === 'string') {
                            $v = is_scalar($v) ? (string)$v : '';
                        } elseif ($tn === 'bool') {
                            $v = in_array($v, [true, 1, '1', 'Y', 'y', 'true'], true);
                        }
                        $args[] = $v;
                    } elseif ($p->isDefaultValueAvailable()) {
                        $args[] = $p->getDefaultValue();
                    } else {
                        return self::answer(null, [new Error("Could not find value for parameter {{$n}}", 'INVALID_ARGUMENT')]);
                    }
                }
                $data = $this->$method(...$args);
                return self::answer($this->errors === [] ? $data : null, $this->errors);
            }

            private static function answer($data, array $errors): array
            {
                return [
                    'status' => $errors === [] ? 'success' : 'error',
                    'data' => $data,
                    'errors' => array_map(fn (Error $e) => [
                        'message' => $e->getMessage(),
                        'code' => $e->getCode(),
                        'customData' => $e->getCustomData(),
                    ], $errors),
                ];
            }
        }
    }
}

namespace BxStandin {

    use Bitrix\Main\Config\Configuration;
    use Bitrix\Main\Error;
    use Bitrix\Main\Loader;
    use Bitrix\Main\ModuleManager;

    final class AjaxRouter
    {
        /**
         * `vendor:module.a.b.action` → module `vendor.module`, controller `a\b` under the
         * module's `controllers` namespace (defaultNamespace, or an alias of `namespaces`),
         * method `actionAction`. The answer array of ajax.php.
         */
        public static function dispatch(string $action, array $params): array
        {
            $fail = fn (string $m, string $code) => [
                'status' => 'error',
                'data' => null,
                'errors' => [['message' => $m, 'code' => $code, 'customData' => null]],
            ];
            if (!preg_match('/^(?:([a-z0-9_]+):)?([a-z0-9_]+)\.([A-Za-z0-9_.]+)$/', $action, $m)) {
                return $fail("Could not find controller for action '$action'", 'NO_CONTROLLER');
            }
            $module = $m[1] !== '' ? $m[1] . '.' . $m[2] : $m[2];
            $parts = explode('.', $m[3]);
            $method = array_pop($parts);
            if ($parts === [] || !ModuleManager::isModuleInstalled($module) || !Loader::includeModule($module)) {
                return $fail("Could not find controller for action '$action'", 'NO_CONTROLLER');
            }
            $section = Configuration::getInstance($module)->get('controllers');
            if (!is_array($section)) {
                return $fail("Module $module has no controllers section in .settings.php", 'NO_CONTROLLER');
            }
            $ns = null;
            foreach ((array)($section['namespaces'] ?? []) as $namespace => $alias) {
                if (strcasecmp((string)$alias, $parts[0]) === 0) {
                    $ns = $namespace;
                    array_shift($parts);
                }
            }
            $ns ??= $section['defaultNamespace'] ?? null;
            if ($ns === null || $parts === []) {
                return $fail("Could not find controller for action '$action'", 'NO_CONTROLLER');
            }
            $class = rtrim((string)$ns, '\\') . '\\' . implode('\\', array_map('ucfirst', $parts));
            if (!class_exists($class) || !is_subclass_of($class, \Bitrix\Main\Engine\Controller::class)) {
                return $fail("Could not find controller $class for action '$action'", 'NO_CONTROLLER');
            }
            /** @var \Bitrix\Main\Engine\Controller $controller */
            $controller = new $class();
            return $controller->standinRun($method, $params);
        }
    }
}
