//! Signature checks by the runtime's WebCrypto (`crypto.subtle`): RS256, PS256, ES256 and EdDSA
//! run as native code in workerd, so neither RSA nor the curves are compiled into the wasm (which
//! has a 400 KB budget), and an RSA check costs a fraction of a millisecond.
//!
//! `importKey` is the costly step, so the imported `CryptoKey` is kept per `kid` for the
//! isolate's life; an entry is reused only while the key set still holds the very same JWK (a
//! rotation that reuses a `kid` imports afresh). A signature that does not match verifies
//! `false`; a key WebCrypto refuses is logged and counts as a bad signature.

use std::{cell::RefCell, collections::HashMap, rc::Rc};

use api::token::{HostCheck, KeyAlgorithm};
use serde_json::Value;
use worker::{
    js_sys::{self, Array, Object, Reflect, Uint8Array},
    wasm_bindgen::{JsCast, JsValue},
    wasm_bindgen_futures::JsFuture,
};

thread_local! {
    static IMPORTED: RefCell<HashMap<String, (Rc<Value>, JsValue)>> = RefCell::new(HashMap::new());
}

/// Whether `check.signature` is a valid signature of `check.signing_input`.
pub async fn verify(check: HostCheck) -> bool {
    match try_verify(&check).await {
        Ok(valid) => valid,
        Err(err) => {
            worker::console_error!("WebCrypto refused key {}: {err:?}", check.kid);
            false
        }
    }
}

async fn try_verify(check: &HostCheck) -> Result<bool, JsValue> {
    let subtle = subtle()?;
    let key = imported_key(&subtle, check).await?;
    let verify: js_sys::Function = Reflect::get(&subtle, &"verify".into())?.dyn_into()?;
    let args = Array::of4(
        &verify_params(check.algorithm)?,
        &key,
        &Uint8Array::from(check.signature.as_slice()),
        &Uint8Array::from(check.signing_input.as_slice()),
    );
    let promise: js_sys::Promise = verify.apply(&subtle, &args)?.dyn_into()?;
    Ok(JsFuture::from(promise).await?.as_bool().unwrap_or(false))
}

async fn imported_key(subtle: &JsValue, check: &HostCheck) -> Result<JsValue, JsValue> {
    let cached = IMPORTED.with(|keys| {
        keys.borrow()
            .get(&check.kid)
            .filter(|(jwk, _)| Rc::ptr_eq(jwk, &check.jwk))
            .map(|(_, key)| key.clone())
    });
    if let Some(key) = cached {
        return Ok(key);
    }
    let jwk = js_sys::JSON::parse(&check.jwk.to_string())?;
    let import: js_sys::Function = Reflect::get(subtle, &"importKey".into())?.dyn_into()?;
    let args = Array::of5(
        &"jwk".into(),
        &jwk,
        &import_params(check.algorithm)?,
        &JsValue::FALSE,
        &Array::of1(&"verify".into()),
    );
    let promise: js_sys::Promise = import.apply(subtle, &args)?.dyn_into()?;
    let key = JsFuture::from(promise).await?;
    IMPORTED.with(|keys| {
        let mut keys = keys.borrow_mut();
        // Only kids of the current set are ever imported; drop those of replaced sets.
        keys.retain(|_, (jwk, _)| Rc::strong_count(jwk) > 1);
        keys.insert(check.kid.clone(), (check.jwk.clone(), key.clone()));
    });
    Ok(key)
}

fn subtle() -> Result<JsValue, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    Reflect::get(&crypto, &"subtle".into())
}

fn import_params(algorithm: KeyAlgorithm) -> Result<JsValue, JsValue> {
    match algorithm {
        KeyAlgorithm::Rs256 => object(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", "SHA-256")]),
        KeyAlgorithm::Ps256 => object(&[("name", "RSA-PSS"), ("hash", "SHA-256")]),
        KeyAlgorithm::Es256 => object(&[("name", "ECDSA"), ("namedCurve", "P-256")]),
        KeyAlgorithm::EdDsa => object(&[("name", "Ed25519")]),
        KeyAlgorithm::Hs256 => Err("HS256 is checked in the wasm".into()),
    }
}

fn verify_params(algorithm: KeyAlgorithm) -> Result<JsValue, JsValue> {
    match algorithm {
        KeyAlgorithm::Ps256 => {
            let params = object(&[("name", "RSA-PSS")])?;
            Reflect::set(&params, &"saltLength".into(), &JsValue::from(32))?;
            Ok(params)
        }
        KeyAlgorithm::Es256 => object(&[("name", "ECDSA"), ("hash", "SHA-256")]),
        other => import_params(other),
    }
}

fn object(fields: &[(&str, &str)]) -> Result<JsValue, JsValue> {
    let params = Object::new();
    for (name, value) in fields {
        Reflect::set(&params, &(*name).into(), &(*value).into())?;
    }
    Ok(params.into())
}
