//! Checks requests and responses against the official OpenAPI v3 description of
//! `rbac.authorization.k8s.io/v1` (`tests/contract/specs/kubernetes-rbac-v1-openapi.json`,
//! vendored from kubernetes/kubernetes; source commit and licence in that folder's README).
//!
//! In-process, as the OpenAI tests do, so a violation is pinned on the test that caused it.
//!
//! What is checked, for every request: the path and method are an operation of the spec; the
//! `BearerToken` scheme (an `authorization` header) is met; every query parameter is one the
//! operation or its path declares, of its type; the body is present exactly when the
//! operation takes one, is JSON, and matches its schema (`ClusterRoleBinding`,
//! `DeleteOptions`…). For every response: a status the operation documents (200, 201, 202,
//! 401) matches its schema; any other status — the description leaves errors out, and the API
//! conventions say every error is a `Status` object — must carry a `meta/v1` `Status` whose
//! `code` is the HTTP status.
//!
//! The schemas are OpenAPI 3.0, validated as JSON Schema draft 4; each is compiled with the
//! component schemas it reaches through `$ref`, and cached.

use serde_json::{Map, Value, json};
use std::collections::HashMap;
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
    /// `get`, `post`, `put`, `delete`…
    pub method: String,
    /// The template (`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}`).
    pub template: String,
    /// The spec's `operationId`.
    pub id: String,
    pointer: String,
}

const STATUS: &str = "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status";

impl Spec {
    /// The description, parsed once.
    pub fn get() -> &'static Spec {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| {
            let path =
                crate::util::root().join("tests/contract/specs/kubernetes-rbac-v1-openapi.json");
            let text = fs_err::read_to_string(&path).unwrap_or_else(|error| {
                panic!("the Kubernetes OpenAPI description is needed: {error}")
            });
            Spec::new(serde_json::from_str(&text).expect("the spec is JSON"))
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

    /// How many operations the description has.
    pub fn operation_count(&self) -> usize {
        self.operations.len()
    }

    /// The operation `method path` and its path parameters; literal segments win over
    /// parameters.
    pub fn operation(&self, method: &str, path: &str) -> Option<(&Operation, Pairs)> {
        let method = method.to_ascii_lowercase();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
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
                    parameters.push((name.to_owned(), (*s).to_owned()));
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

    /// Checks a request; returns the operation and the violations found.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        authorization: Option<&str>,
        body: &[u8],
    ) -> (Option<&Operation>, Vec<String>) {
        let Some((operation, path_parameters)) = self.operation(method, path) else {
            return (None, vec![format!("{method} {path} is not an operation of the spec")]);
        };
        let what = format!("{method} {path} ({})", operation.id);
        let mut violations = Vec::new();
        let object = self.at(&operation.pointer);

        // BearerToken: `authorization` header, `Bearer <token>`.
        let scheme = &self.document["components"]["securitySchemes"]["BearerToken"];
        assert_eq!(scheme["name"], "authorization", "the spec's security scheme changed");
        let bearer = authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|token| !token.is_empty());
        if !bearer {
            violations.push(format!("{what}: no `authorization: Bearer` credential"));
        }

