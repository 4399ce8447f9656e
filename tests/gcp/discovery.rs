//! Checks requests and responses against Google's own discovery document for Cloud Resource
//! Manager v3 (`tests/contract/specs/cloudresourcemanager-v3.json`; source and licence in that
//! folder's README).
//!
//! A discovery document is not JSON Schema: it names each method's HTTP method, its `flatPath`
//! (`v3/projects/{projectsId}:getIamPolicy`) and `path` (`v3/{+resource}:getIamPolicy`, where
//! `{+x}` may span slashes), its parameters (`location` path or query, `required`, `type`,
//! `pattern`, `enum`), its OAuth scopes, and its request and response schemas by `$ref`;
//! schemas have `type`, `properties`, `additionalProperties`, `items`, `$ref`, `enum` and
//! `format` (`int32`, `byte`, `google-datetime`, `google-fieldmask`). This module checks
//! exactly those, which is all the document says:
//!
//! - every request: the method exists for that HTTP method and path; each path parameter
//!   matches its `pattern`; each query parameter is declared (by the method or globally), of
//!   its type and enum; required ones are there; the body is JSON of the request schema when
//!   the method takes one, and absent otherwise; the bearer token's scopes include one of the
//!   method's scopes.
//! - every answer: a 2xx body matches the response schema; an error body is Google's error
//!   envelope (`{"error": Status}` with the HTTP status as `code`, a `message`, and `status`,
//!   one of `google.rpc.Code`'s names, as the API Design Guide's error model documents it).
//!
//! Objects may hold only the properties their schema declares: Google's JSON parser refuses
//! unknown fields (`Invalid JSON payload received. Unknown name "x"`), so the contract
//! server must neither accept nor send one.

use regex::Regex;
use serde_json::Value;
use std::sync::OnceLock;

/// The parsed document.
pub struct Discovery {
    document: Value,
    methods: Vec<Method>,
}

/// One method of the document.
#[derive(Debug)]
pub struct Method {
    /// `cloudresourcemanager.projects.getIamPolicy`.
    pub id: String,
    /// `POST`, `GET`…
    pub http_method: String,
    flat_path: Regex,
    verb: Option<String>,
    literal_length: usize,
    path: Regex,
    path_names: Vec<String>,
    definition: Value,
}

/// The `google.rpc.Code` names an error's `status` may hold (API Design Guide, "Errors").
pub const RPC_CODES: [(&str, u16); 16] = [
    ("CANCELLED", 499),
    ("UNKNOWN", 500),
    ("INVALID_ARGUMENT", 400),
    ("DEADLINE_EXCEEDED", 504),
    ("NOT_FOUND", 404),
    ("ALREADY_EXISTS", 409),
    ("PERMISSION_DENIED", 403),
    ("UNAUTHENTICATED", 401),
    ("RESOURCE_EXHAUSTED", 429),
    ("FAILED_PRECONDITION", 400),
    ("ABORTED", 409),
    ("OUT_OF_RANGE", 400),
    ("UNIMPLEMENTED", 501),
    ("INTERNAL", 500),
    ("UNAVAILABLE", 503),
    ("DATA_LOSS", 500),
];

/// Where the document is: vendored in the repository.
pub fn document_path() -> std::path::PathBuf {
    crate::util::root().join("tests/contract/specs/cloudresourcemanager-v3.json")
}

