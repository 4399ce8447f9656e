//! Checks requests and responses against OpenAI's own OpenAPI description
//! (`tests/contract/specs/openai-openapi.yaml`, vendored from the public openai/openai-openapi
//! repository; source commit and licence in that folder's README).
//!
//! Why in-process rather than Prism's validating proxy: the contract server runs inside the
//! test binary, so a violation is pinned on the test that caused it, with no Node runtime, no
//! ~20 s start-up per proxy and no extra process to start, wait for and stop; the whole OpenAI
//! suite validates every exchange in well under a minute. The spec is parsed once per test
//! binary (~0.2 s).
//!
//! What is checked, for every request: the path and method are an operation of the spec; the
//! operation's security scheme is met (a bearer token); every query parameter is one the
//! operation declares, of its type and schema, and every required one is there; the body is
//! present exactly when the operation takes one, is JSON, and matches the request schema.
//! For every response: the status is one the operation documents and the body matches its
//! schema; an error status the operation does not list must carry OpenAI's `ErrorResponse`
//! body, as every endpoint answers errors that way (documented once for the whole API, in the
//! error-codes guide, rather than per operation).
//!
//! Schemas are JSON Schema 2020-12 (OpenAPI 3.1); each operation's schema is compiled with the
//! component schemas it reaches through `$ref`, and cached.

use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// Name-value pairs: a query, or the parameters a path template matched.
pub type Pairs = Vec<(String, String)>;

/// The parsed description and compiled validators.
pub struct Spec {
    document: Value,
    operations: Vec<Operation>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// One operation: a method on a path template.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `get`, `post`, `delete`…
    pub method: String,
    /// The template, as the spec writes it (`/organization/projects/{project_id}/users`).
    pub template: String,
    /// The spec's `operationId`.
    pub id: String,
    /// Where the operation object is, as a JSON pointer.
    pointer: String,
}

/// Where the description is: vendored in the repository.
pub fn spec_path() -> std::path::PathBuf {
    crate::util::root().join("tests/contract/specs/openai-openapi.yaml")
}

