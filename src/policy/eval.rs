//! Expressions: evaluation with the policy's function library, inlining of `file(...)`, and
//! finding the references an expression makes.
//!
//! Expressions are parsed by `hcl-edit` (which keeps spans) and evaluated by `hcl-rs`
//! (`hcl::eval`), converting between the two. hcl-rs functions are plain `fn`s that cannot see
//! the policy directory, so `file("…")` is replaced by the file's text before evaluation, which
//! also lets a missing file be reported at the exact call.

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::visit::{Visit, visit_expr, visit_traversal};
use hcl_edit::visit_mut::{VisitMut, visit_expr_mut};
use hcl_edit::{Decorated, Span};
use std::ops::Range;
use std::path::Path;

/// A problem evaluating an expression, at a byte range of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalProblem {
    /// What went wrong, and what would be right.
    pub message: String,
    /// Where, if known more precisely than the whole expression.
    pub span: Option<Range<usize>>,
}

/// Which functions an expression may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Functions {
    /// The general library.
    General,
    /// The general library plus `env("NAME")`: only `provider` blocks may read the environment,
    /// so secrets cannot end up in plans or state through other blocks.
    WithEnv,
}

/// An evaluation context with the function library and no variables.
pub fn context(functions: Functions) -> Context<'static> {
    let mut context = Context::new();
    context.declare_func("jsonencode", FuncDef::new(jsonencode, [ParamType::Any]));
    context.declare_func("jsondecode", FuncDef::new(jsondecode, [ParamType::String]));
    context.declare_func("lower", FuncDef::new(lower, [ParamType::String]));
    context.declare_func("upper", FuncDef::new(upper, [ParamType::String]));
    context.declare_func("trimspace", FuncDef::new(trimspace, [ParamType::String]));
    context.declare_func(
        "join",
        FuncDef::new(join, [ParamType::String, ParamType::array_of(ParamType::String)]),
    );
    context.declare_func(
        "concat",
        FuncDef::builder().variadic_param(ParamType::array_of(ParamType::Any)).build(concat),
    );
    context.declare_func(
        "merge",
        FuncDef::builder().variadic_param(ParamType::object_of(ParamType::Any)).build(merge),
    );
    if functions == Functions::WithEnv {
        context.declare_func("env", FuncDef::new(env, [ParamType::String]));
    }
    context
}

/// The names of the functions available, for "did you mean" and docs.
pub const FUNCTION_NAMES: [&str; 10] = [
    "concat",
    "env",
    "file",
    "join",
    "jsondecode",
    "jsonencode",
    "lower",
    "merge",
    "trimspace",
    "upper",
];

fn jsonencode(args: FuncArgs) -> Result<hcl::Value, String> {
    serde_json::to_string(&args[0]).map(hcl::Value::String).map_err(|e| e.to_string())
}

fn jsondecode(args: FuncArgs) -> Result<hcl::Value, String> {
    let text = args[0].as_str().unwrap_or_default();
    serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))
}

fn lower(args: FuncArgs) -> Result<hcl::Value, String> {
    Ok(hcl::Value::String(args[0].as_str().unwrap_or_default().to_lowercase()))
}

fn upper(args: FuncArgs) -> Result<hcl::Value, String> {
    Ok(hcl::Value::String(args[0].as_str().unwrap_or_default().to_uppercase()))
}

fn trimspace(args: FuncArgs) -> Result<hcl::Value, String> {
    Ok(hcl::Value::String(args[0].as_str().unwrap_or_default().trim().to_owned()))
}

fn join(args: FuncArgs) -> Result<hcl::Value, String> {
    let separator = args[0].as_str().unwrap_or_default();
    let parts: Vec<&str> = args[1]
        .as_array()
        .map(|items| items.iter().filter_map(hcl::Value::as_str).collect())
        .unwrap_or_default();
    Ok(hcl::Value::String(parts.join(separator)))
}

fn concat(args: FuncArgs) -> Result<hcl::Value, String> {
    Ok(hcl::Value::Array(args.iter().filter_map(hcl::Value::as_array).flatten().cloned().collect()))
}

fn merge(args: FuncArgs) -> Result<hcl::Value, String> {
    let mut merged = hcl::Map::new();
    for object in args.iter().filter_map(hcl::Value::as_object) {
        merged.extend(object.clone());
    }
    Ok(hcl::Value::Object(merged))
}

fn env(args: FuncArgs) -> Result<hcl::Value, String> {
    let name = args[0].as_str().unwrap_or_default();
    // An unset variable is null, so `validate` works without secrets; the provider that needs
    // the value says which attribute is missing when it is configured.
    Ok(std::env::var(name).map_or(hcl::Value::Null, hcl::Value::String))
}

