//! Ed25519 keys in a PKCS#11 token (a hardware token, an HSM, SoftHSM2):
//! found by a `pkcs11:` URI, signed with `CKM_EDDSA` on `CKK_EC_EDWARDS`,
//! the public key read from the token. The private key never leaves it.

use std::path::PathBuf;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CryptokiError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use super::Pkcs11Uri;
use crate::signing::{PublicKey, SignError, Signer};

#[derive(Debug, thiserror::Error)]
pub enum Pkcs11Error {
    #[error("not a usable `pkcs11:` URI: {0}")]
    Uri(String),
    #[error("the `pkcs11:` URI gives both `pin-value` and `pin-source`: keep one of them")]
    BothPins,
    #[error("could not read the PIN file `{path}` named by `pin-source`: {source}")]
    PinSource { path: PathBuf, source: std::io::Error },
    #[error(
        "the `pkcs11:` URI names no module: add `?module-path=` with your token's PKCS#11 library (SoftHSM2: `/usr/lib/softhsm/libsofthsm2.so`)"
    )]
    NoModule,
    #[error("could not load the PKCS#11 module `{path}` ({message}): check `module-path` in the URI")]
    Module { path: PathBuf, message: String },
    #[error(
        "no token matches {wanted}; the module `{module}` has {found}: fix `token=` (or `slot-id=`) in the URI"
    )]
    NoToken { wanted: String, module: PathBuf, found: String },
    #[error("{count} tokens match; name one with `token=` in the URI: {found}")]
    ManyTokens { count: usize, found: String },
    #[error(
        "token `{token}` needs its user PIN: set `PALYRA_SKILL_PKCS11_PIN`, add `pin-source=FILE` to the URI, or sign on a terminal to be asked"
    )]
    NoPin { token: String },
    #[error("token `{token}` refused the PIN: check `PALYRA_SKILL_PKCS11_PIN` or the `pin-source` file")]
    WrongPin { token: String },
    #[error(
        "token `{token}` has locked its user PIN after too many wrong ones: unlock it with the security officer PIN"
    )]
    PinLocked { token: String },
    #[error(
        "no Ed25519 private key matches {wanted}: check `object=` and `id=` (`pkcs11-tool --module MODULE --list-objects --login` lists them), or create one with `cargo palyra-skill keygen --pkcs11 URI`"
    )]
    NoKey { wanted: String },
    #[error("{count} private keys match {wanted}: name one with `object=` or `id=`")]
    ManyKeys { count: usize, wanted: String },
    #[error(
        "the public key of {wanted} is not on the token: store the public key object beside it (same `id` and label)"
    )]
    NoPublicKey { wanted: String },
    #[error(
        "{wanted} is not an Ed25519 key ({what}): Palyra signatures are Ed25519 (`CKK_EC_EDWARDS` on curve edwards25519)"
    )]
    NotEd25519 { wanted: String, what: String },
    #[error(
        "{wanted} already exists: choose another `object=`/`id=`, or delete the old key in the token first"
    )]
    Exists { wanted: String },
    #[error("`keygen --pkcs11` needs `object=` in the URI: the label the new key gets")]
    KeygenNeedsObject,
    #[error("the PKCS#11 module failed at {call}: {message}")]
    Call { call: &'static str, message: String },
}

/// `edwards25519` as a DER PrintableString, the curve PKCS#11 3.0 names.
const CURVE_NAME: &[u8] = b"\x13\x0cedwards25519";
/// The RFC 8410 OID of Ed25519, which some tokens write instead.
const CURVE_OID: &[u8] = b"\x06\x03\x2b\x65\x70";

fn call(call: &'static str) -> impl Fn(CryptokiError) -> Pkcs11Error {
    move |e| Pkcs11Error::Call { call, message: e.to_string() }
}

/// An open session on the token that holds the key.
pub struct Pkcs11Key {
    session: Session,
    private: ObjectHandle,
    public: PublicKey,
    wanted: String,
    // Dropped last: finalizes the module after the session closes.
    _context: Pkcs11,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Key({}, {})", self.wanted, self.public.key_id())
    }
}