impl Spec {
    /// The description, parsed once.
    pub fn get() -> &'static Spec {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| {
            let path = spec_path();
            let text = fs_err::read_to_string(&path).unwrap_or_else(|error| {
                panic!(
                    "OpenAI's OpenAPI description is needed to check the contract server: \
                     {error}. It is vendored at tests/contract/specs/openai-openapi.yaml"
                )
            });
            let document: Value = serde_saphyr::from_str(&text).expect("the spec is YAML");
            Spec::new(document)
        })
    }

    fn new(document: Value) -> Self {
        let mut operations = Vec::new();
        for (template, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                    continue;
                }
                operations.push(Operation {
                    method: method.clone(),
                    template: template.clone(),
                    id: operation["operationId"].as_str().unwrap_or_default().to_owned(),
                    pointer: format!("/paths/{}/{method}", escape(template)),
                });
            }
        }
        Self { document, operations, validators: Mutex::new(HashMap::new()) }
    }

    /// The operation `method path` (path below the server URL, `/organization/…`) and its
    /// path parameters.
    pub fn operation(&self, method: &str, path: &str) -> Option<(&Operation, Pairs)> {
        let method = method.to_ascii_lowercase();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // Literal segments beat parameters (`/users/{id}` versus a literal sibling).
        let mut best: Option<(&Operation, Pairs, usize)> = None;
        for operation in self.operations.iter().filter(|o| o.method == method) {
            let template: Vec<&str> =
                operation.template.trim_start_matches('/').split('/').collect();
            if template.len() != segments.len() {
                continue;
            }
            let mut parameters = Vec::new();
            let mut literals = 0;
            let matched = template.iter().zip(&segments).all(|(t, s)| {
                if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    parameters.push((name.to_owned(), percent_decode(s)));
                    !s.is_empty()
                } else {
                    literals += 1;
                    t == s
                }
            });
            if matched && best.as_ref().is_none_or(|(_, _, l)| literals > *l) {
                best = Some((operation, parameters, literals));
            }
        }
        best.map(|(operation, parameters, _)| (operation, parameters))
    }

    fn at(&self, pointer: &str) -> &Value {
        self.document.pointer(pointer).unwrap_or(&Value::Null)
    }

    /// Follows a `$ref` (of a parameter, body or response) to what it names.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => self.resolve(self.at(reference.trim_start_matches('#'))),
            None => value,
        }
    }

    /// Checks a request; returns the operation and the violations found.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (Option<&Operation>, Vec<String>) {
        let Some((operation, path_parameters)) = self.operation(method, path) else {
            return (None, vec![format!("{method} {path} is not an operation of the spec")]);
        };
        let what = format!("{method} {path} ({})", operation.id);
        let mut violations = Vec::new();
        let object = self.at(&operation.pointer);

        // Security: every scheme these operations use is HTTP bearer.
        let security = object.get("security").unwrap_or(&self.document["security"]);
        let needs_bearer = security.as_array().is_some_and(|requirements| {
            requirements.iter().any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
        });
        let bearer = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|token| !token.trim().is_empty());
        if needs_bearer && !bearer {
            violations.push(format!("{what}: no `Authorization: Bearer` credential"));
        }

        // Parameters, from the path item and the operation.
        let item_pointer = format!("/paths/{}", escape(&operation.template));
        let mut declared: Vec<&Value> = Vec::new();
        for list in [self.at(&item_pointer).get("parameters"), object.get("parameters")] {
            if let Some(list) = list.and_then(Value::as_array) {
                declared.extend(list.iter().map(|p| self.resolve(p)));
            }
        }
        let find = |place: &str, name: &str| {
            declared.iter().find(|p| p["in"] == place && p["name"] == name).copied()
        };
        for (name, value) in &path_parameters {
            match find("path", name) {
                Some(parameter) => {
                    self.check_parameter(&what, parameter, value, &mut violations);
                }
                None => violations.push(format!("{what}: path parameter {name} is not declared")),
            }
        }
        let sent: BTreeSet<&str> = query.iter().map(|(name, _)| name.as_str()).collect();
        for (name, value) in query {
            match find("query", name) {
                Some(parameter) => self.check_parameter(&what, parameter, value, &mut violations),
                None => {
                    violations.push(format!("{what}: query parameter `{name}` is not declared"))
                }
            }
        }
        for parameter in &declared {
            let name = parameter["name"].as_str().unwrap_or_default();
            if parameter["in"] == "query" && parameter["required"] == true && !sent.contains(name) {
                violations.push(format!("{what}: required query parameter `{name}` is missing"));
            }
        }

        // The body.
        match object.get("requestBody").map(|b| self.resolve(b)) {
            None if !body.is_empty() => {
                violations.push(format!("{what}: sends a body, but the operation takes none"));
            }
            None => {}
            Some(request_body) => {
                if body.is_empty() {
                    if request_body["required"] == true {
                        violations.push(format!("{what}: the required body is missing"));
                    }
                } else {
                    let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
                    match request_body["content"].get(media) {
                        None => violations.push(format!(
                            "{what}: body of content type {media:?}, which the operation does \
                             not take"
                        )),
                        Some(content) => {
                            let key = format!("{}/requestBody/{media}", operation.pointer);
                            self.check_json(
                                &what,
                                "request body",
                                &key,
                                &content["schema"],
                                body,
                                &mut violations,
                            );
                        }
                    }
                }
            }
        }
        (Some(operation), violations)
    }

    /// Checks a response to `operation`.
    pub fn check_response(
        &self,
        operation: &Operation,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<String> {
        let what = format!(
            "{} {} ({}) answered {status}",
            operation.method.to_uppercase(),
            operation.template,
            operation.id
        );
        let mut violations = Vec::new();
        let responses = &self.at(&operation.pointer)["responses"];
        let class = format!("{}XX", status / 100);
        let documented = responses
            .get(status.to_string())
            .or_else(|| responses.get(&class))
            .or_else(|| responses.get("default"))
            .map(|r| self.resolve(r));
        let (key, schema) = match documented {
            Some(response) => match response.get("content") {
                Some(content) => {
                    let Some(json) = content.get("application/json") else {
                        violations.push(format!("{what}: the spec documents no JSON body"));
                        return violations;
                    };
                    (format!("{}/responses/{status}", operation.pointer), json["schema"].clone())
                }
                None if body.is_empty() => return violations,
                None => {
                    violations.push(format!("{what}: a body, where the spec documents none"));
                    return violations;
                }
            },
            None if status >= 400 => (
                "#error".to_owned(),
                serde_json::json!({"$ref": "#/components/schemas/ErrorResponse"}),
            ),
            None => {
                violations.push(format!("{what}: a status the operation does not document"));
                return violations;
            }
        };
        let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
        if media != "application/json" {
            violations.push(format!("{what}: content type {media:?}, not application/json"));
        }
        self.check_json(&what, "response body", &key, &schema, body, &mut violations);
        violations
    }

    fn check_parameter(
        &self,
        what: &str,
        parameter: &Value,
        value: &str,
        violations: &mut Vec<String>,
    ) {
        let name = parameter["name"].as_str().unwrap_or_default();
        let schema = &parameter["schema"];
        let typed = match schema["type"].as_str() {
            Some("integer") => value.parse::<i64>().map(Value::from).ok(),
            Some("number") => value.parse::<f64>().ok().map(Value::from),
            Some("boolean") => value.parse::<bool>().ok().map(Value::from),
            _ => Some(Value::from(value)),
        };
        let Some(typed) = typed else {
            violations.push(format!(
                "{what}: parameter `{name}` = {value:?} is not of type {}",
                schema["type"]
            ));
            return;
        };
        let key = format!("param/{}/{name}", parameter["in"].as_str().unwrap_or_default());
        let validator = self.validator(&format!("{what}{key}"), schema);
        for error in validator.iter_errors(&typed) {
            violations.push(format!("{what}: parameter `{name}` = {value:?}: {error}"));
        }
    }

    fn check_json(
        &self,
        what: &str,
        part: &str,
        key: &str,
        schema: &Value,
        body: &[u8],
        violations: &mut Vec<String>,
    ) {
        let instance: Value = match serde_json::from_slice(body) {
            Ok(instance) => instance,
            Err(error) => {
                violations.push(format!("{what}: the {part} is not JSON ({error})"));
                return;
            }
        };
        let validator = self.validator(key, schema);
        for error in validator.iter_errors(&instance) {
            violations.push(format!("{what}: {part} at `{}`: {error}", error.instance_path()));
        }
    }

    /// A validator for `schema` with the component schemas it reaches, compiled once per key.
    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().expect("validator cache");
        if let Some(validator) = cache.get(key) {
            return validator.clone();
        }
        let mut components = Map::new();
        let mut pending = references(schema);
        while let Some(name) = pending.pop() {
            if components.contains_key(&name) {
                continue;
            }
            let component = self.document["components"]["schemas"][&name].clone();
            assert!(!component.is_null(), "the spec refers to a missing schema {name}");
            pending.extend(references(&component));
            components.insert(name, component);
        }
        let mut root = match schema {
            Value::Object(map) => map.clone(),
            other => panic!("a schema that is not an object: {other}"),
        };
        root.insert("components".to_owned(), serde_json::json!({ "schemas": components }));
        let validator = Arc::new(
            jsonschema::draft202012::new(&Value::Object(root))
                .unwrap_or_else(|error| panic!("the spec's schema for {key} compiles: {error}")),
        );
        cache.insert(key.to_owned(), validator.clone());
        validator
    }
}

