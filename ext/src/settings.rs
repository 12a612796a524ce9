//! The `bxpush.*` ini settings.
//!
//! Each entry has an `on_modify` handler that keeps a Rust copy of the current value, as a
//! C extension does with `STD_PHP_INI_ENTRY`: the engine calls it at start-up (php.ini,
//! `-d`), for `ini_set()`/`ini_restore()` and when a request ends and its changes are
//! rolled back. So `ini_set()` works and reading a setting costs a lock, not a hash
//! lookup. A value that does not parse is refused (`ini_set()` returns false; at start-up
//! PHP keeps the default).

use std::ffi::{c_int, c_void, CStr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ext_php_rs::ffi::{zend_ini_entry, zend_ini_entry_def, zend_string};
use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::types::ZendStr;
use ext_php_rs::zend::{IniEntryDef, IniEntryDefs};

use bxcore::protocol::{SignatureAlgo, Signer};

/// Every setting: name, default, who may change it, and its documentation (also in
/// `php-stubs/bxpush.stubs.php` and README; a phpt checks they agree).
pub struct Spec {
    pub name: &'static CStr,
    pub default: &'static CStr,
    pub system_only: bool,
}

pub const SPECS: [Spec; 12] = [
    Spec {
        name: c"bxpush.server",
        default: c"/run/bxpush/php.sock",
        system_only: false,
    },
    Spec {
        name: c"bxpush.signature_key",
        default: c"",
        system_only: false,
    },
    Spec {
        name: c"bxpush.signature_algo",
        default: c"sha1",
        system_only: false,
    },
    Spec {
        name: c"bxpush.bitrix_compat",
        default: c"1",
        system_only: false,
    },
    Spec {
        name: c"bxpush.spool_dir",
        default: c"/var/spool/bxpush",
        system_only: false,
    },
    Spec {
        name: c"bxpush.flush_timeout_ms",
        default: c"200",
        system_only: false,
    },
    Spec {
        name: c"bxpush.channel_ttl",
        default: c"43205",
        system_only: false,
    },
    Spec {
        name: c"bxpush.public_url",
        default: c"",
        system_only: false,
    },
    Spec {
        name: c"bxpush.server_name",
        default: c"",
        system_only: false,
    },
    Spec {
        name: c"bxpush.connect_timeout_ms",
        default: c"100",
        system_only: false,
    },
    Spec {
        name: c"bxpush.queue_items",
        default: c"10000",
        system_only: true,
    },
    Spec {
        name: c"bxpush.queue_bytes",
        default: c"16777216",
        system_only: true,
    },
];

/// The current values (the defaults until the engine calls the handlers at start-up).
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: String,
    pub signature_key: String,
    pub signature_algo: SignatureAlgo,
    pub bitrix_compat: bool,
    pub spool_dir: String,
    pub flush_timeout_ms: u64,
    pub channel_ttl: u32,
    pub public_url: String,
    pub server_name: String,
    pub connect_timeout_ms: u64,
    pub queue_items: usize,
    pub queue_bytes: usize,
    /// Built from `signature_key` + `signature_algo` when either changes: building one
    /// hashes the key (two HMAC blocks), which a send must not pay for.
    signer: Option<Signer>,
}

impl Settings {
    const fn defaults() -> Self {
        Settings {
            server: String::new(),
            signature_key: String::new(),
            signature_algo: SignatureAlgo::Sha1,
            bitrix_compat: true,
            spool_dir: String::new(),
            flush_timeout_ms: 200,
            channel_ttl: 43205,
            public_url: String::new(),
            server_name: String::new(),
            connect_timeout_ms: 100,
            queue_items: 10000,
            queue_bytes: 16 << 20,
            signer: None,
        }
    }

    /// The signer of `bxpush.signature_key`, `None` when the key is empty.
    pub fn signer(&self) -> Option<Signer> {
        self.signer.clone()
    }

    fn rebuild_signer(&mut self) {
        self.signer = (!self.signature_key.is_empty())
            .then(|| Signer::new(self.signature_key.as_bytes(), self.signature_algo));
    }

    pub fn flush_timeout(&self) -> Duration {
        Duration::from_millis(self.flush_timeout_ms)
    }

    pub fn spool_path(&self) -> PathBuf {
        PathBuf::from(&self.spool_dir)
    }
}