        let item_pointer = format!("/paths/{}", escape(&operation.template));
        let mut declared: Vec<&Value> = Vec::new();
        for list in [self.at(&item_pointer).get("parameters"), object.get("parameters")] {
            declared.extend(list.and_then(Value::as_array).into_iter().flatten());
        }
        let find = |place: &str, name: &str| {
            declared.iter().find(|p| p["in"] == place && p["name"] == name).copied()
        };
        for (name, value) in &path_parameters {
            match find("path", name) {
                Some(parameter) => self.check_parameter(&what, parameter, value, &mut violations),
                None => violations.push(format!("{what}: path parameter {name} is not declared")),
            }
        }
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
            if parameter["in"] == "query"
                && parameter["required"] == true
                && !query.iter().any(|(n, _)| n == name)
            {
                violations.push(format!("{what}: required query parameter `{name}` is missing"));
            }
        }

        match object.get("requestBody") {
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
                    let content = request_body["content"]
                        .get("*/*")
                        .or_else(|| request_body["content"].get("application/json"));
                    match content {
                        None => {
                            violations.push(format!("{what}: the operation takes no JSON body"))
                        }
                        Some(content) => self.check_json(
                            &what,
                            "request body",
                            &format!("{}/requestBody", operation.pointer),
                            &content["schema"],
                            body,
                            &mut violations,
                        ),
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
        let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_owned();
        let documented = self.at(&operation.pointer)["responses"].get(status.to_string());
        let (key, schema) = match documented {
            Some(response) => match response.get("content") {
                Some(content) => match content.get("application/json") {
                    Some(json) => (
                        format!("{}/responses/{status}", operation.pointer),
                        json["schema"].clone(),
                    ),
                    None => {
                        violations.push(format!("{what}: the spec documents no JSON body"));
                        return violations;
                    }
                },
                // 401: documented without a body; the API server still sends a Status.
                None => ("#status".to_owned(), json!({"$ref": STATUS})),
            },
            None if status >= 400 => ("#status".to_owned(), json!({"$ref": STATUS})),
            None => {
                violations.push(format!("{what}: a status the operation does not document"));
                return violations;
            }
        };
        if media != "application/json" {
            violations.push(format!("{what}: content type {media:?}, not application/json"));
        }
        self.check_json(&what, "response body", &key, &schema, body, &mut violations);
        if key == "#status" {
            let code = serde_json::from_slice::<Value>(body).ok().map(|v| v["code"].clone());
            if code != Some(json!(status)) || !body_has(body, "kind", "Status") {
                violations.push(format!(
                    "{what}: an error must be a Status object whose code is {status}"
                ));
            }
        }
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
        let typed = match parameter["schema"]["type"].as_str() {
            Some("integer") => value.parse::<i64>().ok().map(Value::from),
            Some("boolean") => value.parse::<bool>().ok().map(Value::from),
            _ => Some(Value::from(value)),
        };
        if typed.is_none() {
            violations.push(format!(
                "{what}: parameter `{name}` = {value:?} is not of type {}",
                parameter["schema"]["type"]
            ));
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
        let mut root = schema.as_object().cloned().expect("a schema object");
        root.insert("components".to_owned(), json!({ "schemas": components }));
        let validator = Arc::new(
            jsonschema::draft4::new(&Value::Object(root))
                .unwrap_or_else(|error| panic!("the spec's schema for {key} compiles: {error}")),
        );
        cache.insert(key.to_owned(), validator.clone());
        validator
    }
}

fn body_has(body: &[u8], field: &str, value: &str) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| v[field] == value)
}

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

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[test]
fn the_validator_accepts_what_the_spec_allows_and_rejects_what_it_does_not() {
    let spec = Spec::get();
    assert_eq!(spec.operation_count(), 41, "the vendored description is whole");
    let bearer = Some("Bearer t");
    let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let binding = r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "bg"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]}"#;
    let group = "/apis/rbac.authorization.k8s.io/v1";
    let good = [
        (
            "GET",
            format!("{group}/clusterrolebindings"),
            q(&[("limit", "500"), ("continue", "abc")]),
            "",
        ),
        (
            "POST",
            format!("{group}/clusterrolebindings"),
            q(&[("dryRun", "All"), ("fieldManager", "breakglass")]),
            binding,
        ),
        (
            "PUT",
            format!("{group}/clusterrolebindings/bg"),
            q(&[("fieldManager", "breakglass")]),
            binding,
        ),
        (
            "DELETE",
            format!("{group}/namespaces/ns/rolebindings/bg"),
            q(&[]),
            r#"{"preconditions": {"uid": "u", "resourceVersion": "3"}}"#,
        ),
        ("GET", format!("{group}/rolebindings"), q(&[("limit", "2")]), ""),
    ];
    for (method, path, query, body) in good {
        let (operation, violations) =
            spec.check_request(method, &path, &query, bearer, body.as_bytes());
        assert!(operation.is_some() && violations.is_empty(), "{method} {path}: {violations:?}");
    }
    let no_role_ref = r#"{"metadata": {"name": "bg"}, "subjects": []}"#;
    let bad_subject = r#"{"metadata": {"name": "bg"}, "roleRef": {"apiGroup": "x", "kind": "ClusterRole", "name": "a"}, "subjects": [{"kind": "User"}]}"#;
    let cases = [
        ("GET", format!("{group}/clusterrolebindings"), q(&[]), None, "", "Bearer"),
        (
            "GET",
            format!("{group}/clusterrolebindings"),
            q(&[("limit", "many")]),
            bearer,
            "",
            "`limit`",
        ),
        (
            "GET",
            format!("{group}/clusterrolebindings"),
            q(&[("page", "2")]),
            bearer,
            "",
            "`page` is not declared",
        ),
        ("POST", format!("{group}/clusterrolebindings"), q(&[]), bearer, no_role_ref, "roleRef"),
        ("POST", format!("{group}/clusterrolebindings"), q(&[]), bearer, bad_subject, "name"),
        ("POST", format!("{group}/clusterrolebindings"), q(&[]), bearer, "", "required body"),
        ("GET", format!("{group}/clusterrolebindings/x"), q(&[]), bearer, "{}", "takes none"),
        ("GET", format!("{group}/pods"), q(&[]), bearer, "", "not an operation"),
    ];
    for (method, path, query, authorization, body, expected) in cases {
        let (_, violations) =
            spec.check_request(method, &path, &query, authorization, body.as_bytes());
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{method} {path} {body}: expected a violation naming {expected}, got {violations:?}"
        );
    }
    let (list, _) = spec.operation("GET", &format!("{group}/clusterrolebindings")).unwrap();
    let page = r#"{"kind": "ClusterRoleBindingList", "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"resourceVersion": "9", "continue": "t"}, "items": []}"#;
    assert_eq!(
        spec.check_response(list, 200, Some("application/json"), page.as_bytes()),
        Vec::<String>::new()
    );
    let gone = r#"{"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "too old", "reason": "Expired", "code": 410}"#;
    assert_eq!(
        spec.check_response(list, 410, Some("application/json"), gone.as_bytes()),
        Vec::<String>::new()
    );
    let cases = [
        (200, r#"{"metadata": {}}"#, "items"),
        (200, r#"{"items": [{"metadata": {"name": 7}, "roleRef": {}}]}"#, "items"),
        (410, r#"{"message": "gone"}"#, "Status object whose code is 410"),
        (409, r#"{"kind": "Status", "code": 500}"#, "code is 409"),
        (204, "", "does not document"),
    ];
    for (status, body, expected) in cases {
        let violations =
            spec.check_response(list, status, Some("application/json"), body.as_bytes());
        assert!(violations.iter().any(|v| v.contains(expected)), "{status} {body}: {violations:?}");
    }
}