/// Replaces every `file("path")` call in `expression` by the text of that file, read relative
/// to `base_dir`. Returns the problems met (missing file, non-literal path).
pub fn inline_files(expression: &mut Expression, base_dir: &Path) -> Vec<EvalProblem> {
    struct Inliner<'a> {
        base_dir: &'a Path,
        problems: Vec<EvalProblem>,
    }

    impl VisitMut for Inliner<'_> {
        fn visit_expr_mut(&mut self, expression: &mut Expression) {
            let Expression::FuncCall(call) = expression else {
                return visit_expr_mut(self, expression);
            };
            if call.name.name.as_str() != "file" || !call.name.namespace.is_empty() {
                return visit_expr_mut(self, expression);
            }
            let span = call.span();
            let argument = match call.args.iter().collect::<Vec<_>>().as_slice() {
                [Expression::String(path)] => path.as_str().to_owned(),
                _ => {
                    self.problems.push(EvalProblem {
                        message: "file() takes one literal path, as in file(\"keys/alice.pub\")"
                            .to_owned(),
                        span,
                    });
                    return;
                }
            };
            let path = self.base_dir.join(&argument);
            match fs_err::read_to_string(&path) {
                Ok(text) => *expression = Expression::String(Decorated::new(text)),
                Err(error) => self.problems.push(EvalProblem {
                    message: format!(
                        "file(\"{argument}\") cannot be read: {}; paths are relative to the \
                         policy directory",
                        error.kind()
                    ),
                    span,
                }),
            }
        }
    }

    let mut inliner = Inliner { base_dir, problems: Vec::new() };
    inliner.visit_expr_mut(expression);
    inliner.problems
}

/// Evaluates `expression` (inlining `file(...)` first) to a JSON value.
pub fn evaluate(
    expression: &Expression,
    context: &Context<'_>,
    base_dir: &Path,
) -> Result<serde_json::Value, Vec<EvalProblem>> {
    let mut expression = expression.clone();
    let problems = inline_files(&mut expression, base_dir);
    if !problems.is_empty() {
        return Err(problems);
    }
    evaluate_inlined(&hcl::Expression::from(expression), context)
}

/// Evaluates an expression whose `file(...)` calls were already inlined.
pub fn evaluate_inlined(
    expression: &hcl::Expression,
    context: &Context<'_>,
) -> Result<serde_json::Value, Vec<EvalProblem>> {
    // Literals need no evaluation: half of a typical role template (`role = "admin"`), run
    // once per activation.
    match expression {
        hcl::Expression::Null => return Ok(serde_json::Value::Null),
        hcl::Expression::Bool(value) => return Ok(serde_json::Value::Bool(*value)),
        hcl::Expression::String(value) => return Ok(serde_json::Value::String(value.clone())),
        _ => {}
    }
    let value = expression
        .evaluate(context)
        .map_err(|error| vec![EvalProblem { message: describe_eval_error(&error), span: None }])?;
    Ok(into_json(value))
}

/// An HCL value as JSON, moved rather than serialised (what `serde_json::to_value` does, without
/// going through serde).
fn into_json(value: hcl::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        hcl::Value::Null => Json::Null,
        hcl::Value::Bool(value) => Json::Bool(value),
        hcl::Value::Number(number) => {
            if let Some(n) = number.as_i64() {
                Json::from(n)
            } else if let Some(n) = number.as_u64() {
                Json::from(n)
            } else {
                number
                    .as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Json::Null, Json::Number)
            }
        }
        hcl::Value::String(value) => Json::String(value),
        hcl::Value::Array(items) => Json::Array(items.into_iter().map(into_json).collect()),
        hcl::Value::Object(fields) => {
            Json::Object(fields.into_iter().map(|(key, value)| (key, into_json(value))).collect())
        }
    }
}

fn describe_eval_error(error: &hcl::eval::Error) -> String {
    use hcl::eval::ErrorKind;
    match error.kind() {
        ErrorKind::UndefinedFunc(name) if name.name.as_str() == "env" => {
            "env() may only be used in provider blocks, so secrets never reach plans or state"
                .to_owned()
        }
        ErrorKind::UndefinedFunc(name) => format!(
            "there is no function {name}(); functions available: {} (and env() in provider \
             blocks)",
            FUNCTION_NAMES.iter().filter(|f| **f != "env").copied().collect::<Vec<_>>().join(", ")
        ),
        ErrorKind::UndefinedVar(name) => format!("{name} is not defined here"),
        _ => error.to_string(),
    }
}

/// A reference an expression makes: the variable it starts from, the attribute names that
/// follow it, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traversal {
    /// The root variable (`team`, `requester`, `local_setting`).
    pub root: String,
    /// The attribute names after the root, up to the first non-attribute step.
    pub path: Vec<String>,
    /// Where the whole traversal is.
    pub span: Option<Range<usize>>,
}