/// The component schema names a schema refers to.
fn references(schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![schema];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    found.push(name.to_owned());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// A path template as one JSON pointer token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) =
                segment.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            decoded.push(byte);
            i += 3;
            continue;
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[test]
fn the_validator_accepts_the_specs_own_examples_and_rejects_what_the_spec_does() {
    let spec = Spec::get();
    let bearer = Some("Bearer sk-admin-x");
    let json = Some("application/json");
    let query = |pairs: &[(&str, &str)]| -> Pairs {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    // Accepted: the request examples of the operations the provider uses.
    let good: [(&str, &str, Pairs, &str); 5] = [
        (
            "GET",
            "/organization/projects/proj_abc/users",
            query(&[("after", "user_abc"), ("limit", "20")]),
            "",
        ),
        (
            "POST",
            "/organization/projects/proj_abc/users",
            query(&[]),
            r#"{"user_id": "user_abc", "role": "member"}"#,
        ),
        (
            "POST",
            "/organization/projects/proj_abc/rate_limits/rl_xxx",
            query(&[]),
            r#"{"max_requests_per_1_minute": 500}"#,
        ),
        (
            "POST",
            "/organization/projects/proj_abc/model_permissions",
            query(&[]),
            r#"{"mode": "deny_list", "model_ids": ["o3"]}"#,
        ),
        ("DELETE", "/organization/projects/proj_abc/users/user_abc", query(&[]), ""),
    ];
    for (method, path, query, body) in good {
        let (operation, violations) =
            spec.check_request(method, path, &query, bearer, json, body.as_bytes());
        assert!(operation.is_some() && violations.is_empty(), "{method} {path}: {violations:?}");
    }
    // Rejected: what the spec does not allow.
    /// A request the spec rejects, and a word the violation must name.
    struct Bad {
        request: &'static str,
        query: Pairs,
        authorization: Option<&'static str>,
        body: &'static str,
        expected: &'static str,
    }
    let bad = |request, query, authorization, body, expected| Bad {
        request,
        query,
        authorization,
        body,
        expected,
    };
    let cases = [
        bad("GET /organization/projects/p/members", query(&[]), bearer, "", "not an operation"),
        bad("GET /organization/projects/p/users", query(&[]), None, "", "Bearer"),
        bad(
            "GET /organization/projects/p/users",
            query(&[("limit", "many")]),
            bearer,
            "",
            "`limit`",
        ),
        bad(
            "GET /organization/projects/p/users",
            query(&[("page", "2")]),
            bearer,
            "",
            "`page` is not declared",
        ),
        bad(
            "POST /organization/projects/p/users",
            query(&[]),
            bearer,
            r#"{"user_id": "u"}"#,
            "role",
        ),
        bad(
            "POST /organization/projects/p/rate_limits/rl",
            query(&[]),
            bearer,
            r#"{"max_requests_per_1_minute": "500"}"#,
            "max_requests_per_1_minute",
        ),
        bad(
            "POST /organization/projects/p/model_permissions",
            query(&[]),
            bearer,
            r#"{"mode": "block", "model_ids": []}"#,
            "mode",
        ),
        bad(
            "DELETE /organization/projects/p/users/u",
            query(&[]),
            bearer,
            r#"{"x": 1}"#,
            "takes none",
        ),
    ];
    for Bad { request, query, authorization, body, expected } in cases {
        let (method, path) = request.split_once(' ').expect("METHOD PATH");
        let (_, violations) =
            spec.check_request(method, path, &query, authorization, json, body.as_bytes());
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{request} {body}: expected a violation naming {expected}, got {violations:?}"
        );
    }
    // Responses: the documented example passes; a missing field, a wrong type, an undocumented
    // success status and a non-OpenAI error body do not.
    let (list, _) = spec.operation("GET", "/organization/projects/p/users").unwrap();
    let example = r#"{"object": "list", "data": [{"object": "organization.project.user",
        "id": "user_abc", "name": "First Last", "email": "user@example.com", "role": "owner",
        "added_at": 1711471533}], "first_id": "user-abc", "last_id": "user-xyz", "has_more": false}"#;
    assert_eq!(spec.check_response(list, 200, json, example.as_bytes()), Vec::<String>::new());
    let error = r#"{"error": {"message": "m", "type": "invalid_request_error", "param": null, "code": null}}"#;
    assert_eq!(spec.check_response(list, 401, json, error.as_bytes()), Vec::<String>::new());
    let cases = [
        (200, r#"{"object": "list", "data": []}"#, "has_more"),
        (
            200,
            r#"{"object": "list", "data": [{"object": "organization.project.user", "id": "u", "role": "owner", "added_at": "yesterday"}], "has_more": false}"#,
            "added_at",
        ),
        (201, r#"{}"#, "does not document"),
        (500, r#"{"message": "oops"}"#, "error"),
        (200, "not json", "not JSON"),
    ];
    for (status, body, expected) in cases {
        let violations = spec.check_response(list, status, json, body.as_bytes());
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{status} {body}: expected a violation naming {expected}, got {violations:?}"
        );
    }
}
