//! Small HTML helpers: escaping text and attributes, and JSON safe inside `<script>`.

/// Escapes `&`, `<`, `>`, `"` and `'` for text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON text that cannot end its `<script>` element early (`</script>`, `<!--`).
pub fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// A command given as an argv array or a string, as one shell line.
pub fn command_line(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => Some(
            a.iter()
                .map(|x| {
                    let s = x.as_str().map_or_else(|| x.to_string(), str::to_string);
                    shell_quote(&s)
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let j = script_json(&serde_json::json!({"s": "</script><!--"}));
        assert!(!j.contains("</script>") && !j.contains("<!--"), "{j}");
        let argv = serde_json::json!(["faultline", "test", "--seed", "7", "a b"]);
        assert_eq!(
            command_line(&argv).unwrap(),
            "faultline test --seed 7 'a b'"
        );
    }
}
