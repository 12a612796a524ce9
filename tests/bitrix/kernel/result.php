<?php
// Bitrix\Main value classes: exceptions, Error/Result, Type\DateTime, Web\Json.

namespace Bitrix\Main {

    class SystemException extends \Exception
    {
        public function __construct($message = '', $code = 0, $file = '', $line = 0, ?\Throwable $previous = null)
        {
            parent::__construct($message, (int)$code, $previous);
        }
    }

    class ArgumentException extends SystemException
    {
        protected $parameter;

        public function __construct($message = '', $parameter = '', ?\Throwable $previous = null)
        {
            parent::__construct($message, 100, '', 0, $previous);
            $this->parameter = $parameter;
        }

        public function getParameter()
        {
            return $this->parameter;
        }
    }

    class ArgumentNullException extends ArgumentException
    {
        public function __construct($parameter, ?\Throwable $previous = null)
        {
            parent::__construct("Argument '$parameter' is null or empty", $parameter, $previous);
        }
    }

    class ArgumentOutOfRangeException extends ArgumentException
    {
    }

    class LoaderException extends SystemException
    {
    }

    class Error implements \JsonSerializable
    {
        protected $message;
        protected $code;
        protected $customData;

        public function __construct(string $message, $code = 0, $customData = null)
        {
            $this->message = $message;
            $this->code = $code;
            $this->customData = $customData;
        }

        public function getMessage(): string
        {
            return $this->message;
        }

        public function getCode()
        {
            return $this->code;
        }

        public function getCustomData()
        {
            return $this->customData;
        }

        public function __toString(): string
        {
            return $this->message;
        }

        public function jsonSerialize(): array
        {
            return ['message' => $this->message, 'code' => $this->code, 'customData' => $this->customData];
        }
    }

    class Result
    {
        protected $isSuccess = true;
        /** @var Error[] */
        protected $errors = [];
        protected $data = [];

        public function isSuccess(): bool
        {
            return $this->isSuccess;
        }

        public function addError(Error $error)
        {
            $this->isSuccess = false;
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

        /** @return Error[] */
        public function getErrors(): array
        {
            return $this->errors;
        }

        public function getErrorMessages(): array
        {
            return array_map(fn(Error $e) => $e->getMessage(), $this->errors);
        }

        public function setData(array $data)
        {
            $this->data = $data;
            return $this;
        }

        public function getData()
        {
            return $this->data;
        }
    }
}

namespace Bitrix\Main\Type {

    /** Property names match the real class, so serialized vectors (case m) unserialize into it. */
    class DateTime
    {
        /** @var \DateTime */
        protected $value;
        protected $userTimeEnabled = true;

        public function __construct($time = null, $format = null, $timezone = null)
        {
            $this->value = new \DateTime($time ?? 'now', $timezone);
        }

        public static function createFromTimestamp($timestamp): static
        {
            $d = new static();
            $d->value->setTimestamp((int)$timestamp);
            return $d;
        }

        public function getTimestamp(): int
        {
            return $this->value->getTimestamp();
        }

        public function format($format): string
        {
            return $this->value->format($format);
        }

        public function add($interval): static
        {
            $this->value->modify($interval);
            return $this;
        }

        public function toString(): string
        {
            return $this->value->format('d.m.Y H:i:s');
        }

        public function __toString(): string
        {
            return $this->toString();
        }
    }
}

namespace Bitrix\Main\Web {

    class Json
    {
        public const DEFAULT_OPTIONS = JSON_HEX_TAG | JSON_HEX_AMP | JSON_HEX_APOS | JSON_HEX_QUOT;

        public static function encode($data, $options = null): string
        {
            $options ??= self::DEFAULT_OPTIONS;
            $s = json_encode($data, $options);
            if ($s === false) {
                throw new \Bitrix\Main\ArgumentException('JSON error: ' . json_last_error_msg() . ' [' . json_last_error() . ']', 'data');
            }
            return $s;
        }

        public static function decode($data)
        {
            $r = json_decode((string)$data, true);
            if (json_last_error() !== JSON_ERROR_NONE) {
                throw new \Bitrix\Main\ArgumentException('JSON error: ' . json_last_error_msg() . ' [' . json_last_error() . ']', 'data');
            }
            return $r;
        }
    }
}
