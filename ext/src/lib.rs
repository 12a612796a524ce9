//! `bxpush`: the PHP extension of the bxpush push server. Thin glue over the core crate.
//!
//! - [`api`]: `BxPush\publish()`, `channel_stats()`, signing, `flush()`, `status()`;
//! - [`server`]: `BxPush\Server` (host the runtime in a CLI process);
//! - [`client_config`]: `BxPush\Config` (the core's client config as a PHP array);
//! - [`compat`]: Bitrix's `Push`, `Event`, `CPullWatch`, `CPullStack` (and their aliases);
//! - [`request_queue`]: this request's queue of events (the compat classes');
//! - [`pull_transport`]: what the `bxpush.pull` module's transport shim calls;
//! - [`channels`], [`message`]: channel arguments and message bodies from PHP values;
//! - [`dispatch`], [`query`]: where a send goes (the hosted runtime, or the forwarder to
//!   the owner), and questions to the owner;
//! - [`settings`]: the `bxpush.*` ini entries; [`php`]: calling into the engine.
//!
//! Process model: MINIT registers ini entries and classes only (no thread, no socket);
//! the forwarder starts on the first send in a worker; RSHUTDOWN sends what the request
//! queued and waits (bounded) for acknowledgement if it handed anything over; MSHUTDOWN
//! shuts the forwarder down (bounded). See shared/spec/php-extension-notes.md.

#![cfg_attr(windows, feature(abi_vectorcall))]
#![allow(clippy::needless_pass_by_value)]

use ext_php_rs::prelude::*;
use ext_php_rs::zend::{ce, ModuleEntry};
use ext_php_rs::{info_table_end, info_table_row, info_table_start};

pub mod api;
pub mod channels;
pub mod client_config;
pub mod compat;
pub mod dispatch;
pub mod message;
pub mod php;
pub mod pull_transport;
pub mod query;
pub mod request_queue;
pub mod server;
pub mod settings;

/// Every error of the extension: `BxPush\Exception extends \Exception`, with the reason.
#[php_class]
#[php(name = "BxPush\\Exception")]
#[php(extends(ce = ce::exception, stub = "\\Exception"))]
#[derive(Default)]
pub struct BxPushException;

extern "C" {
    /// PHP's own printer of a module's ini entries (`php --ri`, phpinfo()).
    fn display_ini_entries(module: *mut ModuleEntry);
}

extern "C" fn startup(_ty: i32, module_number: i32) -> i32 {
    settings::register(module_number);
    0
}

unsafe extern "C" fn request_startup(_ty: i32, _module_number: i32) -> i32 {
    let _ = std::panic::catch_unwind(|| {
        inherit_exception_constructor();
        compat::aliases::request_start();
    });
    0
}

/// ext-php-rs gives every class its own `__construct`, which for a class without a Rust
/// constructor throws "You cannot instantiate this class from PHP". `BxPush\Exception`
/// must behave like any exception (`new BxPush\Exception($msg, $code, $previous)`,
/// subclasses), so on the first request its constructor is replaced by a copy of
/// `Exception::__construct` and its object creation by the parent's, exactly what the engine's inheritance does for internal
/// classes (`zend_duplicate_internal_function`). Once per process.
fn inherit_exception_constructor() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(ce) = ext_php_rs::zend::ClassEntry::try_find("BxPush\\Exception") else {
        return;
    };
    let Some(parent) = ce.parent() else {
        return;
    };
    let pctor = parent.constructor;
    if pctor.is_null() {
        return;
    }
    // SAFETY: persistent class entries of this process; the copy is malloc'ed like the
    // engine's (pemalloc persistent) and owned by the function table from now on.
    unsafe {
        use ext_php_rs::ffi::{zend_function, zend_hash_str_update, zend_internal_function, zval};
        let size = std::mem::size_of::<zend_internal_function>();
        let copy = libc::malloc(std::mem::size_of::<zend_function>().max(size))
            as *mut zend_internal_function;
        if copy.is_null() {
            return;
        }
        std::ptr::copy_nonoverlapping(pctor as *const zend_internal_function, copy, 1);
        let name = (*copy).function_name;
        if !name.is_null() && ((*name).gc.u.type_info & (1 << 6)) == 0 {
            (*name).gc.refcount += 1;
        }
        let cep = std::ptr::from_ref(ce).cast_mut();
        let mut z: zval = std::mem::zeroed();
        z.value.ptr = copy.cast();
        z.u1.type_info = 13; // IS_PTR
        zend_hash_str_update(
            &raw mut (*cep).function_table,
            c"__construct".as_ptr(),
            11,
            &raw mut z,
        );
        (*cep).constructor = copy.cast();
        // Plain exception objects (file, line, trace; subclasses keep their class):
        // nothing Rust-side lives in them.
        (*cep).__bindgen_anon_2.create_object = parent.__bindgen_anon_2.create_object;
    }
}