/// The current settings, replaced whole on every change: a reader takes an `Arc`
/// (one atomic increment per call, no copy of the strings).
static CURRENT: Mutex<Option<Arc<Settings>>> = Mutex::new(None);

fn current(slot: &mut Option<Arc<Settings>>) -> &Arc<Settings> {
    slot.get_or_insert_with(|| Arc::new(Settings::defaults()))
}

/// The current settings.
pub fn get() -> Arc<Settings> {
    current(&mut CURRENT.lock().unwrap_or_else(|e| e.into_inner())).clone()
}

/// Apply one textual value; `Err` refuses it.
fn apply(idx: usize, v: &str) -> Result<(), ()> {
    let v = v.trim();
    let mut slot = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = Settings::clone(current(&mut slot));
    let num = |v: &str| v.parse::<u64>().map_err(|_| ());
    match idx {
        0 => s.server = v.to_string(),
        1 => s.signature_key = v.to_string(),
        2 => s.signature_algo = v.parse().map_err(|_| ())?,
        3 => s.bitrix_compat = parse_bool(v)?,
        4 => s.spool_dir = v.to_string(),
        5 => s.flush_timeout_ms = num(v)?.min(60_000),
        6 => {
            s.channel_ttl = u32::try_from(num(v)?).map_err(|_| ()).and_then(|n| {
                if n == 0 {
                    Err(())
                } else {
                    Ok(n)
                }
            })?
        }
        7 => s.public_url = v.trim_end_matches('/').to_string(),
        8 => s.server_name = v.to_string(),
        9 => s.connect_timeout_ms = num(v)?.clamp(1, 60_000),
        10 => s.queue_items = usize::try_from(num(v)?.max(1)).map_err(|_| ())?,
        11 => s.queue_bytes = usize::try_from(num(v)?.max(1024)).map_err(|_| ())?,
        _ => return Err(()),
    }
    if idx == 1 || idx == 2 {
        s.rebuild_signer();
    }
    *slot = Some(Arc::new(s));
    Ok(())
}

/// PHP's ini booleans: 1/0, on/off, yes/no, true/false, empty = off.
#[allow(clippy::result_unit_err)]
pub fn parse_bool(v: &str) -> Result<bool, ()> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Ok(true),
        "0" | "off" | "no" | "false" | "" | "none" => Ok(false),
        _ => Err(()),
    }
}

unsafe extern "C" fn on_modify(
    _entry: *mut zend_ini_entry,
    new_value: *mut zend_string,
    mh_arg1: *mut c_void,
    _mh_arg2: *mut c_void,
    _mh_arg3: *mut c_void,
    _stage: c_int,
) -> c_int {
    let idx = mh_arg1 as usize;
    let text = if new_value.is_null() {
        String::new()
    } else {
        // SAFETY: the engine passes a live zend_string.
        let zs: &ZendStr = unsafe { &*(new_value as *const ZendStr) };
        String::from_utf8_lossy(zs.as_bytes()).into_owned()
    };
    match std::panic::catch_unwind(|| apply(idx, &text)) {
        Ok(Ok(())) => 0, // SUCCESS
        _ => -1,         // FAILURE
    }
}

const fn def(i: usize) -> IniEntryDef {
    let spec = &SPECS[i];
    let perm = if spec.system_only {
        IniEntryPermission::System
    } else {
        IniEntryPermission::All
    };
    let base = IniEntryDef::new(spec.name, spec.default, perm);
    zend_ini_entry_def {
        on_modify: Some(on_modify),
        mh_arg1: std::ptr::without_provenance_mut(i),
        ..base
    }
}

static ENTRIES: IniEntryDefs<13> = IniEntryDefs::new([
    def(0),
    def(1),
    def(2),
    def(3),
    def(4),
    def(5),
    def(6),
    def(7),
    def(8),
    def(9),
    def(10),
    def(11),
    IniEntryDef::end(),
]);

/// Register the entries (MINIT).
pub fn register(module_number: i32) {
    IniEntryDef::register(ENTRIES.as_slice(), module_number);
}

/// Names of all settings (for `php --ri` and the stubs check).
pub fn names() -> impl Iterator<Item = &'static str> {
    SPECS.iter().map(|s| s.name.to_str().unwrap_or(""))
}
