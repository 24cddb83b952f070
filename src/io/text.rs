//! Helpers that turn parse failures into located, hinted errors.

use crate::error::{Error, Location};

/// 1-based line and column of the first `key:` in RON source (1:1 if not found),
/// so that a value error points at the key that holds it.
pub fn locate_key(src: &str, key: &str, file: &str) -> Location {
    locate_path(src, &[(key, 0)], file)
}

/// Location of a nested key: each step is (key, n) = the (n+1)-th `key:` after the previous
/// step's position. Falls back to the deepest step found (or 1:1).
pub fn locate_path(src: &str, path: &[(&str, usize)], file: &str) -> Location {
    let mut from = 0;
    let mut found = Location {
        file: file.into(),
        line: 1,
        col: 1,
    };
    for &(key, skip) in path {
        match key_offsets(src, key).into_iter().filter(|&o| o >= from).nth(skip) {
            Some(o) => {
                let before = &src[..o];
                found = Location {
                    file: file.into(),
                    line: before.matches('\n').count() + 1,
                    col: before.rsplit('\n').next().unwrap_or("").chars().count() + 1,
                };
                from = o + key.len();
            }
            None => break,
        }
    }
    found
}

/// Byte offsets of `key` used as a RON field name (`key:`) outside `//` comments.
fn key_offsets(src: &str, key: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in src.split_inclusive('\n') {
        let code = line.split("//").next().unwrap_or("");
        let mut from = 0;
        while let Some(pos) = code[from..].find(key) {
            let start = from + pos;
            let end = start + key.len();
            let before_ok = code[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            if before_ok && code[end..].trim_start().starts_with(':') {
                out.push(line_start + start);
            }
            from = end;
        }
        line_start += line.len();
    }
    out
}

/// A checked value's first problem: where (key occurrences to search), the key path
/// shown, what is wrong, a hint.
pub type Problem = (Vec<(&'static str, usize)>, String, String, String);

/// Parses RON text (`Some(…)` optional) and checks it: a syntax or schema error, or the
/// first problem `check` finds, as a located error.
pub fn parse_checked<T: serde::de::DeserializeOwned>(
    src: &str,
    file: &str,
    expected: &str,
    check: impl FnOnce(&T) -> Option<Problem>,
) -> Result<T, Error> {
    let options = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    let value: T = options.from_str(src).map_err(|e| ron_error(&e, src, file, expected))?;
    if let Some((path, key, what, hint)) = check(&value) {
        return Err(Error::Value {
            at: locate_path(src, &path, file),
            key,
            what,
            hint,
        });
    }
    Ok(value)
}

/// Converts a RON syntax or schema error into a located [`Error::Parse`]; `src` is the
/// text that failed, used to name the key whose value is at fault.
pub fn ron_error(e: &ron::error::SpannedError, src: &str, file: &str, expected: &str) -> Error {
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
        R::Message(m) if m.contains("unit") => {
            "write a value with its unit as \"number unit\", e.g. \"0.001 us\"".into()
        }
        _ => "check the syntax at this position; the files under scenarios/ are working examples".into(),
    };
    let mut what = e.code.to_string();
    if let Some(key) = key_before(src, e.position.line, e.position.col) {
        what = format!("`{key}`: {what}");
    }
    Error::Parse {
        at: Location {
            file: file.into(),
            line: e.position.line,
            col: e.position.col,
        },
        what,
        expected: expected.into(),
        hint,
    }
}

/// The `key` of a `key: value` on `line` (1-based) left of column `col`, if any.
fn key_before(src: &str, line: usize, col: usize) -> Option<String> {
    let text: String = src
        .lines()
        .nth(line.checked_sub(1)?)?
        .chars()
        .take(col.saturating_sub(1))
        .collect();
    let (left, _) = text.rsplit_once(':')?;
    let key: String = left
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!key.is_empty()).then(|| key.chars().rev().collect())
}
