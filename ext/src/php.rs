//! Small helpers over the engine: calling PHP's own functions, warnings, `$_SERVER`.
//! Only ever called on the PHP thread.

use std::ffi::{c_int, CString};
use std::sync::OnceLock;

use ext_php_rs::boxed::ZBox;
use ext_php_rs::convert::IntoZvalDyn;
use ext_php_rs::exception::PhpException;
use ext_php_rs::types::{ZendCallable, ZendStr, Zval};
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

/// PHP's JSON encoder as `json_encode($value, $flags)` runs it (depth 512), so the bytes are
/// exactly those the pull module produces (float precision, escaping, empty arrays as `[]`).
///
/// Called straight through ext/json's exported `php_json_encode_ex`, not by name through the
/// engine: `json_encode()` via `zend_call_function` cost ~2,000 instructions of lookup and
/// frame set-up per publish on top of the encoding itself. The error path (rare) still asks
/// `json_last_error_msg()`, which reads the code `php_json_encode_ex` leaves in the json
/// globals — the same state `json_encode()` leaves, so PHP code calling `json_last_error()`
/// after a publish sees what it would have seen before.
pub fn json_encode(value: &Zval, flags: i64) -> Result<Vec<u8>, String> {
    json_encode_with(value, flags, |b| b.to_vec())
}

/// [`json_encode`], handing the encoded bytes to `take` while they are still in PHP's
/// buffer (no intermediate copy).
pub fn json_encode_with<R>(
    value: &Zval,
    flags: i64,
    take: impl FnOnce(&[u8]) -> R,
) -> Result<R, String> {
    let mut buf = SmartStr {
        s: std::ptr::null_mut(),
        a: 0,
    };
    // SAFETY: `value` is a live zval on the PHP thread; the encoder only reads it (objects'
    // jsonSerialize() may run PHP code, as in json_encode()). `buf` starts empty and is
    // grown with emalloc by the encoder; its string is released below in every case.
    let rc = unsafe {
        php_json_encode_ex(
            &mut buf,
            value as *const Zval as *mut Zval,
            flags as c_int,
            JSON_ENCODE_DEPTH,
        )
    };
    // SAFETY: a non-null `buf.s` is an emalloc'd, non-interned zend_string with refcount 1
    // owned by us; ZBox releases it with zend_string_release on drop.
    let encoded = (!buf.s.is_null()).then(|| unsafe { ZBox::<ZendStr>::from_raw(buf.s) });
    if exception_pending() {
        return Err("json_encode() failed: an object's jsonSerialize() threw".into());
    }
    // FAILURE is not the only failure: INF/NAN are written as `0` with SUCCESS and only
    // the error code says so (json_encode() checks the code, so must we).
    if rc == 0 && json_error_code() == Some(0) {
        // An empty buffer cannot come out of a successful encode (the shortest is `0`).
        if let Some(s) = &encoded {
            return Ok(take(s.as_bytes()));
        }
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

/// `JSON_G(error_code)` as the last encode left it. Read from ext/json's globals where a
/// non-thread-safe PHP exports them (Debian's, the usual FPM build: a load, no call);
/// a ZTS build keeps them per thread, so there `json_last_error()` is asked by name.
fn json_error_code() -> Option<i64> {
    static GLOBALS: OnceLock<usize> = OnceLock::new();
    let addr = *GLOBALS.get_or_init(|| {
        if ext_php_rs::PHP_ZTS {
            return 0;
        }
        // SAFETY: dlsym with a NUL-terminated name; RTLD_DEFAULT searches the process.
        unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"json_globals".as_ptr()) as usize }
    });
    if addr == 0 {
        return call("json_last_error", vec![]).ok().and_then(|z| z.long());
    }
    // SAFETY: `json_globals` is ext/json's `zend_json_globals` (php_json.h: int
    // encoder_depth; int encode_max_depth; php_json_error_code error_code), alive for the
    // process; read on the PHP thread, the only one that writes it.
    let g = unsafe { &*(addr as *const JsonGlobals) };
    Some(i64::from(g.error_code))
}

/// ext/json's module globals, non-thread-safe layout (php_json.h, PHP 8.0–8.4).
#[repr(C)]
struct JsonGlobals {
    encoder_depth: c_int,
    encode_max_depth: c_int,
    error_code: c_int,
}

/// `json_encode()`'s default `$depth`.
const JSON_ENCODE_DEPTH: i64 = 512;

/// Zend's `smart_str` (Zend/zend_smart_str_public.h): the growable buffer ext/json writes to.
#[repr(C)]
struct SmartStr {
    s: *mut ZendStr,
    a: usize,
}

extern "C" {
    /// ext/json (always compiled into PHP 8): `zend_result php_json_encode_ex(smart_str *buf,
    /// zval *val, int options, zend_long depth)`; 0 = SUCCESS, -1 = FAILURE, the error code
    /// left in `JSON_G(error_code)`.
    fn php_json_encode_ex(buf: *mut SmartStr, val: *mut Zval, options: c_int, depth: i64) -> c_int;
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

extern "C" {
    /// PHP's logger (`error_log` / the SAPI's log), what `php_log_err()` expands to.
    fn php_log_err_with_severity(message: *const std::ffi::c_char, syslog_type: c_int);
}

/// One line in PHP's error log (not shown to the visitor, unlike a warning).
pub fn log_notice(msg: &str) {
    let msg = CString::new(msg.replace('\0', "?")).unwrap_or_default();
    // SAFETY: a NUL-terminated message; 5 = LOG_NOTICE, what php_log_err() passes.
    unsafe { php_log_err_with_severity(msg.as_ptr(), 5) };
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
