//! A parser of nginx's configuration language: directives with arguments (bare, quoted,
//! escaped), blocks, `#` comments, and `include` with wildcards, spliced in place like
//! nginx does, with file and line kept on every directive so a finding can say where to
//! fix it. It knows nothing about what directives mean (see `nginx_model`).

use std::fmt;
use std::path::{Path, PathBuf};

/// One directive: `name arg… ;` or `name arg… { children }`.
#[derive(Debug, Clone)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    pub file: PathBuf,
    pub line: usize,
    /// `Some` for a block directive (`http`, `server`, `location`, …).
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    /// `file:line`.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    pub fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Semicolon,
    Open,
    Close,
}

/// Split one file into tokens with their line numbers.
fn tokenize(text: &str, file: &Path) -> Result<Vec<(Token, usize)>, ParseError> {
    let err = |line, message: String| ParseError {
        file: file.to_path_buf(),
        line,
        message,
    };
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => {
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            ';' => {
                out.push((Token::Semicolon, line));
                chars.next();
            }
            '{' => {
                out.push((Token::Open, line));
                chars.next();
            }
            '}' => {
                out.push((Token::Close, line));
                chars.next();
            }
            '"' | '\'' => {
                let quote = c;
                let start = line;
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => return Err(err(start, format!("unterminated {quote} string"))),
                        Some('\\') => match chars.next() {
                            Some(e) if e == quote || e == '\\' => word.push(e),
                            Some(e) => {
                                word.push('\\');
                                word.push(e);
                            }
                            None => return Err(err(start, "unterminated string".into())),
                        },
                        Some(c) if c == quote => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            word.push(c);
                        }
                    }
                }
                out.push((Token::Word(word), start));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == ';' || c == '{' || c == '}' {
                        break;
                    }
                    // `${var}` keeps its braces inside a word.
                    if c == '$' {
                        word.push(c);
                        chars.next();
                        if chars.peek() == Some(&'{') {
                            for c in chars.by_ref() {
                                word.push(c);
                                if c == '}' {
                                    break;
                                }
                            }
                        }
                        continue;
                    }
                    if c == '\\' {
                        chars.next();
                        if let Some(e) = chars.next() {
                            word.push(e);
                        }
                        continue;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push((Token::Word(word), line));
            }
        }
    }
    Ok(out)
}

/// Parses a main config file and everything it includes.
pub struct Parser {
    /// Relative `include` paths resolve against the main file's directory (nginx's
    /// conf prefix when started with `-c`).
    base: PathBuf,
    /// Files read, in order (for the report).
    pub files: Vec<PathBuf>,
    depth: usize,
}

/// Includes nested deeper than this are a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

impl Parser {
    pub fn parse_main(path: &Path) -> Result<(Vec<Directive>, Vec<PathBuf>), ParseError> {
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut p = Parser {
            base,
            files: Vec::new(),
            depth: 0,
        };
        let tree = p.parse_file(path, 0)?;
        Ok((tree, p.files))
    }

    fn parse_file(&mut self, path: &Path, from_line: usize) -> Result<Vec<Directive>, ParseError> {
        let text = std::fs::read_to_string(path).map_err(|e| ParseError {
            file: path.to_path_buf(),
            line: from_line,
            message: format!("cannot read: {e}"),
        })?;
        self.files.push(path.to_path_buf());
        let tokens = tokenize(&text, path)?;
        let mut pos = 0;
        let out = self.parse_block(&tokens, &mut pos, path, false)?;
        Ok(out)
    }

    fn parse_block(
        &mut self,
        tokens: &[(Token, usize)],
        pos: &mut usize,
        file: &Path,
        nested: bool,
    ) -> Result<Vec<Directive>, ParseError> {
        let err = |line, message: &str| ParseError {
            file: file.to_path_buf(),
            line,
            message: message.to_string(),
        };
        let mut out = Vec::new();
        while *pos < tokens.len() {
            let (tok, line) = &tokens[*pos];
            match tok {
                Token::Close if nested => {
                    *pos += 1;
                    return Ok(out);
                }
                Token::Close => return Err(err(*line, "unexpected \"}\"")),
                Token::Semicolon => return Err(err(*line, "unexpected \";\"")),
                Token::Open => return Err(err(*line, "unexpected \"{\"")),
                Token::Word(name) => {
                    let (name, line) = (name.clone(), *line);
                    *pos += 1;
                    let mut args = Vec::new();
                    loop {
                        match tokens.get(*pos) {
                            Some((Token::Word(w), _)) => {
                                args.push(w.clone());
                                *pos += 1;
                            }
                            Some((Token::Semicolon, _)) => {
                                *pos += 1;
                                if name == "include" {
                                    out.extend(self.include(&args, file, line)?);
                                } else {
                                    out.push(Directive {
                                        name,
                                        args,
                                        file: file.to_path_buf(),
                                        line,
                                        block: None,
                                    });
                                }
                                break;
                            }
                            Some((Token::Open, _)) => {
                                *pos += 1;
                                let children = self.parse_block(tokens, pos, file, true)?;
                                out.push(Directive {
                                    name,
                                    args,
                                    file: file.to_path_buf(),
                                    line,
                                    block: Some(children),
                                });
                                break;
                            }
                            Some((Token::Close, l)) => {
                                return Err(err(*l, &format!("directive \"{name}\" is not terminated by \";\"")))
                            }
                            None => {
                                return Err(err(line, &format!("directive \"{name}\" is not terminated by \";\" before the end of the file")))
                            }
                        }
                    }
                }
            }
        }
        if nested {
            let line = tokens.last().map_or(1, |t| t.1);
            return Err(err(line, "unexpected end of file, expecting \"}\""));
        }
        Ok(out)
    }