impl Discovery {
    /// The document, parsed once.
    pub fn get() -> &'static Discovery {
        static DOCUMENT: OnceLock<Discovery> = OnceLock::new();
        DOCUMENT.get_or_init(|| {
            let text = fs_err::read_to_string(document_path()).unwrap_or_else(|error| {
                panic!(
                    "Google's discovery document is needed to check the contract server: \
                     {error}. It is vendored at tests/contract/specs/cloudresourcemanager-v3.json"
                )
            });
            Discovery::new(serde_json::from_str(&text).expect("the document is JSON"))
        })
    }

    fn new(document: Value) -> Self {
        assert_eq!(document["kind"], "discovery#restDescription", "a discovery document");
        let mut methods = Vec::new();
        let mut pending = vec![&document["resources"]];
        while let Some(resources) = pending.pop() {
            for resource in resources.as_object().into_iter().flat_map(|r| r.values()) {
                for definition in
                    resource["methods"].as_object().into_iter().flat_map(|m| m.values())
                {
                    methods.push(Method::new(definition));
                }
                pending.push(&resource["resources"]);
            }
        }
        Self { document, methods }
    }

    /// The number of methods, for a sanity check.
    pub fn method_count(&self) -> usize {
        self.methods.len()
    }

    /// The method `http_method path` (`path` without the leading `/`), and its path
    /// parameters, decoded. Where several templates match, the most literal wins.
    pub fn method(
        &self,
        http_method: &str,
        path: &str,
    ) -> Option<(&Method, Vec<(String, String)>)> {
        let (path, verb) = split_verb(path);
        let method = self
            .methods
            .iter()
            .filter(|m| {
                m.http_method.eq_ignore_ascii_case(http_method)
                    && m.verb.as_deref() == verb
                    && m.flat_path.is_match(path)
            })
            .max_by_key(|m| m.literal_length)?;
        let captures = method.path.captures(path)?;
        let parameters = method
            .path_names
            .iter()
            .zip(captures.iter().skip(1))
            .map(|(name, value)| (name.clone(), percent_decode(value.map_or("", |v| v.as_str()))))
            .collect();
        Some((method, parameters))
    }

    /// Checks a request; returns its method and the violations found. `scopes` are the scopes
    /// the bearer token was issued for (`None`: no valid token was presented).
    pub fn check_request(
        &self,
        http_method: &str,
        path: &str,
        query: &[(String, String)],
        scopes: Option<&[String]>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (Option<&Method>, Vec<String>) {
        let Some((method, path_parameters)) = self.method(http_method, path) else {
            return (None, vec![format!("{http_method} /{path} is not a method of the document")]);
        };
        let what = format!("{http_method} /{path} ({})", method.id);
        let mut violations = Vec::new();
        let declared = &method.definition["parameters"];
        for (name, value) in &path_parameters {
            let parameter = &declared[name];
            if parameter["location"] != "path" {
                violations.push(format!("{what}: path parameter {name} is not declared"));
                continue;
            }
            self.check_parameter(&what, name, parameter, value, &mut violations);
        }
        for (name, value) in query {
            let parameter = match &declared[name] {
                Value::Null => &self.document["parameters"][name],
                parameter => parameter,
            };
            if parameter["location"] != "query" {
                violations.push(format!("{what}: query parameter `{name}` is not declared"));
                continue;
            }
            self.check_parameter(&what, name, parameter, value, &mut violations);
        }
        for (name, parameter) in declared.as_object().into_iter().flatten() {
            let sent = path_parameters.iter().any(|(n, _)| n == name)
                || query.iter().any(|(n, _)| n == name);
            if parameter["required"] == true && !sent {
                violations.push(format!("{what}: required parameter `{name}` is missing"));
            }
        }

        match scopes {
            None => violations.push(format!("{what}: no valid `Authorization: Bearer` token")),
            Some(granted) => {
                let accepted = method.definition["scopes"].as_array().into_iter().flatten();
                let accepted: Vec<&str> = accepted.filter_map(Value::as_str).collect();
                if !accepted.iter().any(|scope| granted.iter().any(|g| g == scope)) {
                    violations.push(format!(
                        "{what}: the token's scopes {granted:?} include none the method \
                         accepts ({accepted:?})"
                    ));
                }
            }
        }

        match method.definition.get("request") {
            None if !body.is_empty() => {
                violations.push(format!("{what}: sends a body, but the method takes none"));
            }
            None => {}
            Some(request) => {
                let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
                if media != "application/json" {
                    violations.push(format!("{what}: body of content type {media:?}, not JSON"));
                }
                match serde_json::from_slice::<Value>(body) {
                    Ok(instance) => self.check(
                        request,
                        &instance,
                        &format!("{what}: request body"),
                        &mut violations,
                    ),
                    Err(error) => {
                        violations.push(format!("{what}: the request body is not JSON ({error})"))
                    }
                }
            }
        }
        (Some(method), violations)
    }

    /// Checks an answer to `method`.
    pub fn check_response(
        &self,
        method: &Method,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<String> {
        let what = format!("{} answered {status}", method.id);
        let mut violations = Vec::new();
        let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
        if media != "application/json" {
            violations.push(format!("{what}: content type {media:?}, not application/json"));
        }
        let instance: Value = match serde_json::from_slice(body) {
            Ok(instance) => instance,
            Err(error) => {
                violations.push(format!("{what}: the body is not JSON ({error})"));
                return violations;
            }
        };
        if (200..300).contains(&status) {
            match method.definition.get("response") {
                Some(response) => {
                    self.check(response, &instance, &format!("{what}: body"), &mut violations)
                }
                None if instance == Value::Object(Default::default()) => {}
                None => violations.push(format!("{what}: a body, where the method returns none")),
            }
        } else {
            self.check_error(&what, status, &instance, &mut violations);
        }
        violations
    }

    /// Google's error envelope: `{"error": {"code", "message", "status", "details"}}`, with
    /// `code`, `message` and `details` as the document's `Status` schema has them.
    fn check_error(&self, what: &str, status: u16, instance: &Value, violations: &mut Vec<String>) {
        let Some(error) =
            instance.get("error").filter(|_| instance.as_object().is_some_and(|o| o.len() == 1))
        else {
            violations
                .push(format!("{what}: an error body that is not {{\"error\": …}}: {instance}"));
            return;
        };
        let mut status_object = error.clone();
        let name = status_object.as_object_mut().and_then(|o| o.remove("status"));
        self.check(
            &serde_json::json!({"$ref": "Status"}),
            &status_object,
            &format!("{what}: error"),
            violations,
        );
        if error["code"] != status {
            violations.push(format!("{what}: error.code {} is not the HTTP status", error["code"]));
        }
        if !error["message"].is_string() {
            violations.push(format!("{what}: error.message is missing"));
        }
        match name.as_ref().and_then(Value::as_str) {
            Some(name) if RPC_CODES.iter().any(|(code, http)| *code == name && *http == status) => {
            }
            other => violations.push(format!(
                "{what}: error.status {other:?} is not a google.rpc.Code name for HTTP {status}"
            )),
        }
    }

    fn check_parameter(
        &self,
        what: &str,
        name: &str,
        parameter: &Value,
        value: &str,
        violations: &mut Vec<String>,
    ) {
        let typed = match parameter["type"].as_str() {
            Some("integer") => value.parse::<i64>().is_ok(),
            Some("boolean") => matches!(value, "true" | "false"),
            _ => true,
        };
        if !typed {
            violations.push(format!(
                "{what}: parameter `{name}` = {value:?} is not a {}",
                parameter["type"]
            ));
        }
        if let Some(pattern) = parameter["pattern"].as_str() {
            let pattern =
                Regex::new(pattern).expect("the document's patterns are regular expressions");
            if !pattern.is_match(value) {
                violations.push(format!(
                    "{what}: parameter `{name}` = {value:?} does not match {pattern}"
                ));
            }
        }
        if let Some(allowed) = parameter["enum"].as_array()
            && !allowed.iter().any(|a| a == value)
        {
            violations
                .push(format!("{what}: parameter `{name}` = {value:?} is not one of {allowed:?}"));
        }
    }

    /// Checks `instance` against a schema of the document.
    pub fn check(&self, schema: &Value, instance: &Value, at: &str, violations: &mut Vec<String>) {
        if let Some(name) = schema.get("$ref").and_then(Value::as_str) {
            let target = &self.document["schemas"][name];
            assert!(!target.is_null(), "the document refers to a missing schema {name}");
            return self.check(target, instance, at, violations);
        }
        let wrong = |expected: &str| format!("{at}: expected {expected}, got {instance}");
        match schema["type"].as_str() {
            Some("object") => {
                let Some(object) = instance.as_object() else {
                    violations.push(wrong("an object"));
                    return;
                };
                for (key, value) in object {
                    let here = format!("{at}.{key}");
                    match (schema["properties"].get(key), schema.get("additionalProperties")) {
                        (Some(property), _) => self.check(property, value, &here, violations),
                        (None, Some(additional)) => {
                            self.check(additional, value, &here, violations)
                        }
                        (None, None) => violations.push(format!(
                            "{here}: unknown field (the schema declares {:?})",
                            schema["properties"].as_object().map(|p| p.keys().collect::<Vec<_>>())
                        )),
                    }
                }
            }
            Some("array") => match instance.as_array() {
                Some(items) => {
                    for (index, item) in items.iter().enumerate() {
                        self.check(&schema["items"], item, &format!("{at}[{index}]"), violations);
                    }
                }
                None => violations.push(wrong("an array")),
            },
            Some("string") => match instance.as_str() {
                Some(text) => {
                    if let Some(problem) = format_problem(schema["format"].as_str(), text) {
                        violations.push(format!("{at}: {text:?} {problem}"));
                    }
                    if let Some(allowed) = schema["enum"].as_array()
                        && !allowed.iter().any(|a| a == instance)
                    {
                        violations.push(format!("{at}: {instance} is not one of {allowed:?}"));
                    }
                }
                None => violations.push(wrong("a string")),
            },
            Some("integer") => match instance.as_i64() {
                Some(n) if schema["format"] == "int32" && i32::try_from(n).is_err() => {
                    violations.push(format!("{at}: {n} is out of int32 range"))
                }
                Some(_) => {}
                None => violations.push(wrong("an integer")),
            },
            Some("number") if !instance.is_number() => violations.push(wrong("a number")),
            Some("boolean") if !instance.is_boolean() => violations.push(wrong("a boolean")),
            Some("any") | None | Some(_) => {}
        }
    }
}

impl Method {
    fn new(definition: &Value) -> Self {
        let text = |key: &str| definition[key].as_str().unwrap_or_default().to_owned();
        let flat = text("flatPath");
        let (flat, verb) = split_verb(&flat);
        let (flat_path, _) = template_regex(flat);
        let literal_length = flat
            .split('{')
            .map(|part| part.split_once('}').map_or(part, |(_, rest)| rest).len())
            .sum();
        let path = text("path");
        let (path, path_verb) = split_verb(&path);
        assert_eq!(verb, path_verb, "a method's flatPath and path have one custom verb");
        let (path, path_names) = template_regex(path);
        Self {
            id: text("id"),
            http_method: text("httpMethod"),
            flat_path,
            verb: verb.map(str::to_owned),
            literal_length,
            path,
            path_names,
            definition: definition.clone(),
        }
    }
}

/// A path and its custom verb (`v3/projects/p:getIamPolicy` → `v3/projects/p`,
/// `getIamPolicy`): in Google's path templates the verb is what follows the last `:` of the
/// last segment, so a segment variable never spans it.
fn split_verb(path: &str) -> (&str, Option<&str>) {
    let last_segment = path.rfind('/').map_or(0, |slash| slash + 1);
    match path[last_segment..].rfind(':') {
        Some(colon) if !path[last_segment + colon + 1..].contains('}') => {
            (&path[..last_segment + colon], Some(&path[last_segment + colon + 1..]))
        }
        _ => (path, None),
    }
}

/// A URI template as an anchored regular expression: `{x}` matches one segment, `{+x}` any
/// text (RFC 6570 reserved expansion); the variables' names in order.
fn template_regex(template: &str) -> (Regex, Vec<String>) {
    let mut pattern = String::from("^");
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        pattern.push_str(&regex::escape(&rest[..start]));
        let end = rest[start..].find('}').expect("a closed template variable") + start;
        let variable = &rest[start + 1..end];
        match variable.strip_prefix('+') {
            Some(name) => {
                pattern.push_str("(.+)");
                names.push(name.to_owned());
            }
            None => {
                pattern.push_str("([^/]+)");
                names.push(variable.to_owned());
            }
        }
        rest = &rest[end + 1..];
    }
    pattern.push_str(&regex::escape(rest));
    pattern.push('$');
    (Regex::new(&pattern).expect("a template makes a regular expression"), names)
}

