//! The consumer's one rule for a path inside an artifact, shared by the
//! container (entry names) and the manifest (module and integrity paths).

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid entry path `{}`: {reason}", raw.escape_debug())]
pub struct PathError {
    pub raw: String,
    pub reason: &'static str,
}

/// Normalizes an artifact path: trim, `\` to `/`; rejects empty, absolute,
/// NUL, `:`, and empty / `.` / `..` segments.
pub fn normalize_path(raw: &str) -> Result<String, PathError> {
    let fail = |reason| Err(PathError { raw: raw.to_owned(), reason });
    let path = raw.trim().replace('\\', "/");
    if path.is_empty() {
        return fail("the path is empty");
    }
    if path.starts_with('/') {
        return fail("absolute paths are not allowed");
    }
    if path.contains('\0') {
        return fail("the path contains a NUL byte");
    }
    if path.contains(':') {
        return fail("`:` is not allowed (drive letters and URLs are rejected)");
    }
    if path.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return fail("empty, `.` and `..` segments are not allowed");
    }
    Ok(path)
}
