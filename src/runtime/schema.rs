//! JSON Schema checks of tool input and output (`jsonschema` crate), with
//! the JSON pointer of the first failing value.

use serde_json::Value;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    #[error("the tool's {which} is not a valid JSON Schema: {message}")]
    BadSchema { which: &'static str, message: String },
    #[error("{which} does not match the tool's {which}_schema at `{pointer}`: {message}")]
    Mismatch { which: &'static str, pointer: String, message: String },
}

/// Checks `instance` against `schema`; `which` is `input` or `output`.
pub fn check_instance(schema: &Value, instance: &Value, which: &'static str) -> Result<(), SchemaError> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| SchemaError::BadSchema { which, message: e.to_string() })?;
    match validator.iter_errors(instance).next() {
        None => Ok(()),
        Some(error) => {
            let pointer = error.instance_path().to_string();
            Err(SchemaError::Mismatch {
                which,
                pointer: if pointer.is_empty() { "/".into() } else { pointer },
                message: error.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mismatches_name_the_pointer() {
        let schema =
            json!({ "type": "object", "properties": { "n": { "type": "integer" } }, "required": ["n"] });
        assert_eq!(check_instance(&schema, &json!({ "n": 1 }), "input"), Ok(()));
        let error = check_instance(&schema, &json!({ "n": "x" }), "input").unwrap_err();
        assert!(matches!(&error, SchemaError::Mismatch { pointer, .. } if pointer == "/n"), "{error}");
        let error = check_instance(&schema, &json!({}), "output").unwrap_err();
        assert!(
            error.to_string().starts_with("output does not match the tool's output_schema at `/`"),
            "{error}"
        );
    }
}
