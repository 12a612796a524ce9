//! Small helpers over the engine: calling PHP's own functions, warnings, `$_SERVER`.
//! Only ever called on the PHP thread.

use std::ffi::CString;

use ext_php_rs::convert::IntoZvalDyn;
use ext_php_rs::exception::PhpException;
use ext_php_rs::types::{ZendCallable, Zval};
use ext_php_rs::zend::{ExecutorGlobals, ProcessGlobals};

use crate::BxPushException;

/// `JSON_UNESCAPED_UNICODE`: the only flag the pull module uses for message bodies.
pub const JSON_UNESCAPED_UNICODE: i64 = 256;
/// Bitrix's `Main\Web\Json::encode` default flags (config JSON):
/// `JSON_HEX_TAG|JSON_HEX_AMP|JSON_HEX_APOS|JSON_HEX_QUOT|JSON_UNESCAPED_UNICODE`.
pub const JSON_BITRIX_DEFAULT: i64 = 1 | 2 | 4 | 8 | 256;

/// A `BxPush\Exception` with `msg`.
pub fn exc(msg: impl Into<String>) -> PhpException {
    PhpException::from_class::<BxPushException>(msg.into())
}

/// Call a PHP function by name. An exception thrown inside stays pending and is
/// reported as `Err`.
pub fn call(name: &str, args: Vec<&dyn IntoZvalDyn>) -> Result<Zval, String> {
    let f = ZendCallable::try_from_name(name)
        .map_err(|_| format!("PHP function {name}() is not available"))?;
    f.try_call(args)
        .map_err(|e| format!("{name}() failed: {e}"))
}

/// PHP's `json_encode($value, $flags)`, so the bytes are exactly those the pull module
/// produces (float precision, escaping, empty arrays as `[]`).
pub fn json_encode(value: &Zval, flags: i64) -> Result<Vec<u8>, String> {
    let r = call("json_encode", vec![value, &flags])?;
    if let Some(s) = r.zend_str() {
        return Ok(s.as_bytes().to_vec());
    }
    let why = call("json_last_error_msg", vec![])
        .ok()
        .and_then(|z| z.string())
        .unwrap_or_else(|| "unknown error".into());
    if why.contains("UTF-8") {
        Err(format!(
            "invalid UTF-8 in the message: json_encode() failed: {why}"
        ))
    } else {
        Err(format!("the message cannot be encoded as JSON: {why}"))
    }
}

/// PHP's `json_decode($s, true)`; `null` on invalid JSON.
pub fn json_decode(s: &str) -> Zval {
    call("json_decode", vec![&s, &true]).unwrap_or_else(|_| Zval::null())
}

/// `date('c')` in PHP's configured time zone.
pub fn date_c() -> Zval {
    call("date", vec![&"c"]).unwrap_or_else(|_| Zval::null())
}

/// `microtime(true)`.
pub fn microtime() -> Zval {
    call("microtime", vec![&true]).unwrap_or_else(|_| Zval::null())
}

/// A PHP warning (E_WARNING) naming the function, like PHP's own.
pub fn warning(msg: &str) {
    let msg = CString::new(msg.replace('\0', "?")).unwrap_or_default();
    // SAFETY: format string and argument are NUL-terminated; E_WARNING = 2.
    unsafe {
        ext_php_rs::ffi::php_error_docref(std::ptr::null(), 2, c"%s".as_ptr(), msg.as_ptr());
    }
}

/// `$_SERVER[$key]` as a string, if set and non-empty.
pub fn server_var(key: &str) -> Option<String> {
    let pg = ProcessGlobals::get();
    let vars = pg.http_server_vars()?;
    let v = vars.get(key)?;
    let s = v.coerce_to_string()?;
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

/// Whether a class is declared (without autoloading).
pub fn class_declared(name: &str) -> bool {
    let lower = name.trim_start_matches('\\').to_ascii_lowercase();
    let eg = ExecutorGlobals::get();
    eg.class_table()
        .is_some_and(|t| t.get(lower.as_str()).is_some())
}

/// Whether a function exists.
pub fn function_exists(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let eg = ExecutorGlobals::get();
    eg.function_table()
        .is_some_and(|t| t.get(lower.as_str()).is_some())
}

/// Whether an exception is pending in the engine.
pub fn exception_pending() -> bool {
    ExecutorGlobals::has_exception()
}

/// A PHP value for error messages: type and a short rendering.
pub fn describe(z: &Zval) -> String {
    let z = z.dereference();
    if z.is_null() {
        "null".into()
    } else if z.is_bool() {
        if z.is_true() {
            "true".into()
        } else {
            "false".into()
        }
    } else if let Some(l) = z.long() {
        l.to_string()
    } else if let Some(d) = z.double() {
        format!("float {d}")
    } else if let Some(s) = z.zend_str() {
        let b = s.as_bytes();
        let shown = String::from_utf8_lossy(&b[..b.len().min(80)]);
        format!("\"{shown}\"")
    } else if z.is_array() {
        "array".into()
    } else if z.is_object() {
        "object".into()
    } else {
        format!("{:?}", z.get_type())
    }
}

/// A PHP bool.
pub fn zbool(b: bool) -> Zval {
    let mut z = Zval::new();
    z.set_bool(b);
    z
}

/// A PHP string.
pub fn zstr(s: &str) -> Zval {
    let mut z = Zval::new();
    let _ = z.set_string(s, false);
    z
}

/// A PHP int.
pub fn zlong(v: i64) -> Zval {
    let mut z = Zval::new();
    z.set_long(v);
    z
}