unsafe extern "C" fn request_shutdown(_ty: i32, _module_number: i32) -> i32 {
    let _ = std::panic::catch_unwind(|| {
        compat::request_end();
        dispatch::request_end();
    });
    0
}

unsafe extern "C" fn module_shutdown(_ty: i32, _module_number: i32) -> i32 {
    let _ = std::panic::catch_unwind(dispatch::module_end);
    0
}

unsafe extern "C" fn module_info(module: *mut ModuleEntry) {
    let _ = std::panic::catch_unwind(|| {
        info_table_start!();
        info_table_row!("bxpush support", "enabled");
        info_table_row!("version", env!("CARGO_PKG_VERSION"));
        let s = settings::get();
        match dispatch::with_hosted(|bg| {
            format!("yes (sub {}, pub {})", bg.sub_addr(), bg.pub_addr())
        }) {
            Some(h) => info_table_row!("runtime hosted in this process", h),
            None => info_table_row!("runtime hosted in this process", "no"),
        }
        info_table_row!("owner (bxpush.server)", s.server.as_str());
        match dispatch::existing_forwarder() {
            Some(fw) => {
                let st = fw.stats();
                info_table_row!("forwarder", "started in this process");
                info_table_row!(
                    "forwarder connected",
                    if st.connected { "yes" } else { "no" }
                );
                if let Some(owner) = st.owner.and_then(|i| fw.config().owners.all().get(i)) {
                    info_table_row!("forwarder owner", owner.to_string());
                }
                info_table_row!("forwarder failovers", st.failovers.to_string());
                info_table_row!("forwarder queued", st.queued.to_string());
                info_table_row!("forwarder acked", st.acked.to_string());
                info_table_row!("forwarder spooled", st.spooled.to_string());
            }
            None => info_table_row!("forwarder", "not started (starts on the first send)"),
        }
        info_table_row!(
            "Bitrix class aliases",
            if s.bitrix_compat {
                "on (\\Bitrix\\Pull\\Push, \\Bitrix\\Pull\\Event, \\CPullWatch, \\CPullStack when free)"
            } else {
                "off"
            }
        );
        info_table_end!();
    });
    // SAFETY: the engine passes its own module entry.
    unsafe { display_ini_entries(module) };
}

#[php_module]
#[php(startup = startup)]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    let mut module = module;
    for f in api::functions()
        .into_iter()
        .chain(compat::aliases::functions())
        .chain(pull_transport::functions())
    {
        module = module.function(f);
    }
    module
        .name("bxpush")
        .version(env!("CARGO_PKG_VERSION"))
        .class::<BxPushException>()
        .class::<server::Server>()
        .class::<client_config::Config>()
        .class::<compat::Event>()
        .class::<compat::Push>()
        .class::<compat::CPullWatch>()
        .class::<compat::CPullStack>()
        .request_startup_function(request_startup)
        .request_shutdown_function(request_shutdown)
        .shutdown_function(module_shutdown)
        .info_function(module_info)
}
