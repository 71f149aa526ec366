//! RFC 7512 `pkcs11:` URIs as cosign writes them:
//! `pkcs11:token=…;object=…;id=%01?module-path=…&pin-source=…`.
//! Strict: an attribute we do not know, or one given twice, is refused.

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::Pkcs11Error;

/// What a `pkcs11:` URI names: the module, the token, the key and the PIN.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub module_path: Option<PathBuf>,
    pub token: Option<String>,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub slot_id: Option<u64>,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
    pin_value: Option<Zeroizing<String>>,
    pin_source: Option<PathBuf>,
}

/// Never shows the PIN.
impl std::fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Uri({})", self.describe())
    }
}

impl Pkcs11Uri {
    pub fn parse(text: &str) -> Result<Pkcs11Uri, Pkcs11Error> {
        let bad = |why: String| Pkcs11Error::Uri(why);
        let rest =
            text.strip_prefix("pkcs11:").ok_or_else(|| bad("it does not start with `pkcs11:`".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Pkcs11Uri::default();
        let attributes = path.split(';').map(|a| (a, true)).chain(query.split('&').map(|a| (a, false)));
        for (attribute, in_path) in attributes.filter(|(a, _)| !a.is_empty()) {
            // Not echoed: a mistyped `pin-value` would show the PIN.
            let (name, raw) = attribute
                .split_once('=')
                .ok_or_else(|| bad("an attribute is not `name=value`".to_owned()))?;
            let bytes = percent_decode(raw).ok_or_else(|| bad(format!("`{name}` holds a bad %-escape")))?;
            let text =
                || String::from_utf8(bytes.clone()).map_err(|_| bad(format!("`{name}` is not UTF-8 text")));
            let twice = || bad(format!("`{name}` is given twice"));
            fn set<T>(
                slot: &mut Option<T>,
                value: T,
                twice: impl FnOnce() -> Pkcs11Error,
            ) -> Result<(), Pkcs11Error> {
                match slot.replace(value) {
                    None => Ok(()),
                    Some(_) => Err(twice()),
                }
            }
            match (name, in_path) {
                ("token", true) => set(&mut uri.token, text()?, twice)?,
                ("manufacturer", true) => set(&mut uri.manufacturer, text()?, twice)?,
                ("serial", true) => set(&mut uri.serial, text()?, twice)?,
                ("model", true) => set(&mut uri.model, text()?, twice)?,
                ("object", true) => set(&mut uri.object, text()?, twice)?,
                ("id", true) => set(&mut uri.id, bytes.clone(), twice)?,
                ("slot-id", true) => {
                    let id = text()?.parse().map_err(|_| bad("`slot-id` is not a number".into()))?;
                    set(&mut uri.slot_id, id, twice)?
                }
                // Only private keys sign; the public half is found beside it.
                ("type", true) if matches!(text()?.as_str(), "private" | "public") => {}
                ("module-path", false) => set(&mut uri.module_path, PathBuf::from(text()?), twice)?,
                ("pin-value", false) => set(&mut uri.pin_value, Zeroizing::new(text()?), twice)?,
                ("pin-source", false) => {
                    let source = text()?;
                    let path = source.strip_prefix("file:").unwrap_or(&source).trim_start_matches("//");
                    let path = if source.starts_with("file:") && !path.starts_with('/') {
                        format!("/{path}")
                    } else {
                        path.to_owned()
                    };
                    set(&mut uri.pin_source, PathBuf::from(path), twice)?
                }
                _ => {
                    return Err(bad(format!(
                        "`{name}` is not an attribute we read {}: use `token`, `object`, `id`, `slot-id`, `serial`, `manufacturer`, `model` before `?`, and `module-path`, `pin-source` or `pin-value` after it",
                        if in_path { "in the path" } else { "in the query" }
                    )));
                }
            }
        }
        if uri.pin_value.is_some() && uri.pin_source.is_some() {
            return Err(Pkcs11Error::BothPins);
        }
        Ok(uri)
    }

    /// The PIN the URI gives, from `pin-value` or the file `pin-source`
    /// names (one line; the newline is not part of it), if any.
    pub fn pin(&self) -> Result<Option<Zeroizing<String>>, Pkcs11Error> {
        if let Some(value) = &self.pin_value {
            return Ok(Some(value.clone()));
        }
        let Some(path) = &self.pin_source else { return Ok(None) };
        let bytes = crate::fsutil::read_regular(path, 4096, crate::fsutil::Links::Follow)
            .map(Zeroizing::new)
            .map_err(|source| Pkcs11Error::PinSource { path: path.clone(), source })?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| Pkcs11Error::PinSource {
            path: path.clone(),
            source: std::io::ErrorKind::InvalidData.into(),
        })?;
        Ok(Some(Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned())))
    }

    /// The key named (`object` and `id`), for messages.
    pub fn describe_key(&self) -> String {
        let mut parts = Vec::new();
        if let Some(object) = &self.object {
            parts.push(format!("object `{}`", escape(object)));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id {}", hex::encode(id)));
        }
        if parts.is_empty() {
            parts.push("any Ed25519 key".to_owned());
        }
        parts.join(" ")
    }

    /// The key and token named, for messages (never the PIN).
    pub fn describe(&self) -> String {
        let mut parts = vec![self.describe_key()];
        match (&self.token, self.slot_id) {
            (Some(token), _) => parts.push(format!("on token `{}`", escape(token))),
            (None, Some(slot)) => parts.push(format!("in slot {slot}")),
            (None, None) => {}
        }
        parts.join(" ")
    }
}

fn escape(text: &str) -> String {
    crate::text::escape(text).to_string()
}

/// `%XX` escapes to bytes; `None` for a broken escape.
fn percent_decode(raw: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosigns_form_parses() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=release%20keys;object=acme;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:///run/pin",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("release keys"));
        assert_eq!(uri.object.as_deref(), Some("acme"));
        assert_eq!(uri.id.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(uri.module_path, Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")));
        assert_eq!(uri.pin_source, Some(PathBuf::from("/run/pin")));
        assert_eq!(uri.describe(), "object `acme` id 0102 on token `release keys`");
    }

    #[test]
    fn both_pins_unknown_attributes_and_repeats_are_refused() {
        let both = "pkcs11:object=a?pin-value=1234&pin-source=/p";
        assert!(matches!(Pkcs11Uri::parse(both), Err(Pkcs11Error::BothPins)));
        for bad in [
            "pkcs11:colour=red",
            "pkcs11:object=a;object=b",
            "pkcs11:id=%0",
            "pkcs11:?token=x",
            "pkcs:object=a",
        ] {
            assert!(matches!(Pkcs11Uri::parse(bad), Err(Pkcs11Error::Uri(_))), "{bad}");
        }
        let secret = Pkcs11Uri::parse("pkcs11:object=a?pin-value=s3cret").unwrap();
        assert!(!format!("{secret:?}").contains("s3cret"));
        assert_eq!(secret.pin().unwrap().as_deref().map(String::as_str), Some("s3cret"));
    }
}