/// Every variable reference in `expression`.
pub fn traversals(expression: &Expression) -> Vec<Traversal> {
    struct Finder(Vec<Traversal>);

    impl Visit for Finder {
        fn visit_expr(&mut self, expression: &Expression) {
            if let Expression::Variable(variable) = expression {
                self.0.push(Traversal {
                    root: variable.as_str().to_owned(),
                    path: Vec::new(),
                    span: variable.span(),
                });
            }
            visit_expr(self, expression);
        }

        fn visit_traversal(&mut self, traversal: &hcl_edit::expr::Traversal) {
            if let Expression::Variable(variable) = &traversal.expr {
                let path = traversal
                    .operators
                    .iter()
                    .map_while(|operator| match operator.value() {
                        TraversalOperator::GetAttr(name) => Some(name.as_str().to_owned()),
                        _ => None,
                    })
                    .collect();
                self.0.push(Traversal {
                    root: variable.as_str().to_owned(),
                    path,
                    span: traversal.span(),
                });
                // Index expressions may hold references of their own.
                for operator in &traversal.operators {
                    if let TraversalOperator::Index(index) = operator.value() {
                        self.visit_expr(index);
                    }
                }
                return;
            }
            visit_traversal(self, traversal);
        }
    }

    let mut finder = Finder(Vec::new());
    finder.visit_expr(expression);
    finder.0
}

/// If `expression` is exactly `ROOT.NAME`, those two names.
pub fn as_reference(expression: &Expression) -> Option<(String, String)> {
    let Expression::Traversal(traversal) = expression else {
        return None;
    };
    let Expression::Variable(root) = &traversal.expr else {
        return None;
    };
    match traversal.operators.as_slice() {
        [operator] => match operator.value() {
            TraversalOperator::GetAttr(name) => {
                Some((root.as_str().to_owned(), name.as_str().to_owned()))
            }
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hcl_values_convert_to_json_as_serde_would() {
        use hcl::eval::Evaluate;
        let body: hcl::Body = hcl::from_str(
            "a = [1, -2, 3.5, true, null, \"x${1}\", { k = 18446744073709551615, n = [] }]",
        )
        .unwrap();
        let expression = body.attributes().next().unwrap().expr.clone();
        let value = expression.evaluate(&hcl::eval::Context::new()).unwrap();
        assert_eq!(into_json(value.clone()), serde_json::to_value(&value).unwrap());
    }

    use super::*;
    use hcl_edit::parser::parse_expr;
    use serde_json::json;

    fn eval(text: &str, functions: Functions) -> Result<serde_json::Value, Vec<EvalProblem>> {
        let expression = parse_expr(text).unwrap();
        evaluate(&expression, &context(functions), Path::new("."))
    }

    #[test]
    fn the_function_library_works() {
        let cases = [
            ("jsonencode({a = 1, b = [true]})", json!("{\"a\":1,\"b\":[true]}")),
            ("jsondecode(\"[1,2]\")", json!([1, 2])),
            ("lower(\"ABC\")", json!("abc")),
            ("upper(\"abc\")", json!("ABC")),
            ("trimspace(\"  x \")", json!("x")),
            ("join(\",\", [\"a\", \"b\"])", json!("a,b")),
            ("concat([1], [2, 3])", json!([1, 2, 3])),
            ("merge({a = 1}, {b = 2})", json!({"a": 1, "b": 2})),
            ("\"${1 + 1}h\"", json!("2h")),
        ];
        for (text, expected) in cases {
            assert_eq!(eval(text, Functions::General).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn env_is_only_for_provider_blocks() {
        let problems = eval("env(\"HOME\")", Functions::General).unwrap_err();
        assert!(problems[0].message.contains("only be used in provider blocks"));
        assert!(
            eval("env(\"BREAKGLASS_SURELY_UNSET_VAR\")", Functions::WithEnv).unwrap().is_null()
        );
    }

    #[test]
    fn file_reads_relative_to_the_base_dir_and_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("k.pub"), "KEY").unwrap();
        let context = context(Functions::General);
        let found = evaluate(&parse_expr("file(\"k.pub\")").unwrap(), &context, dir.path());
        assert_eq!(found.unwrap(), json!("KEY"));
        let missing = evaluate(&parse_expr("file(\"nope.pub\")").unwrap(), &context, dir.path());
        let message = &missing.unwrap_err()[0].message;
        assert!(message.contains("file(\"nope.pub\") cannot be read"), "{message}");
    }

    #[test]
    fn traversals_and_plain_references_are_found() {
        let expression = parse_expr("\"${requester.identities.local}-${activation.id}\"").unwrap();
        let found: Vec<_> = traversals(&expression).into_iter().map(|t| (t.root, t.path)).collect();
        assert_eq!(
            found,
            vec![
                ("requester".to_owned(), vec!["identities".to_owned(), "local".to_owned()]),
                ("activation".to_owned(), vec!["id".to_owned()]),
            ]
        );
        assert_eq!(
            as_reference(&parse_expr("team.oncall").unwrap()),
            Some(("team".to_owned(), "oncall".to_owned()))
        );
        assert_eq!(as_reference(&parse_expr("\"team.oncall\"").unwrap()), None);
    }
}
