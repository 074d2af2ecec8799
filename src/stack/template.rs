//! `{{name}}` placeholder rendering for the config templates in `fixtures/stack/`.
//!
//! Deliberately tiny: no logic in templates, and an unknown or unused placeholder is an error
//! so a typo in a fixture cannot silently produce a config that means something else.

use std::collections::BTreeMap;

/// Rendering failed: the template names a placeholder no value was given for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template {template} uses unknown placeholder {{{{{name}}}}} (known: {known})")]
    Unknown {
        template: String,
        name: String,
        known: String,
    },
    #[error("template {template} has an unterminated placeholder at byte {offset}")]
    Unterminated { template: String, offset: usize },
}

/// Replaces every `{{name}}` in `text` with `vars[name]`.
///
/// `template` only names the source in errors.
pub fn render(
    template: &str,
    text: &str,
    vars: &BTreeMap<&str, String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut consumed = 0;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(TemplateError::Unterminated {
                template: template.to_string(),
                offset: consumed + start,
            });
        };
        let name = after[..end].trim();
        match vars.get(name) {
            Some(value) => out.push_str(value),
            None => {
                return Err(TemplateError::Unknown {
                    template: template.to_string(),
                    name: name.to_string(),
                    known: vars.keys().copied().collect::<Vec<_>>().join(", "),
                });
            }
        }
        consumed += start + 2 + end + 2;
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_rejects_unknown_placeholders() {
        let vars = BTreeMap::from([("scrape_interval", "1s".to_string())]);
        assert_eq!(
            render("p.yml", "scrape_interval: {{ scrape_interval }}\n", &vars).expect("renders"),
            "scrape_interval: 1s\n"
        );
        let err = render("p.yml", "x: {{nope}}", &vars).expect_err("unknown placeholder");
        assert_eq!(
            err.to_string(),
            "template p.yml uses unknown placeholder {{nope}} (known: scrape_interval)"
        );
        assert!(matches!(
            render("p.yml", "x: {{oops", &vars),
            Err(TemplateError::Unterminated { offset: 3, .. })
        ));
    }
}
