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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ext_php_rs::ffi::{zend_ini_entry, zend_ini_entry_def, zend_string};
use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::types::ZendStr;
use ext_php_rs::zend::{IniEntryDef, IniEntryDefs};

use bxcore::forward::config::{
    DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_FLUSH_TIMEOUT_MS, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_ITEMS,
    DEFAULT_SERVER, DEFAULT_SPOOL_DIR,
};
use bxcore::forward::{ForwarderConfig, Owners};
use bxcore::protocol::{SignatureAlgo, Signer};

/// Every setting: name, default, who may change it, and its documentation (also in
/// `php-stubs/bxpush.stubs.php` and README; a phpt checks they agree). The defaults of
/// the worker side are the core's constants (`bxcore::forward::config`): written once.
pub struct Spec {
    pub name: &'static CStr,
    pub default: &'static CStr,
    pub system_only: bool,
}

/// `n` in decimal as a nul-terminated C string, made at compile time (an ini default is
/// text; the constants are numbers).
const fn decimal_bytes(n: u64) -> [u8; 21] {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut v = n;
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut out = [0u8; 21];
    let mut i = 0;
    while i < len {
        out[i] = digits[len - 1 - i];
        i += 1;
    }
    out
}

macro_rules! decimal {
    ($n:expr) => {{
        const BYTES: [u8; 21] = decimal_bytes($n as u64);
        match CStr::from_bytes_until_nul(&BYTES) {
            Ok(c) => c,
            Err(_) => panic!("decimal_bytes ends with a nul"),
        }
    }};
}

pub const SPECS: [Spec; 12] = [
    Spec {
        name: c"bxpush.server",
        default: DEFAULT_SERVER,
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
        default: DEFAULT_SPOOL_DIR,
        system_only: false,
    },
    Spec {
        name: c"bxpush.flush_timeout_ms",
        default: decimal!(DEFAULT_FLUSH_TIMEOUT_MS),
        system_only: false,
    },
    Spec {
        name: c"bxpush.channel_ttl",
        default: decimal!(bxcore::users::CHANNEL_TTL),
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
        default: decimal!(DEFAULT_CONNECT_TIMEOUT_MS),
        system_only: false,
    },
    Spec {
        name: c"bxpush.queue_items",
        default: decimal!(DEFAULT_QUEUE_ITEMS),
        system_only: true,
    },
    Spec {
        name: c"bxpush.queue_bytes",
        default: decimal!(DEFAULT_QUEUE_BYTES),
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
    /// Built from the settings it is made of when one of them changes, so a send neither
    /// parses `bxpush.server` nor copies strings, and finds its forwarder by pointer.
    /// `Err`: `bxpush.server` does not parse (the message says why).
    forwarder: Result<Arc<ForwarderConfig>, String>,
}

impl Settings {
    /// The values before the engine calls the handlers (it sets every entry at start-up,
    /// from php.ini or its default): the defaults of [`SPECS`], parsed as `ini_set` would.
    fn defaults() -> Self {
        let mut s = Settings {
            server: String::new(),
            signature_key: String::new(),
            signature_algo: SignatureAlgo::Sha1,
            bitrix_compat: false,
            spool_dir: String::new(),
            flush_timeout_ms: 0,
            channel_ttl: 0,
            public_url: String::new(),
            server_name: String::new(),
            connect_timeout_ms: 0,
            queue_items: 0,
            queue_bytes: 0,
            signer: None,
            forwarder: Err(String::new()),
        };
        for (idx, spec) in SPECS.iter().enumerate() {
            let text = spec.default.to_str().expect("ASCII defaults");
            set(&mut s, idx, text).expect("every default parses");
        }
        s
    }

    /// How this process's forwarder reaches the owner (built when a setting changed).
    pub fn forwarder(&self) -> Result<&Arc<ForwarderConfig>, String> {
        self.forwarder.as_ref().map_err(Clone::clone)
    }

    fn rebuild_forwarder(&mut self) {
        self.forwarder = self
            .server
            .parse::<Owners>()
            .map_err(|e| format!("bxpush.server: {e}"))
            .map(|owners| {
                Arc::new(ForwarderConfig {
                    owners,
                    signature_key: (!self.signature_key.is_empty())
                        .then(|| self.signature_key.clone()),
                    spool_dir: PathBuf::from(&self.spool_dir),
                    queue_items: self.queue_items,
                    queue_bytes: self.queue_bytes,
                    connect_timeout: Duration::from_millis(self.connect_timeout_ms),
                })
            });
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
}

/// The current settings, replaced whole on every change: a reader takes an `Arc`
/// (one atomic increment per call, no copy of the strings).
static CURRENT: Mutex<Option<Arc<Settings>>> = Mutex::new(None);

fn current(slot: &mut Option<Arc<Settings>>) -> &Arc<Settings> {
    slot.get_or_insert_with(|| Arc::new(Settings::defaults()))
}

/// Bumped by every change of a setting: a caller that keeps something made of the
/// settings (the forwarder) compares this instead of locking and reading them.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The current generation of the settings (see [`GENERATION`]).
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// The current settings.
pub fn get() -> Arc<Settings> {
    current(&mut CURRENT.lock().unwrap_or_else(|e| e.into_inner())).clone()
}

/// Apply one textual value; `Err` refuses it.
fn apply(idx: usize, v: &str) -> Result<(), ()> {
    let mut slot = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = Settings::clone(current(&mut slot));
    set(&mut s, idx, v)?;
    *slot = Some(Arc::new(s));
    GENERATION.fetch_add(1, Ordering::Release);
    Ok(())
}

/// Set setting `idx` of `s` from its text, and rebuild what is made of it.
fn set(s: &mut Settings, idx: usize, v: &str) -> Result<(), ()> {
    let v = v.trim();
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
    // bxpush.server, signature_key, spool_dir, connect_timeout_ms, queue_items, queue_bytes
    if matches!(idx, 0 | 1 | 4 | 9 | 10 | 11) {
        s.rebuild_forwarder();
    }
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
