//! The Bitrix class names (`\Bitrix\Pull\Push`, `\Bitrix\Pull\Event`, `\CPullWatch`,
//! `\CPullStack`) as aliases of the compat classes, made by an SPL autoloader.

use ext_php_rs::prelude::*;

use crate::{php, settings};

/// The Bitrix names and the classes they alias.
pub const ALIASES: [(&str, &str); 4] = [
    ("bitrix\\pull\\push", "BxPush\\Compat\\Push"),
    ("bitrix\\pull\\event", "BxPush\\Compat\\Event"),
    ("cpullwatch", "BxPush\\Compat\\CPullWatch"),
    ("cpullstack", "BxPush\\Compat\\CPullStack"),
];

pub const ALIAS_NAMES: [&str; 4] = [
    "Bitrix\\Pull\\Push",
    "Bitrix\\Pull\\Event",
    "CPullWatch",
    "CPullStack",
];

/// The autoloader registered at request start when `bxpush.bitrix_compat` is on: makes
/// `\Bitrix\Pull\Push`, `\Bitrix\Pull\Event`, `\CPullWatch`, `\CPullStack` aliases of the
/// compat classes when they are autoloaded. Inside a real Bitrix kernel
/// (`\Bitrix\Main\Loader` declared) it does nothing, so Bitrix's own classes win; a class
/// the script declared itself is never autoloaded, so its name stays taken.
#[php_function]
#[php(name = "BxPush\\Compat\\autoload")]
pub fn autoload(class: &str) {
    if !settings::get().bitrix_compat {
        return;
    }
    let want = class.trim_start_matches('\\').to_ascii_lowercase();
    let Some(idx) = ALIASES.iter().position(|(n, _)| *n == want) else {
        return;
    };
    if php::class_declared("Bitrix\\Main\\Loader") {
        return;
    }
    let Some(ce) = ext_php_rs::zend::ClassEntry::try_find(ALIASES[idx].1) else {
        return;
    };
    let alias = ALIAS_NAMES[idx];
    // class_alias() refuses internal classes; the engine's own call does not.
    // SAFETY: a live class entry; the alias is added to this request's class table.
    unsafe {
        zend_register_class_alias_ex(
            alias.as_ptr().cast(),
            alias.len(),
            std::ptr::from_ref(ce).cast_mut().cast(),
            false,
        );
    }
}

extern "C" {
    /// `ZEND_API zend_result zend_register_class_alias_ex(const char *name, size_t
    /// name_len, zend_class_entry *ce, bool persistent)`, unchanged in PHP 8.1–8.4.
    fn zend_register_class_alias_ex(
        name: *const std::ffi::c_char,
        name_len: usize,
        ce: *mut std::ffi::c_void,
        persistent: bool,
    ) -> i32;
}

/// RINIT: register the autoloader (appended: autoloaders registered before it win).
pub fn request_start() {
    if settings::get().bitrix_compat {
        let _ = php::call(
            "spl_autoload_register",
            vec![&"BxPush\\Compat\\autoload", &true, &false],
        );
    }
}

/// The functions of this module, for the module builder.
pub fn functions() -> Vec<ext_php_rs::builders::FunctionBuilder<'static>> {
    vec![wrap_function!(autoload)]
}
