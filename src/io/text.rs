//! Helpers that turn parse failures into located, hinted errors.

use crate::error::{Error, Location};

/// 1-based line and column of the first `key:` in RON source (1:1 if not found),
/// so that a value error points at the key that holds it.
pub fn locate_key(src: &str, key: &str, file: &str) -> Location {
    for (ln, line) in src.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut from = 0;
        while let Some(pos) = code[from..].find(key) {
            let start = from + pos;
            let end = start + key.len();
            let before_ok = code[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let after_ok = code[end..].trim_start().starts_with(':');
            if before_ok && after_ok {
                return Location {
                    file: file.into(),
                    line: ln + 1,
                    col: code[..start].chars().count() + 1,
                };
            }
            from = end;
        }
    }
    Location {
        file: file.into(),
        line: 1,
        col: 1,
    }
}

/// Converts a RON syntax or schema error into a located [`Error::Parse`].
pub fn ron_error(e: &ron::error::SpannedError, file: &str, expected: &str) -> Error {
    use ron::Error as R;
    let hint = match &e.code {
        R::NoSuchStructField { expected, found, .. } => {
            format!("unknown key `{found}`; valid keys here: {}", expected.join(", "))
        }
        R::MissingStructField { field, .. } => format!("add the required key `{field}`"),
        R::DuplicateStructField { field, .. } => format!("`{field}` is given twice; keep one"),
        R::ExpectedFloat | R::ExpectedInteger => {
            "numbers are plain decimals, e.g. 6.2 or 1e-3 (units in the comments)".into()
        }
        _ => "check the syntax at this position; the files under scenarios/ are working examples".into(),
    };
    Error::Parse {
        at: Location {
            file: file.into(),
            line: e.position.line,
            col: e.position.col,
        },
        what: e.code.to_string(),
        expected: expected.into(),
        hint,
    }
}
