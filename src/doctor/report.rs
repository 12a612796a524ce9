//! Findings and how they are shown: for each, what is wrong, why it matters and the exact
//! fix (the line to write, the command to run). Text for a terminal, `--json` for tools.
//! The exit status is 0 when all is well, 1 with warnings, 2 with errors.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Which check (`runtime`, `nginx`, `limits`, `signature`, `spool`, …).
    pub check: &'static str,
    pub severity: Severity,
    /// What was found.
    pub what: String,
    /// Why it matters (empty for ok findings).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
    /// The fix: lines to write or commands to run, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fix: Vec<String>,
}

impl Finding {
    pub fn ok(check: &'static str, what: impl Into<String>) -> Self {
        Finding {
            check,
            severity: Severity::Ok,
            what: what.into(),
            why: String::new(),
            fix: Vec::new(),
        }
    }

    pub fn warning(check: &'static str, what: impl Into<String>, why: impl Into<String>) -> Self {
        Finding {
            check,
            severity: Severity::Warning,
            what: what.into(),
            why: why.into(),
            fix: Vec::new(),
        }
    }

    pub fn error(check: &'static str, what: impl Into<String>, why: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            ..Finding::warning(check, what, why)
        }
    }

    pub fn fix(mut self, line: impl Into<String>) -> Self {
        self.fix.push(line.into());
        self
    }
}

/// 0 / 1 / 2 = ok / warnings / errors.
pub fn exit_code(findings: &[Finding]) -> u8 {
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Error) => 2,
        Some(Severity::Warning) => 1,
        _ => 0,
    }
}

fn counts(findings: &[Finding]) -> (usize, usize, usize) {
    let n = |s| findings.iter().filter(|f| f.severity == s).count();
    (n(Severity::Error), n(Severity::Warning), n(Severity::Ok))
}

pub fn text(findings: &[Finding], header: &str) -> String {
    let mut out = format!("{header}\n\n");
    for f in findings {
        let tag = match f.severity {
            Severity::Ok => "ok     ",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR  ",
        };
        out.push_str(&format!("{tag} [{}] {}\n", f.check, f.what));
        if !f.why.is_empty() {
            out.push_str(&format!("        why: {}\n", f.why));
        }
        for (i, line) in f.fix.iter().enumerate() {
            let lead = if i == 0 {
                "        fix: "
            } else {
                "             "
            };
            out.push_str(&format!("{lead}{line}\n"));
        }
    }
    let (e, w, o) = counts(findings);
    out.push_str(&format!("\n{e} errors, {w} warnings, {o} ok\n"));
    out
}

pub fn json(findings: &[Finding], config: &str) -> String {
    let (e, w, o) = counts(findings);
    serde_json::to_string_pretty(&serde_json::json!({
        "config": config,
        "errors": e,
        "warnings": w,
        "ok": o,
        "exit": exit_code(findings),
        "findings": findings,
    }))
    .expect("findings serialize")
}
