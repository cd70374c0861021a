//! Issue 13's bound on function size in the runtime, backup, restore and drill code: no function
//! (tests aside) over [`MAX_LINES`] lines, counted from its `fn` line to its closing brace. The
//! scan reads the source text: a small lexer skips comments, strings and char literals, so the
//! braces of `format!("{x}")` or `'{'` do not count, and `#[cfg(test)]` items are left out.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 120;

/// The files and folders the bound covers, relative to the crate root.
const COVERED: &[&str] = &[
    "src/app/runtime.rs",
    "src/app/load.rs",
    "src/jobs/backup",
    "src/jobs/restore",
    "src/jobs/drill",
];

/// The files the bound covers: [`COVERED`] plus every `src/jobs/restore_*.rs` and the files
/// of every `src/jobs/restore_*/` folder (`restore_db`).
fn covered_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in COVERED {
        let path = root.join(entry);
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            assert!(path.is_file(), "{} is gone: update COVERED", path.display());
            files.push(path);
        }
    }
    for entry in std::fs::read_dir(root.join("src/jobs")).expect("src/jobs") {
        let path = entry.expect("an entry of src/jobs").path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        if !name.starts_with("restore_") {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry of a source folder").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// One significant token of the source: a brace, a `;`, an identifier or a `#[cfg(test)]`
/// attribute, with the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Semi,
    Word(String),
    CfgTest,
}

/// The source as tokens, comments, strings and char literals skipped.
fn tokens(text: &str) -> Vec<(usize, Token)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let count_lines = |from: usize, to: usize, line: &mut usize| {
        *line += chars[from..to].iter().filter(|c| **c == '\n').count();
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let start = i;
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                count_lines(start, i, &mut line);
            }
            '"' => {
                i = skip_string(&chars, i + 1);
                count_lines(start, i, &mut line);
            }
            'r' | 'b' if raw_string_hashes(&chars, i).is_some() => {
                let (open_end, hashes) = raw_string_hashes(&chars, i).unwrap_or_default();
                i = open_end;
                loop {
                    if i >= chars.len() {
                        break;
                    }
                    if chars[i] == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#')) {
                        i += 1 + hashes;
                        break;
                    }
                    i += 1;
                }
                count_lines(start, i, &mut line);
            }
            'b' if next == Some('"') => {
                i = skip_string(&chars, i + 2);
                count_lines(start, i, &mut line);
            }
            '\'' => i = skip_char_or_lifetime(&chars, i),
            '{' => {
                out.push((line, Token::Open));
                i += 1;
            }
            '}' => {
                out.push((line, Token::Close));
                i += 1;
            }
            ';' => {
                out.push((line, Token::Semi));
                i += 1;
            }
            '#' if chars[i..].starts_with(&"#[cfg(test)]".chars().collect::<Vec<_>>()) => {
                out.push((line, Token::CfgTest));
                i += "#[cfg(test)]".len();
            }
            c if c.is_alphabetic() || c == '_' => {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push((line, Token::Word(chars[start..i].iter().collect())));
            }
            _ => i += 1,
        }
    }
    out
}

/// Past the closing quote of a string whose body starts at `i`.
fn skip_string(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// For `r"`, `r#"`, `br#"` at `i`: where the body starts and how many `#` close it.
fn raw_string_hashes(chars: &[char], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((j + 1, hashes))
}

/// Past a char literal (`'{'`, `'\''`, `'\u{7b}'`) or a lifetime (`'a`) at `i`.
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    match (chars.get(i + 1), chars.get(i + 2)) {
        (Some('\\'), _) => {
            let mut j = i + 3;
            while j < chars.len() && chars[j] != '\'' {
                j += 1;
            }
            j + 1
        }
        (Some(_), Some('\'')) => i + 3,
        _ => i + 1,
    }
}

/// A function body: its name, the line of its `fn` and the line of its closing brace.
#[derive(Debug, PartialEq)]
struct Function {
    name: String,
    first: usize,
    last: usize,
}

impl Function {
    fn lines(&self) -> usize {
        self.last - self.first + 1
    }
}

/// Where the item that starts at token `i` ends: past its matching `}` or its `;`.
fn item_end(toks: &[(usize, Token)], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < toks.len() {
        match toks[i].1 {
            Token::Open => depth += 1,
            Token::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            Token::Semi if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// Every function with a body in `text`, `#[cfg(test)]` items left out.
fn functions(text: &str) -> Vec<Function> {
    let toks = tokens(text);
    let mut found = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].1 {
            Token::CfgTest => i = item_end(&toks, i + 1),
            Token::Word(w) if w == "fn" => {
                let Some((_, Token::Word(name))) = toks.get(i + 1) else {
                    i += 1;
                    continue;
                };
                let body =
                    (i + 2..toks.len()).find(|&k| matches!(toks[k].1, Token::Open | Token::Semi));
                if let Some(open) = body.filter(|&k| toks[k].1 == Token::Open) {
                    let end = item_end(&toks, open);
                    found.push(Function {
                        name: name.clone(),
                        first: toks[i].0,
                        last: toks[end - 1].0,
                    });
                }
                // Nested functions are scanned too: they count on their own as well.
                i += 2;
            }
            _ => i += 1,
        }
    }
    found
}

#[test]
fn no_function_in_the_runtime_backup_restore_or_drill_is_over_the_bound() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = covered_files(root);
    assert!(files.len() > 10, "too few files found: {files:?}");
    let mut long = Vec::new();
    let mut seen = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for f in functions(&text) {
            seen += 1;
            if f.lines() > MAX_LINES {
                long.push(format!(
                    "{}:{} fn {} is {} lines",
                    file.strip_prefix(root).unwrap().display(),
                    f.first,
                    f.name,
                    f.lines()
                ));
            }
        }
    }
    assert!(seen > 100, "the scan found only {seen} functions");
    assert!(
        long.is_empty(),
        "functions over {MAX_LINES} lines (split them):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_scan_measures_bodies_past_braces_in_strings_chars_and_comments() {
    let text = r####"
fn short() -> u32 {
    let s = "}}}";
    let c = '}';
    let r = r#"}"# ;
    // }
    /* } /* nested } */ } */
    1
}

trait T {
    fn declared(&self) -> u32;
    fn provided<'a>(&'a self) -> &'a str {
        "{"
    }
}

#[cfg(test)]
mod tests {
    fn hidden() {
    }
}

fn after() {
}
"####;
    let found = functions(text);
    assert_eq!(
        found,
        vec![
            Function {
                name: "short".into(),
                first: 2,
                last: 9,
            },
            Function {
                name: "provided".into(),
                first: 13,
                last: 15,
            },
            Function {
                name: "after".into(),
                first: 24,
                last: 25,
            },
        ]
    );
}

#[test]
fn a_long_function_is_found() {
    let body = "    let x = 1;\n".repeat(MAX_LINES);
    let text = format!("fn long() {{\n{body}}}\n");
    let found = functions(&text);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].lines(), MAX_LINES + 2);
}
