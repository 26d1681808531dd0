//! `REPORT.html`: the printable summary inside every bundle.

use std::collections::BTreeMap;

use crate::audit;

use super::Manifest;

/// Escapes text for HTML element content and attribute values.
pub(super) fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `REPORT.html`: one self-contained printable page (no scripts, no external resources) for a
/// reader who will not run a command: what was exported, why and by whom, each record's intake
/// hashes, what was withheld and why, and each record's custody timeline. Every value is
/// escaped; it holds nothing the manifest and custody files beside it do not.
pub fn report_html(manifest: &Manifest, custody: &BTreeMap<String, Vec<audit::Event>>) -> String {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>tvault export report</title>\n<style>\n\
         body{font-family:serif;max-width:60em;margin:2em auto;line-height:1.4}\n\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #888;padding:.2em .5em;text-align:left;vertical-align:top}\n\
         code{font-size:.85em;word-break:break-all}h2{page-break-before:auto}\n\
         </style>\n</head>\n<body>\n",
    );
    let row = |k: &str, v: &str| format!("<tr><th>{}</th><td>{}</td></tr>\n", html(k), v);
    page += &format!("<h1>Export {}</h1>\n<table>\n", html(&manifest.export_id));
    page += &row(
        "Vault",
        &format!("<code>{}</code>", html(&manifest.vault_id)),
    );
    page += &row("Purpose", &html(&manifest.purpose));
    page += &row(
        "Reason for overriding consent",
        &html(manifest.reason.as_deref().unwrap_or("none")),
    );
    page += &row("Exported by", &html(&manifest.operator));
    page += &row("Time (UTC)", &html(&manifest.time));
    page += &row("Format", &html(&manifest.format));
    page += "</table>\n<p>This page summarises the bundle's signed MANIFEST.json and custody files; \
             check the bundle as VERIFY.txt explains before relying on it.</p>\n";

    page += "<h2>Records</h2>\n<table>\n<tr><th>Record</th><th>Version</th><th>Witness (pseudonym)</th>\
             <th>Consent</th><th>Statement</th><th>Identity</th><th>Attachments</th></tr>\n";
    for r in &manifest.records {
        let purposes: Vec<&str> = r.consent.purposes.iter().map(|p| p.as_str()).collect();
        page += &format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            html(&r.id),
            r.version,
            html(&r.witness),
            html(&purposes.join(", ")),
            if r.consent_overridden {
                " (overridden)"
            } else {
                ""
            },
            match (&r.redaction, r.statement_redacted) {
                (_, true) => "the witness's names replaced automatically (not reviewed)",
                (Some(_), false) =>
                    "as recorded (searched automatically for the witness's names, none found; not reviewed)",
                (None, false) => "as recorded",
            },
            if r.identity_included {
                "included"
            } else {
                "withheld"
            },
            html(&r.attachments.join(", ")),
        );
    }
    page += "</table>\n<h2>Intake hashes (SHA-256 of the content as recorded)</h2>\n<table>\n\
             <tr><th>Record</th><th>Part</th><th>SHA-256</th></tr>\n";
    for r in &manifest.records {
        for (part, sha) in &r.intake_sha256 {
            let what = if *part == 0 {
                "statement".to_owned()
            } else {
                format!("attachment {part}")
            };
            page += &format!(
                "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>\n",
                html(&r.id),
                what,
                html(sha)
            );
        }
    }
    page += "</table>\n<h2>Withheld</h2>\n";
    if manifest.withheld.is_empty() {
        page += "<p>Nothing.</p>\n";
    } else {
        page += "<table>\n<tr><th>Record</th><th>What</th><th>Why</th></tr>\n";
        for w in &manifest.withheld {
            let what = match &w.name {
                Some(name) => format!("{} {}", html(&w.what), html(name)),
                None => html(&w.what),
            };
            page += &format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                html(&w.record),
                what,
                html(&w.why)
            );
        }
        page += "</table>\n";
    }
    page += "<h2>Custody</h2>\n";
    for r in &manifest.records {
        page += &format!(
            "<h3>Record <code>{}</code></h3>\n<table>\n<tr><th>#</th><th>Time (UTC)</th><th>Operator</th><th>Event</th><th>Version</th></tr>\n",
            html(&r.id)
        );
        for e in custody.get(&r.id).map(Vec::as_slice).unwrap_or_default() {
            page += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                e.seq,
                html(&e.time),
                html(&e.operator),
                e.action.as_str(),
                e.version.map(|v| v.to_string()).unwrap_or_default()
            );
        }
        page += "</table>\n";
    }
    page += "</body>\n</html>\n";
    page
}
