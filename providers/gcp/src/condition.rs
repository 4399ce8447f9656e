//! breakglass's own IAM Condition: the native expiry of an emergency binding.
//!
//! `request.time < timestamp("END")` is the condition Google documents for temporary access;
//! IAM evaluates it on every request, so the binding stops granting anything at END even if
//! breakglass never runs again. The title is the activation's id (so the console shows why the
//! binding exists) and the description starts with [`DESCRIPTION_PREFIX`]: a condition is taken
//! as breakglass's only when both its description and its expression have exactly this form.
//! Anyone else's condition, expiring or not, is theirs and left alone.

use jiff::Timestamp;

use crate::policy::Expr;

/// How the description of every condition breakglass writes starts.
pub const DESCRIPTION_PREFIX: &str = "Granted by breakglass";

/// The title of a condition written for no activation (a baseline binding with `expires_at`).
const UNTITLED: &str = "breakglass";

/// IAM's limit on a condition's title.
const TITLE_LIMIT: usize = 100;

/// The condition that ends access at `end`, titled with the activation's id.
pub fn expiry(end: Timestamp, activation: Option<&str>) -> Expr {
    let title: String = activation.unwrap_or(UNTITLED).chars().take(TITLE_LIMIT).collect();
    Expr {
        title,
        description: format!(
            "{DESCRIPTION_PREFIX} until {end}: Google stops honouring this binding then, \
             whether or not breakglass runs."
        ),
        expression: format!("request.time < timestamp(\"{end}\")"),
        ..Expr::default()
    }
}

/// The end a condition of breakglass's form sets, or `None` for any other condition.
pub fn end_of(expr: &Expr) -> Option<Timestamp> {
    if !expr.description.starts_with(DESCRIPTION_PREFIX) {
        return None;
    }
    end_of_expression(&expr.expression)
}

/// The time in `request.time < timestamp("…")` (either quote), or `None` for anything else.
pub fn end_of_expression(expression: &str) -> Option<Timestamp> {
    let inner = expression.trim().strip_prefix("request.time")?.trim_start();
    let inner = inner.strip_prefix('<')?.trim_start();
    let inner = inner.strip_prefix("timestamp(")?.strip_suffix(')')?.trim();
    let quoted = inner
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))?;
    quoted.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_condition_ends_access_at_the_end_and_is_recognised() {
        let end: Timestamp = "2031-03-02T01:00:00Z".parse().unwrap();
        let condition = expiry(end, Some("grant_chg_2031"));
        assert_eq!(condition.title, "grant_chg_2031");
        assert_eq!(condition.expression, "request.time < timestamp(\"2031-03-02T01:00:00Z\")");
        assert!(condition.description.starts_with(DESCRIPTION_PREFIX));
        assert_eq!(end_of(&condition), Some(end));
        assert_eq!(expiry(end, None).title, "breakglass");
        assert_eq!(expiry(end, Some(&"x".repeat(300))).title.len(), 100);
    }

    #[test]
    fn only_breakglass_conditions_of_the_exact_form_are_claimed() {
        let end: Timestamp = "2031-03-02T01:00:00Z".parse().unwrap();
        let mut someone_elses = expiry(end, Some("act_1"));
        someone_elses.description = "Temporary access for the audit".to_owned();
        assert_eq!(end_of(&someone_elses), None, "another description is not ours");
        let mut widened = expiry(end, Some("act_1"));
        widened.expression.push_str(" || request.time > timestamp(\"2020-01-01T00:00:00Z\")");
        assert_eq!(end_of(&widened), None, "another expression is not ours");
    }

    #[test]
    fn expressions_of_the_documented_forms_are_read() {
        let cases = [
            (
                "request.time < timestamp(\"2020-10-01T00:00:00.000Z\")",
                Some("2020-10-01T00:00:00Z"),
            ),
            ("request.time < timestamp('2020-10-01T00:00:00Z')", Some("2020-10-01T00:00:00Z")),
            ("request.time<timestamp(\"2020-10-01T00:00:00Z\")", Some("2020-10-01T00:00:00Z")),
            ("request.time > timestamp(\"2020-10-01T00:00:00Z\")", None),
            ("request.time < timestamp(\"yesterday\")", None),
            ("resource.name.startsWith(\"projects/p\")", None),
        ];
        for (expression, expected) in cases {
            let expected: Option<Timestamp> = expected.map(|t| t.parse().unwrap());
            assert_eq!(end_of_expression(expression), expected, "{expression}");
        }
    }
}