/// Loads the module, finds the one token the URI names and logs in.
fn open_session(
    uri: &Pkcs11Uri,
    pin: Option<&str>,
    rw: bool,
) -> Result<(Pkcs11, Session, String), Pkcs11Error> {
    let module = uri.module_path.clone().ok_or(Pkcs11Error::NoModule)?;
    let context = Pkcs11::new(&module)
        .map_err(|e| Pkcs11Error::Module { path: module.clone(), message: e.to_string() })?;
    context
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| Pkcs11Error::Module { path: module.clone(), message: e.to_string() })?;
    let mut found = Vec::new();
    let mut matching: Vec<(Slot, String)> = Vec::new();
    for slot in context.get_slots_with_token().map_err(call("C_GetSlotList"))? {
        let info = context.get_token_info(slot).map_err(call("C_GetTokenInfo"))?;
        let label = info.label().trim_end().to_owned();
        found.push(format!("`{label}` (slot {})", slot.id()));
        let fits = |want: &Option<String>, have: &str| want.as_ref().is_none_or(|w| w == have.trim_end());
        if fits(&uri.token, &label)
            && fits(&uri.serial, info.serial_number())
            && fits(&uri.manufacturer, info.manufacturer_id())
            && fits(&uri.model, info.model())
            && uri.slot_id.is_none_or(|id| id == slot.id())
        {
            matching.push((slot, label));
        }
    }
    let found = if found.is_empty() { "no token".to_owned() } else { found.join(", ") };
    let (slot, token) = match matching.len() {
        1 => matching.remove(0),
        0 => {
            let wanted = match (&uri.token, uri.slot_id) {
                (Some(token), _) => format!("`token={token}`"),
                (None, Some(id)) => format!("`slot-id={id}`"),
                (None, None) => "the URI".to_owned(),
            };
            return Err(Pkcs11Error::NoToken { wanted, module, found });
        }
        count => return Err(Pkcs11Error::ManyTokens { count, found }),
    };
    let session = if rw { context.open_rw_session(slot) } else { context.open_ro_session(slot) }
        .map_err(call("C_OpenSession"))?;
    let pin = pin.ok_or_else(|| Pkcs11Error::NoPin { token: token.clone() })?;
    match session.login(UserType::User, Some(&AuthPin::new(pin.into()))) {
        Ok(()) | Err(CryptokiError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(CryptokiError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
            return Err(Pkcs11Error::WrongPin { token });
        }
        Err(CryptokiError::Pkcs11(RvError::PinLocked, _)) => return Err(Pkcs11Error::PinLocked { token }),
        Err(e) => return Err(call("C_Login")(e)),
    }
    Ok((context, session, token))
}

