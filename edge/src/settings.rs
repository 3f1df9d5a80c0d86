//! Reading the Worker's configuration vars. Structured settings are JSON: `wrangler.toml` may
//! give them as tables (the runtime hands those over as objects) or as JSON strings (as
//! `.dev.vars`, the dashboard and `wrangler secret` do); both are accepted.

use serde::de::DeserializeOwned;
use worker::Env;

/// Why a setting could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error("not set")]
    Missing,
    #[error("invalid: {0}")]
    Invalid(String),
}

/// The JSON setting `name`, given as an object or as a JSON string.
pub fn json_var<T: DeserializeOwned>(env: &Env, name: &str) -> Result<T, SettingError> {
    if let Ok(value) = env.object_var::<T>(name) {
        return Ok(value);
    }
    let raw = env
        .var(name)
        .map_err(|_| SettingError::Missing)?
        .to_string();
    if raw.is_empty() {
        return Err(SettingError::Invalid("expected a JSON object".into()));
    }
    serde_json::from_str(&raw).map_err(|e| SettingError::Invalid(e.to_string()))
}

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
