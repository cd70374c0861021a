//! libpq connection strings, parsed the way libpq parses them (PostgreSQL 15, "Connection
//! Strings"): URLs (`postgresql://` / `postgres://`, percent-encoded userinfo, several hosts,
//! `[ipv6]`, a percent-encoded path as the database, query parameters) and keyword/value strings
//! (any spacing around `=`, single quotes, backslash escapes). The result is one ordered list of
//! keywords and values; from it come the conninfo handed to libpq programs (always quoted, the
//! password left out: it travels in `PGPASSWORD`) and a display form that never holds the
//! password. Error messages never quote the input: it may hold a password.

use std::fmt;

/// The two URL prefixes libpq accepts (case-sensitive, as in libpq).
const URL_PREFIXES: [&str; 2] = ["postgresql://", "postgres://"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnInfoError {
    #[error("unterminated quoted value in the connection string (a value opened with ' at character {at} is never closed; write \\' for a quote inside a value)")]
    UnterminatedQuote { at: usize },
    #[error("missing \"=\" after a keyword at character {at} of the connection string (write keyword=value pairs, or a postgresql:// URL)")]
    MissingEquals { at: usize },
    #[error("the connection URL has an invalid percent-encoding at character {at} (write a literal % as %25)")]
    BadPercent { at: usize },
    #[error("the connection URL decodes to bytes that are not UTF-8 at character {at}")]
    NotUtf8 { at: usize },
    #[error("the connection URL has no \"]\" closing the IPv6 address opened at character {at}")]
    UnclosedIpv6 { at: usize },
    #[error("the connection URL has an empty IPv6 address at character {at}")]
    EmptyIpv6 { at: usize },
    #[error("the connection URL has an unexpected character after the IPv6 address at character {at} (expected \":\", \"/\", \"?\" or \",\")")]
    AfterIpv6 { at: usize },
    #[error("the connection URL's query parameter at character {at} has no \"=\" (write ?keyword=value&keyword=value)")]
    QueryMissingEquals { at: usize },
    #[error("the connection URL's query parameter at character {at} has a second \"=\" (write a literal = as %3D)")]
    QueryExtraEquals { at: usize },
}

/// Whether the string was written as a URL (and so is displayed as one) or as keywords.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Form {
    Url { scheme: &'static str },
    Keywords,
}

/// One connection string as libpq reads it: keywords and values in the order they first
/// appeared (a repeated keyword keeps its first place and its last value, as libpq keeps the
/// last value).
#[derive(Clone, PartialEq, Eq)]
pub struct ConnInfo {
    params: Vec<(String, String)>,
    form: Form,
}

/// Never prints values: a password may be among them.
impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

impl ConnInfo {
    /// An empty keyword/value string: libpq's defaults and the PG* environment.
    pub fn empty() -> ConnInfo {
        ConnInfo {
            params: Vec::new(),
            form: Form::Keywords,
        }
    }

    /// Parses a URL, a keyword/value string, or (as `psql -d` does) a bare database name: a
    /// string that is neither a URL nor holds an `=`.
    pub fn parse(text: &str) -> Result<ConnInfo, ConnInfoError> {
        if let Some((scheme, rest)) = URL_PREFIXES
            .iter()
            .find_map(|p| text.strip_prefix(p).map(|rest| (*p, rest)))
        {
            return parse_url(scheme, rest, text.len() - rest.len());
        }
        if !text.contains('=') {
            let mut info = ConnInfo::empty();
            if !text.is_empty() {
                info.set("dbname", text);
            }
            return Ok(info);
        }
        parse_keywords(text)
    }

    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    pub fn get(&self, keyword: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == keyword)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `keyword`, in place if it is there already.
    pub fn set(&mut self, keyword: &str, value: &str) {
        match self.params.iter_mut().find(|(k, _)| k == keyword) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.params.push((keyword.to_string(), value.to_string())),
        }
    }

    pub fn remove(&mut self, keyword: &str) -> Option<String> {
        let at = self.params.iter().position(|(k, _)| k == keyword)?;
        Some(self.params.remove(at).1)
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// A keyword/value string for libpq programs: every value quoted, `\` and `'` escaped. It
    /// holds whatever this holds, so take the password out first.
    pub fn to_keywords(&self) -> String {
        self.params
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Safe to print: the password is left out, in the form the string was written in (a URL
    /// as a URL, keywords as keywords, quoted only where needed).
    pub fn display(&self) -> String {
        let shown = self.params.iter().filter(|(k, _)| k != "password");
        match self.form {
            Form::Keywords => shown
                .map(|(k, v)| format!("{k}={}", quote_if_needed(v)))
                .collect::<Vec<_>>()
                .join(" "),
            Form::Url { scheme } => display_url(scheme, self),
        }
    }
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn quote_if_needed(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| is_c_space(c) || c == '\'' || c == '\\');
    if plain {
        value.to_string()
    } else {
        quote(value)
    }
}

/// C's `isspace` in the C locale, which libpq uses to split keywords and values.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// libpq's `conninfo_parse`.
fn parse_keywords(text: &str) -> Result<ConnInfo, ConnInfoError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut info = ConnInfo::empty();
    let mut i = 0;
    let at = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let char_at = |i: usize| chars.get(i).map(|(_, c)| *c);
    while i < chars.len() {
        if is_c_space(chars[i].1) {
            i += 1;
            continue;
        }
        let key_start = i;
        while let Some(c) = char_at(i) {
            if c == '=' || is_c_space(c) {
                break;
            }
            i += 1;
        }
        let keyword: String = chars[key_start..i].iter().map(|(_, c)| c).collect();
        while char_at(i).is_some_and(is_c_space) {
            i += 1;
        }
        if char_at(i) != Some('=') {
            return Err(ConnInfoError::MissingEquals { at: at(key_start) });
        }
        i += 1;
        while char_at(i).is_some_and(is_c_space) {
            i += 1;
        }
        let mut value = String::new();
        if char_at(i) == Some('\'') {
            let open = i;
            i += 1;
            loop {
                match char_at(i) {
                    None => return Err(ConnInfoError::UnterminatedQuote { at: at(open) }),
                    Some('\\') => {
                        i += 1;
                        if let Some(c) = char_at(i) {
                            value.push(c);
                            i += 1;
                        }
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while let Some(c) = char_at(i) {
                if is_c_space(c) {
                    i += 1;
                    break;
                }
                if c == '\\' {
                    i += 1;
                    if let Some(c) = char_at(i) {
                        value.push(c);
                        i += 1;
                    }
                } else {
                    value.push(c);
                    i += 1;
                }
            }
        }
        info.set(&keyword, &value);
    }
    Ok(info)
}

/// libpq's `conninfo_uri_decode`: `%XX` only, never `+`, and never `%00`.
fn percent_decode(text: &str, offset: usize) -> Result<String, ConnInfoError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
        match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            (Some(hi), Some(lo)) if hi != 0 || lo != 0 => out.push((hi * 16 + lo) as u8),
            _ => return Err(ConnInfoError::BadPercent { at: offset + i }),
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|e| ConnInfoError::NotUtf8 {
        at: offset + e.utf8_error().valid_up_to(),
    })
}

/// libpq's `conninfo_uri_parse_options`; `base` is where `rest` starts in the whole string.
fn parse_url(scheme: &'static str, rest: &str, base: usize) -> Result<ConnInfo, ConnInfoError> {
    let mut info = ConnInfo {
        params: Vec::new(),
        form: Form::Url { scheme },
    };
    let b = rest.as_bytes();
    let mut p = 0;
    // Userinfo runs to the first `@` before any `/`.
    let look = rest.find(['@', '/']).unwrap_or(rest.len());
    if b.get(look) == Some(&b'@') {
        let user_end = rest[..look].find(':').unwrap_or(look);
        let user = &rest[..user_end];
        if !user.is_empty() {
            info.set("user", &percent_decode(user, base)?);
        }
        if user_end < look {
            let password = &rest[user_end + 1..look];
            if !password.is_empty() {
                info.set("password", &percent_decode(password, base + user_end + 1)?);
            }
        }
        p = look + 1;
    }
    let mut hosts = String::new();
    let mut ports = String::new();
    let terminator;
    loop {
        let host_start;
        let host;
        if b.get(p) == Some(&b'[') {
            host_start = p + 1;
            let close = rest[host_start..]
                .find(']')
                .map(|i| host_start + i)
                .ok_or(ConnInfoError::UnclosedIpv6 { at: base + p })?;
            if close == host_start {
                return Err(ConnInfoError::EmptyIpv6 { at: base + p });
            }
            host = &rest[host_start..close];
            p = close + 1;
            if !matches!(b.get(p), None | Some(b':' | b'/' | b'?' | b',')) {
                return Err(ConnInfoError::AfterIpv6 { at: base + p });
            }
        } else {
            host_start = p;
            while !matches!(b.get(p), None | Some(b':' | b'/' | b'?' | b',')) {
                p += 1;
            }
            host = &rest[host_start..p];
        }
        hosts.push_str(host);
        let mut after = b.get(p).copied();
        if after == Some(b':') {
            let port_start = p + 1;
            p = port_start;
            while !matches!(b.get(p), None | Some(b'/' | b'?' | b',')) {
                p += 1;
            }
            ports.push_str(&rest[port_start..p]);
            after = b.get(p).copied();
        }
        if after != Some(b',') {
            terminator = after;
            break;
        }
        p += 1;
        hosts.push(',');
        ports.push(',');
    }
    // libpq decodes the joined lists; positions point at the host part as a whole.
    if !hosts.is_empty() {
        info.set("host", &percent_decode(&hosts, base)?);
    }
    if !ports.is_empty() {
        info.set("port", &percent_decode(&ports, base)?);
    }
    let mut terminator = terminator;
    if terminator == Some(b'/') {
        let db_start = p + 1;
        let db_end = rest[db_start..]
            .find('?')
            .map_or(rest.len(), |i| db_start + i);
        let dbname = &rest[db_start..db_end];
        // An empty path leaves dbname unset (PGDATABASE still applies), as in libpq.
        if !dbname.is_empty() {
            info.set("dbname", &percent_decode(dbname, base + db_start)?);
        }
        p = db_end;
        terminator = b.get(p).copied();
    }
    if terminator == Some(b'?') {
        parse_query(&mut info, &rest[p + 1..], base + p + 1)?;
    }
    Ok(info)
}

/// libpq's `conninfo_uri_parse_params`.
fn parse_query(info: &mut ConnInfo, query: &str, base: usize) -> Result<(), ConnInfoError> {
    let mut start = 0;
    while start < query.len() {
        let end = query[start..].find('&').map_or(query.len(), |i| start + i);
        let pair = &query[start..end];
        let (keyword, value) = pair
            .split_once('=')
            .ok_or(ConnInfoError::QueryMissingEquals { at: base + start })?;
        if value.contains('=') {
            return Err(ConnInfoError::QueryExtraEquals { at: base + start });
        }
        let keyword = percent_decode(keyword, base + start)?;
        let value = percent_decode(value, base + start + keyword.len() + 1)?;
        // libpq's JDBC compatibility.
        if keyword == "ssl" && value == "true" {
            info.set("sslmode", "require");
        } else {
            info.set(&keyword, &value);
        }
        start = if end < query.len() { end + 1 } else { end };
    }
    Ok(())
}

/// Everything but RFC 3986's unreserved characters (and the bytes in `keep`) is
/// percent-encoded, as libpq decodes it in a URL.
pub fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL form without the password. Hosts and ports go in the authority when they fit there
/// (no socket directories, one port per host or none); otherwise in the query, as libpq allows.
fn display_url(scheme: &str, info: &ConnInfo) -> String {
    let mut out = scheme.to_string();
    if let Some(user) = info.get("user") {
        out.push_str(&percent_encode(user, &[]));
        out.push('@');
    }
    let hosts: Vec<&str> = info
        .get("host")
        .map(|h| h.split(',').collect())
        .unwrap_or_default();
    let ports: Vec<&str> = info
        .get("port")
        .map(|p| p.split(',').collect())
        .unwrap_or_default();
    let inline = !hosts.is_empty()
        && !hosts.iter().any(|h| h.starts_with('/') || h.is_empty())
        && (ports.is_empty() || ports.len() == hosts.len());
    if inline {
        let netlocs: Vec<String> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let host = if h.contains(':') {
                    format!("[{}]", percent_encode(h, b":"))
                } else {
                    percent_encode(h, &[])
                };
                match ports.get(i).filter(|p| !p.is_empty()) {
                    Some(port) => format!("{host}:{}", percent_encode(port, &[])),
                    None => host,
                }
            })
            .collect();
        out.push_str(&netlocs.join(","));
    }
    let dbname = info.get("dbname");
    let skip = |k: &str| {
        k == "password" || k == "user" || k == "dbname" || (inline && (k == "host" || k == "port"))
    };
    let query: Vec<String> = info
        .params
        .iter()
        .filter(|(k, _)| !skip(k))
        .map(|(k, v)| format!("{}={}", percent_encode(k, &[]), percent_encode(v, &[])))
        .collect();
    if dbname.is_some() || !query.is_empty() {
        out.push('/');
    }
    if let Some(db) = dbname {
        out.push_str(&percent_encode(db, &[]));
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(info: &ConnInfo) -> Vec<(&str, &str)> {
        info.params()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Each case as libpq 15's `conninfo_parse` and `conninfo_uri_parse_options` read it.
    #[test]
    fn parses_what_libpq_parses() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "postgresql://app:s%40cret@db.example:5432/app?sslmode=require",
                &[
                    ("user", "app"),
                    ("password", "s@cret"),
                    ("host", "db.example"),
                    ("port", "5432"),
                    ("dbname", "app"),
                    ("sslmode", "require"),
                ],
            ),
            (
                "postgres://u:p%27%5C%25%20x:y@h/d",
                &[
                    ("user", "u"),
                    ("password", "p'\\% x:y"),
                    ("host", "h"),
                    ("dbname", "d"),
                ],
            ),
            (
                "postgresql://u@h1:5432,[::1]:5433,h3/db",
                &[
                    ("user", "u"),
                    ("host", "h1,::1,h3"),
                    ("port", "5432,5433,"),
                    ("dbname", "db"),
                ],
            ),
            (
                "postgresql://[2001:db8::1]/caf%C3%A9%27s",
                &[("host", "2001:db8::1"), ("dbname", "café's")],
            ),
            (
                "postgresql:///app?host=%2Fvar%2Frun%2Fpostgresql&password=a%20b&ssl=true",
                &[
                    ("dbname", "app"),
                    ("host", "/var/run/postgresql"),
                    ("password", "a b"),
                    ("sslmode", "require"),
                ],
            ),
            ("postgresql://", &[]),
            ("postgresql://h/", &[("host", "h")]),
            ("postgresql://h?port=5", &[("host", "h"), ("port", "5")]),
            (
                "postgresql://user@/db",
                &[("user", "user"), ("dbname", "db")],
            ),
            (
                "host=localhost password=hunter2 dbname=app",
                &[
                    ("host", "localhost"),
                    ("password", "hunter2"),
                    ("dbname", "app"),
                ],
            ),
            (
                "  host = localhost\tpassword = 'a b'  dbname ='x'  ",
                &[("host", "localhost"), ("password", "a b"), ("dbname", "x")],
            ),
            (
                r"password='it\'s \\ 100%' user=a\ b dbname=''",
                &[
                    ("password", r"it's \ 100%"),
                    ("user", "a b"),
                    ("dbname", ""),
                ],
            ),
            // libpq skips blanks after `=`, so an empty unquoted value takes the next word.
            ("password= host=x", &[("password", "host=x")]),
            (
                "dbname=a dbname=b user=u",
                &[("dbname", "b"), ("user", "u")],
            ),
            ("service=app", &[("service", "app")]),
            ("app", &[("dbname", "app")]),
            ("", &[]),
        ];
        for (text, expected) in cases {
            let info = ConnInfo::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(pairs(&info), *expected, "{text}");
        }
    }

    #[test]
    fn refuses_what_libpq_refuses_without_quoting_it() {
        for (text, want) in [
            ("host=h password='unclosed", "unterminated"),
            ("host=h secret", "missing \"=\""),
            ("postgresql://u:pw%zz@h/d", "percent-encoding"),
            ("postgresql://u:pw%00@h/d", "percent-encoding"),
            ("postgresql://u:pw%ff@h/d", "not UTF-8"),
            ("postgresql://[::1/d", "IPv6"),
            ("postgresql://[]/d", "IPv6"),
            ("postgresql://[::1]x/d", "IPv6"),
            ("postgresql://h/d?sslmode", "no \"=\""),
            ("postgresql://h/d?a=b=c", "second \"=\""),
            ("postgresql://h/d?&a=b", "no \"=\""),
        ] {
            let err = ConnInfo::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
            for secret in ["unclosed", "secret", "pw"] {
                assert!(!err.contains(secret), "{text}: {err}");
            }
        }
    }

    #[test]
    fn renders_keywords_quoted_and_displays_without_the_password() {
        let info = ConnInfo::parse(r"host=h password='x y\'z' dbname='a b'").unwrap();
        assert_eq!(
            info.to_keywords(),
            r"host='h' password='x y\'z' dbname='a b'"
        );
        assert_eq!(info.display(), "host=h dbname='a b'");
        let url = ConnInfo::parse("postgresql://app:pw@db:5432/app?sslmode=require").unwrap();
        assert_eq!(
            url.display(),
            "postgresql://app@db:5432/app?sslmode=require"
        );
        let url = ConnInfo::parse("postgresql://u@[::1]:5,h2:6/caf%C3%A9?password=x").unwrap();
        assert_eq!(url.display(), "postgresql://u@[::1]:5,h2:6/caf%C3%A9");
        let socket = ConnInfo::parse("postgresql:///db?host=/tmp&password=x").unwrap();
        assert_eq!(socket.display(), "postgresql:///db?host=%2Ftmp");
        assert_eq!(
            ConnInfo::parse("postgresql://h").unwrap().display(),
            "postgresql://h"
        );
        assert!(!format!("{info:?}").contains('z'));
    }

    fn value() -> impl Strategy<Value = String> {
        // Quotes, backslashes, blanks, `=`, `%`, `&`, `@`, `/`, non-ASCII.
        proptest::collection::vec(
            prop_oneof![
                Just('\''),
                Just('\\'),
                Just(' '),
                Just('\t'),
                Just('='),
                Just('%'),
                Just('&'),
                Just('@'),
                Just('/'),
                Just(':'),
                Just('é'),
                Just('€'),
                proptest::char::range('a', 'z'),
            ],
            0..12,
        )
        .prop_map(|cs| cs.into_iter().collect())
    }

    fn keyword() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("host".to_string()),
            Just("port".to_string()),
            Just("dbname".to_string()),
            Just("user".to_string()),
            Just("password".to_string()),
            Just("sslmode".to_string()),
            Just("application_name".to_string()),
            Just("options".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Whatever is set, the rendered keyword string reads back to exactly the same pairs.
        #[test]
        fn keyword_rendering_reads_back(pairs in proptest::collection::vec((keyword(), value()), 0..8)) {
            let mut info = ConnInfo::empty();
            for (k, v) in &pairs {
                info.set(k, v);
            }
            let back = ConnInfo::parse(&info.to_keywords()).unwrap();
            // An empty list renders as "", which parses as no keywords at all.
            prop_assert_eq!(back.params(), info.params());
        }

        /// A URL's display, with the password put back as a query parameter, reads back to the
        /// same pairs (hosts without `,`, which separates hosts in libpq).
        #[test]
        fn url_display_reads_back(
            user in value(),
            password in value(),
            db in value(),
            host in "[a-z]{1,8}(\\.[a-z]{1,5})?",
            port in proptest::option::of(1u16..),
            extra in proptest::collection::vec(value(), 0..2),
        ) {
            let mut text = format!(
                "postgresql://{}:{}@{}",
                percent_encode(&user, &[]),
                percent_encode(&password, &[]),
                host,
            );
            if let Some(port) = port {
                text.push_str(&format!(":{port}"));
            }
            text.push('/');
            text.push_str(&percent_encode(&db, &[]));
            for (i, v) in extra.iter().enumerate() {
                text.push(if i == 0 { '?' } else { '&' });
                text.push_str(&format!("application_name={}", percent_encode(v, &[])));
            }
            let info = ConnInfo::parse(&text).unwrap();
            prop_assert_eq!(info.get("password"), (!password.is_empty()).then_some(password.as_str()));
            let shown = info.display();
            let mut without = info.clone();
            without.remove("password");
            let back = ConnInfo::parse(&shown).unwrap();
            prop_assert_eq!(back.params().iter().collect::<std::collections::BTreeSet<_>>(),
                without.params().iter().collect::<std::collections::BTreeSet<_>>());
        }
    }
}
