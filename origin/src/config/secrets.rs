//! Secrets as clap reads them: wrapped at once, so no `Debug` or log line can print them.

use secrecy::SecretString;

/// A clap value parser that wraps the raw value.
pub(crate) fn secret(raw: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(raw.to_owned()))
}
