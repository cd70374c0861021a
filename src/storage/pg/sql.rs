//! Names made safe to splice into SQL: identifiers quoted, configured table names checked.

use super::PgError;

/// `name` quoted as an SQL identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Checks a configured key-table name and returns it as safe SQL: identifiers or quoted
/// identifiers, optionally schema-qualified.
pub fn table_sql(name: &str) -> Result<String, PgError> {
    let bad = || PgError::BadTableName(name.to_string());
    let mut parts = Vec::new();
    let mut rest = name.trim();
    loop {
        let (part, after) = if let Some(inner) = rest.strip_prefix('"') {
            let end = inner.find('"').ok_or_else(bad)?;
            let ident = &inner[..end];
            if ident.is_empty() {
                return Err(bad());
            }
            (format!("\"{ident}\""), &inner[end + 1..])
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            let ident = &rest[..end];
            let ok = !ident.is_empty()
                && ident
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
                && !ident.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(bad());
            }
            (ident.to_string(), &rest[end..])
        };
        parts.push(part);
        if after.is_empty() {
            break;
        }
        rest = after.strip_prefix('.').ok_or_else(bad)?;
    }
    if parts.len() > 2 {
        return Err(bad());
    }
    Ok(parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_table_names() {
        assert_eq!(table_sql("\"User\"").unwrap(), "\"User\"");
        assert_eq!(table_sql("public.documents").unwrap(), "public.documents");
        assert_eq!(
            table_sql("billing.\"Invoice Lines\"").unwrap(),
            "billing.\"Invoice Lines\""
        );
        for bad in ["", "a;drop table x", "a.b.c", "\"x", "1abc", "a b"] {
            assert!(table_sql(bad).is_err(), "{bad}");
        }
    }
}