/// Why `text` does not have the discovery `format`, if it does not.
fn format_problem(format: Option<&str>, text: &str) -> Option<&'static str> {
    use base64::Engine;
    match format {
        Some("byte") => {
            let standard = base64::engine::general_purpose::STANDARD.decode(text).is_ok();
            let url_safe = base64::engine::general_purpose::URL_SAFE.decode(text).is_ok();
            (!standard && !url_safe).then_some("is not base64 (format byte)")
        }
        Some("int64" | "uint64") => {
            text.parse::<i128>().is_err().then_some("is not a decimal integer (format int64)")
        }
        Some("google-datetime") => text
            .parse::<jiff::Timestamp>()
            .is_err()
            .then_some("is not an RFC 3339 time (format google-datetime)"),
        Some("google-fieldmask") => text
            .split(',')
            .any(|path| {
                let path = path.trim();
                path.is_empty()
                    || !path.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
            })
            .then_some("is not a field mask (format google-fieldmask)"),
        _ => None,
    }
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[test]
fn the_validator_accepts_the_documents_own_examples_and_rejects_what_it_does_not() {
    let discovery = Discovery::get();
    assert!(discovery.method_count() > 50, "{} methods", discovery.method_count());
    let cloud = vec!["https://www.googleapis.com/auth/cloud-platform".to_owned()];
    let read_only = vec!["https://www.googleapis.com/auth/cloud-platform.read-only".to_owned()];
    let json = Some("application/json");
    let get = br#"{"options": {"requestedPolicyVersion": 3}}"#;
    // The Policy's own JSON example, from the document's description.
    let example = br#"{"policy": {"bindings": [{"role": "roles/resourcemanager.organizationAdmin",
        "members": ["user:mike@example.com", "group:admins@example.com", "domain:google.com",
        "serviceAccount:my-project-id@appspot.gserviceaccount.com"]}, {"role":
        "roles/resourcemanager.organizationViewer", "members": ["user:eve@example.com"],
        "condition": {"title": "expirable access", "description": "Does not grant access after Sep 2020",
        "expression": "request.time < timestamp('2020-10-01T00:00:00.000Z')"}}],
        "etag": "BwWWja0YfJA=", "version": 3}}"#;
    let good: [(&str, &str, &[u8], &Vec<String>); 5] = [
        ("POST", "v3/projects/prod:getIamPolicy", get, &cloud),
        ("POST", "v3/projects/prod:getIamPolicy", get, &read_only),
        ("POST", "v3/folders/123:getIamPolicy", get, &cloud),
        ("POST", "v3/organizations/456:setIamPolicy", example, &cloud),
        ("POST", "v3/projects/prod:setIamPolicy", example, &cloud),
    ];
    for (method, path, body, scopes) in good {
        let (found, violations) =
            discovery.check_request(method, path, &[], Some(scopes), json, body);
        assert!(found.is_some() && violations.is_empty(), "{method} {path}: {violations:?}");
    }
    let (found, _) = discovery.check_request(
        "POST",
        "v3/folders/123:getIamPolicy",
        &[],
        Some(&cloud),
        json,
        get,
    );
    assert_eq!(found.unwrap().id, "cloudresourcemanager.folders.getIamPolicy");

    let query = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    /// A request the document rejects (method, path, query, token scopes, body), and a word
    /// the violation must hold.
    type Bad<'a> =
        (&'a str, &'a str, Vec<(String, String)>, Option<&'a Vec<String>>, &'a [u8], &'a str);
    let cases: [Bad; 9] = [
        ("POST", "v3/projects/prod:grantAccess", query(&[]), Some(&cloud), get, "not a method"),
        ("GET", "v3/projects/prod:getIamPolicy", query(&[]), Some(&cloud), b"", "not a method"),
        (
            "POST",
            "v3/projects/prod:getIamPolicy",
            query(&[("page", "2")]),
            Some(&cloud),
            get,
            "`page` is not declared",
        ),
        (
            "POST",
            "v3/projects/prod:getIamPolicy",
            query(&[("alt", "xml")]),
            Some(&cloud),
            get,
            "not one of",
        ),
        ("POST", "v3/projects/prod:getIamPolicy", query(&[]), None, get, "Bearer"),
        ("POST", "v3/projects/prod:setIamPolicy", query(&[]), Some(&read_only), example, "scopes"),
        (
            "POST",
            "v3/projects/prod:getIamPolicy",
            query(&[]),
            Some(&cloud),
            br#"{"options": {"requestedPolicyVersion": "3"}}"#,
            "integer",
        ),
        (
            "POST",
            "v3/projects/prod:setIamPolicy",
            query(&[]),
            Some(&cloud),
            br#"{"policy": {"etag": "not base64!"}}"#,
            "format byte",
        ),
        (
            "POST",
            "v3/projects/prod:setIamPolicy",
            query(&[]),
            Some(&cloud),
            br#"{"policy": {"bindings": [{"role": "r", "principals": []}]}}"#,
            "unknown field",
        ),
    ];
    for (method, path, query, scopes, body, expected) in cases {
        let (_, violations) =
            discovery.check_request(method, path, &query, scopes.map(Vec::as_slice), json, body);
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{method} {path}: expected a violation naming {expected}, got {violations:?}"
        );
    }
    let (method, _) = discovery.method("POST", "v3/projects/prod:getIamPolicy").unwrap();
    let policy = br#"{"version": 1, "etag": "BwWWja0YfJA=", "bindings": [{"role": "roles/viewer", "members": ["user:a@example.com"]}]}"#;
    assert_eq!(discovery.check_response(method, 200, json, policy), Vec::<String>::new());
    let error = br#"{"error": {"code": 409, "message": "There were concurrent policy changes.", "status": "ABORTED"}}"#;
    assert_eq!(discovery.check_response(method, 409, json, error), Vec::<String>::new());
    let cases: [(u16, &[u8], &str); 4] = [
        (200, br#"{"version": "1"}"#, "integer"),
        (200, br#"{"bindings": [{"role": "r", "members": "user:a"}]}"#, "array"),
        (
            409,
            br#"{"error": {"code": 409, "message": "m", "status": "CONFLICT"}}"#,
            "google.rpc.Code",
        ),
        (403, br#"{"message": "denied"}"#, "not {\"error\""),
    ];
    for (status, body, expected) in cases {
        let violations = discovery.check_response(method, status, json, body);
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{status}: expected {expected}, got {violations:?}"
        );
    }
}
