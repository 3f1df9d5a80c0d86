//! Reading the Worker's configuration vars.

use worker::Env;

/// The whole-number setting `name`, or `default` when it is not set. A value that is set but
/// unreadable is logged and the default used, so a typo cannot take the shop down.
pub fn number_var(env: &Env, name: &str, default: u64) -> u64 {
    match env.var(name) {
        Ok(value) => value.to_string().trim().parse().unwrap_or_else(|_| {
            worker::console_error!("setting {name} is not a whole number; using {default}");
            default
        }),
        Err(_) => default,
    }
}