    /// `include PATTERN;`: every matching file, in name order, spliced in place. A pattern
    /// without wildcards must exist (as in nginx); one with wildcards may match nothing.
    fn include(
        &mut self,
        args: &[String],
        file: &Path,
        line: usize,
    ) -> Result<Vec<Directive>, ParseError> {
        let err = |message: String| ParseError {
            file: file.to_path_buf(),
            line,
            message,
        };
        let [pattern] = args else {
            return Err(err("include takes exactly one path".into()));
        };
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(err(format!(
                "includes nested deeper than {MAX_INCLUDE_DEPTH}: a loop?"
            )));
        }
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            self.base.join(pattern)
        };
        let wild = pattern.contains(['*', '?', '[']);
        let mut paths: Vec<PathBuf> = if wild {
            glob::glob(&full.to_string_lossy())
                .map_err(|e| err(format!("bad include pattern {pattern:?}: {e}")))?
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect()
        } else {
            if !full.exists() {
                return Err(err(format!(
                    "included file {} does not exist",
                    full.display()
                )));
            }
            vec![full]
        };
        paths.sort();
        self.depth += 1;
        let mut out = Vec::new();
        for p in paths {
            out.extend(self.parse_file(&p, line)?);
        }
        self.depth -= 1;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("bxpush-nginx-parse-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("conf.d")).unwrap();
        d
    }

    #[test]
    fn blocks_quotes_comments_and_includes() {
        let d = scratch("ok");
        std::fs::write(
            d.join("nginx.conf"),
            "events { worker_connections 1024; }  # comment { ;\nhttp {\n  map $http_upgrade $c { default upgrade; '' close; }\n  include conf.d/*.conf;\n}\n",
        )
        .unwrap();
        std::fs::write(
            d.join("conf.d/a.conf"),
            "server {\n  listen 80;\n  location ^~ /bitrix/sub/ {\n    proxy_set_header Connection \"up grade\";\n    rewrite ^/x(.*)${foo} /y;\n  }\n}\n",
        )
        .unwrap();
        let (tree, files) = Parser::parse_main(&d.join("nginx.conf")).unwrap();
        assert_eq!(files.len(), 2);
        let http = tree.iter().find(|d| d.name == "http").unwrap();
        let map = &http.children()[0];
        assert_eq!(map.children()[1].name, "");
        assert_eq!(map.children()[1].args, vec!["close"]);
        let server = &http.children()[1];
        assert_eq!(server.name, "server");
        assert_eq!(server.line, 1);
        assert!(server.file.ends_with("conf.d/a.conf"));
        let loc = &server.children()[1];
        assert_eq!(loc.args, vec!["^~", "/bitrix/sub/"]);
        assert_eq!(loc.children()[0].args, vec!["Connection", "up grade"]);
        assert_eq!(loc.children()[0].line, 4);
        assert_eq!(loc.children()[1].args[0], "^/x(.*)${foo}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn errors_say_where() {
        let d = scratch("bad");
        std::fs::write(d.join("nginx.conf"), "http {\n  include site.conf;\n}\n").unwrap();
        std::fs::write(d.join("site.conf"), "server {\n  listen 80\n}\n").unwrap();
        let e = Parser::parse_main(&d.join("nginx.conf")).unwrap_err();
        assert!(e.file.ends_with("site.conf") && e.line == 3, "{e}");
        assert!(e.message.contains("\"listen\" is not terminated"), "{e}");
        std::fs::write(d.join("site.conf"), "server {\n").unwrap();
        let e = Parser::parse_main(&d.join("nginx.conf")).unwrap_err();
        assert!(e.message.contains("expecting \"}\""), "{e}");
        std::fs::write(d.join("nginx.conf"), "http { include missing.conf; }").unwrap();
        let e = Parser::parse_main(&d.join("nginx.conf")).unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