/// The template that finds the URI's key objects of `class`.
fn template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(object) = &uri.object {
        template.push(Attribute::Label(object.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    template
}

/// The 32-byte point of an Ed25519 public key object, checking its type and curve.
fn read_public(session: &Session, handle: ObjectHandle, wanted: &str) -> Result<PublicKey, Pkcs11Error> {
    let not = |what: String| Pkcs11Error::NotEd25519 { wanted: wanted.to_owned(), what };
    let attributes = session
        .get_attributes(handle, &[AttributeType::KeyType, AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(call("C_GetAttributeValue"))?;
    let (mut params, mut point) = (None, None);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(kind) if kind != KeyType::EC_EDWARDS => {
                return Err(not(format!("key type {kind}")));
            }
            Attribute::EcParams(value) => params = Some(value),
            Attribute::EcPoint(value) => point = Some(value),
            _ => {}
        }
    }
    let params = params.ok_or_else(|| not("no curve parameters".into()))?;
    if params != CURVE_NAME && params != CURVE_OID {
        return Err(not(format!("curve parameters {}", hex::encode(&params))));
    }
    let point = point.ok_or_else(|| not("no public point".into()))?;
    // SoftHSM and most tokens wrap the point in a DER OCTET STRING (04 20 ‖ 32 bytes); some do not.
    let raw = match point.as_slice() {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        raw if raw.len() == 32 => raw,
        other => return Err(not(format!("a public point of {} bytes", other.len()))),
    };
    let bytes: [u8; 32] = raw.try_into().expect("32 bytes");
    PublicKey::from_bytes(&bytes).ok_or_else(|| not("a public point that is not on the curve".into()))
}

impl Pkcs11Key {
    /// Opens the key the URI names, logging in with `pin`.
    pub fn open(uri: &Pkcs11Uri, pin: Option<&str>) -> Result<Pkcs11Key, Pkcs11Error> {
        let (context, session, token) = open_session(uri, pin, false)?;
        let wanted = format!("{} on token `{token}`", uri.describe_key());
        let mut keys = template(uri, ObjectClass::PRIVATE_KEY);
        keys.push(Attribute::KeyType(KeyType::EC_EDWARDS));
        let mut private = session.find_objects(&keys).map_err(call("C_FindObjects"))?;
        let private = match private.len() {
            1 => private.remove(0),
            0 => {
                // A key of another type under that name says so, by name.
                let any = session
                    .find_objects(&template(uri, ObjectClass::PRIVATE_KEY))
                    .map_err(call("C_FindObjects"))?;
                if let Some(&other) = any.first() {
                    let kind = session
                        .get_attributes(other, &[AttributeType::KeyType])
                        .map_err(call("C_GetAttributeValue"))?;
                    let what = match kind.first() {
                        Some(Attribute::KeyType(kind)) => format!("key type {kind}"),
                        _ => "another key type".to_owned(),
                    };
                    return Err(Pkcs11Error::NotEd25519 { wanted, what });
                }
                return Err(Pkcs11Error::NoKey { wanted });
            }
            count => return Err(Pkcs11Error::ManyKeys { count, wanted }),
        };
        // The public half: same id and label, as keygen and pkcs11-tool store it.
        let (id, label) = {
            let attributes = session
                .get_attributes(private, &[AttributeType::Id, AttributeType::Label])
                .map_err(call("C_GetAttributeValue"))?;
            let mut id = None;
            let mut label = None;
            for attribute in attributes {
                match attribute {
                    Attribute::Id(value) if !value.is_empty() => id = Some(value),
                    Attribute::Label(value) if !value.is_empty() => label = Some(value),
                    _ => {}
                }
            }
            (id, label)
        };
        let mut publics = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
        publics.extend(id.map(Attribute::Id));
        publics.extend(label.map(Attribute::Label));
        let found = session.find_objects(&publics).map_err(call("C_FindObjects"))?;
        let public = match found.as_slice() {
            [one] => read_public(&session, *one, &wanted)?,
            [] => return Err(Pkcs11Error::NoPublicKey { wanted }),
            many => return Err(Pkcs11Error::ManyKeys { count: many.len(), wanted }),
        };
        Ok(Pkcs11Key { session, private, public, wanted, _context: context })
    }

    /// Generates an Ed25519 pair inside the token: the private key
    /// sensitive and never extractable, labelled `object=` (and `id=`).
    pub fn generate(uri: &Pkcs11Uri, pin: Option<&str>) -> Result<PublicKey, Pkcs11Error> {
        let label = uri.object.clone().ok_or(Pkcs11Error::KeygenNeedsObject)?;
        let (_context, session, token) = open_session(uri, pin, true)?;
        let wanted = format!("{} on token `{token}`", uri.describe_key());
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            if !session.find_objects(&template(uri, class)).map_err(call("C_FindObjects"))?.is_empty() {
                return Err(Pkcs11Error::Exists { wanted });
            }
        }
        let mut common = vec![Attribute::Token(true), Attribute::Label(label.into_bytes())];
        common.extend(uri.id.clone().map(Attribute::Id));
        let mut public = common.clone();
        public.extend([Attribute::Verify(true), Attribute::EcParams(CURVE_NAME.to_vec())]);
        let mut private = common;
        private.extend([
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ]);
        let (public, _) = session
            .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private)
            .map_err(call("C_GenerateKeyPair"))?;
        read_public(&session, public, &wanted)
    }
}

impl Signer for Pkcs11Key {
    fn public(&self) -> PublicKey {
        self.public
    }

    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let signature = self.session.sign(&mechanism, self.private, message).map_err(call("C_Sign"))?;
        <[u8; 64]>::try_from(signature.as_slice()).map_err(|_| {
            SignError::from(Pkcs11Error::Call {
                call: "C_Sign",
                message: format!("a signature of {} bytes, not Ed25519's 64", signature.len()),
            })
        })
    }
}
