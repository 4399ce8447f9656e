//! Checks requests and responses against Azure's own OpenAPI (Swagger 2.0) descriptions of the
//! endpoints the `azure` provider uses, vendored from Azure/azure-rest-api-specs under
//! `tests/contract/specs/azure-rest-api-specs/` (source commit and licence in
//! `tests/contract/specs/README.md`): role assignments (2022-04-01) and role assignment
//! schedule requests, schedules and schedule instances (2020-10-01), with the common types they
//! refer to from other files.
//!
//! Why a small validator of our own: the descriptions are Swagger 2.0 with Azure's extensions
//! (`x-ms-*`), spread over files that refer to each other (`../../../../../common-types/…`),
//! and the meaning that matters is Azure's, not plain JSON Schema's: `readOnly` properties are
//! never sent by a client, a `$ref` keeps the `readOnly` beside it, one path parameter
//! (`{scope}`) is a whole resource id, and each file describes exactly one `api-version`. The
//! parts these endpoints use are few, so they are checked here, directly:
//!
//! - **Requests**: the path and method are an operation of a file whose `info.version` is the
//!   `api-version` sent; every path and query parameter is declared, of its type, length and
//!   enum, and every required one is there (`$skipToken` is accepted on pageable operations:
//!   ARM puts it in the opaque `nextLink`); the `azure_auth` security (a bearer token) is met;
//!   the body is there exactly when the operation takes one, is JSON, matches the body schema,
//!   and holds no `readOnly` property.
//! - **Responses**: the status is one the operation lists (an error status may use its
//!   `default`, which ARM reserves for errors); a body is JSON and matches the schema, and a
//!   response without a schema has no body.
//! - **Schemas**: `$ref` (across files), `allOf`, `type`, `properties`, `required`,
//!   `additionalProperties`, `items`, `enum` (strictly: a value the description does not list is
//!   a violation, even where `x-ms-enum` says the set may grow), `format: date-time` (RFC 3339),
//!   `minLength`/`maxLength`. A property the schema does not declare is a violation, in both
//!   directions. `null` is accepted for an optional property (Azure's own examples send it for
//!   unset values) and refused for a required one.
//!
//! Left out, because these endpoints do not use them: `discriminator`, `pattern`, header
//! parameters, and the by-id operations (`/{roleAssignmentId}`), which are the by-scope-and-name
//! calls spelled as one parameter and would otherwise match any path.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// Name-value pairs: a query, or the parameters a path template matched.
pub type Pairs = Vec<(String, String)>;

/// The vendored copy of the specification repository.
const ROOT: &str = "tests/contract/specs/azure-rest-api-specs";

/// The files whose operations the provider calls.
pub const API_FILES: [&str; 4] = [
    "specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleAssignmentsCalls.json",
    "specification/authorization/resource-manager/Microsoft.Authorization/stable/2020-10-01/RoleAssignmentScheduleRequest.json",
    "specification/authorization/resource-manager/Microsoft.Authorization/stable/2020-10-01/RoleAssignmentSchedule.json",
    "specification/authorization/resource-manager/Microsoft.Authorization/stable/2020-10-01/RoleAssignmentScheduleInstance.json",
];

/// The descriptions, and the operations they hold.
pub struct Swagger {
    files: BTreeMap<String, Value>,
    operations: Vec<Operation>,
}

/// One operation: a method on a path template, in one file (one `api-version`).
#[derive(Debug, Clone)]
pub struct Operation {
    /// The file (relative to the repository's root).
    pub file: String,
    /// The file's `info.version`: the `api-version` of its operations.
    pub api_version: String,
    /// `get`, `put`, `delete`…
    pub method: String,
    /// The template, as the file writes it.
    pub template: String,
    /// The `operationId`.
    pub id: String,
    /// Whether the operation is `x-ms-pageable`.
    pub pageable: bool,
}

/// A JSON value and the file it is in (where its `$ref`s resolve).
#[derive(Clone, Copy)]
struct Node<'a> {
    file: &'a str,
    value: &'a Value,
}

/// Whether a body goes to Azure or comes from it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

impl Swagger {
    /// The descriptions, parsed once.
    pub fn get() -> &'static Swagger {
        static SWAGGER: OnceLock<Swagger> = OnceLock::new();
        SWAGGER.get_or_init(Swagger::load)
    }

    fn load() -> Self {
        let root = crate::util::root().join(ROOT);
        let mut files = BTreeMap::new();
        let mut pending: Vec<String> = API_FILES.iter().map(|f| (*f).to_owned()).collect();
        while let Some(file) = pending.pop() {
            if files.contains_key(&file) {
                continue;
            }
            let text = fs_err::read_to_string(root.join(&file)).unwrap_or_else(|error| {
                panic!(
                    "Azure's OpenAPI descriptions are needed to check the contract server: \
                     {error}. They are vendored under {ROOT}"
                )
            });
            let document: Value = serde_json::from_str(&text).expect("a description is JSON");
            let mut references = Vec::new();
            collect_references(&document, &mut references);
            for reference in references {
                let (path, _) = reference.split_once('#').unwrap_or((&reference, ""));
                if !path.is_empty() {
                    pending.push(join(&file, path));
                }
            }
            files.insert(file, document);
        }
        let mut operations = Vec::new();
        for file in API_FILES {
            let document = &files[file];
            let api_version = document["info"]["version"].as_str().expect("info.version");
            for (template, item) in document["paths"].as_object().expect("paths") {
                let segments: Vec<&str> = template.trim_start_matches('/').split('/').collect();
                if segments.len() == 1 {
                    continue; // the by-id form, see the module's documentation
                }
                for (method, operation) in item.as_object().expect("a path item") {
                    if !matches!(method.as_str(), "get" | "put" | "patch" | "post" | "delete") {
                        continue;
                    }
                    operations.push(Operation {
                        file: file.to_owned(),
                        api_version: api_version.to_owned(),
                        method: method.clone(),
                        template: template.clone(),
                        id: operation["operationId"].as_str().unwrap_or_default().to_owned(),
                        pageable: operation.get("x-ms-pageable").is_some(),
                    });
                }
            }
        }
        Self { files, operations }
    }

    /// The operation object of `operation`.
    fn object(&self, operation: &Operation) -> Node<'_> {
        let file = self.files.get_key_value(&operation.file).expect("a loaded file");
        Node { file: file.0, value: &file.1["paths"][&operation.template][&operation.method] }
    }

    /// Follows `$ref`s to what they name.
    fn resolve<'a>(&'a self, node: Node<'a>) -> Node<'a> {
        let Some(reference) = node.value.get("$ref").and_then(Value::as_str) else {
            return node;
        };
        let (path, pointer) = reference.split_once('#').unwrap_or((reference, ""));
        let file = if path.is_empty() { node.file.to_owned() } else { join(node.file, path) };
        let (file, document) = self
            .files
            .get_key_value(&file)
            .unwrap_or_else(|| panic!("the description refers to a file not vendored: {file}"));
        let value = document
            .pointer(pointer)
            .unwrap_or_else(|| panic!("the description refers to a missing {file}#{pointer}"));
        self.resolve(Node { file, value })
    }

    /// The operation `method path` answers for `api-version`, and its path parameters; or why
    /// there is none.
    pub fn operation(
        &self,
        method: &str,
        path: &str,
        api_version: Option<&str>,
    ) -> Result<(&Operation, Pairs), String> {
        let method = method.to_ascii_lowercase();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<(&Operation, Pairs, usize)> = None;
        let mut other_versions = BTreeSet::new();
        for operation in self.operations.iter().filter(|o| o.method == method) {
            let template: Vec<&str> =
                operation.template.trim_start_matches('/').split('/').collect();
            let mut parameters = Vec::new();
            if !match_path(&template, &segments, &mut parameters) {
                continue;
            }
            if Some(operation.api_version.as_str()) != api_version {
                other_versions.insert(operation.api_version.clone());
                continue;
            }
            let literals = template.iter().filter(|t| !t.starts_with('{')).count();
            if best.as_ref().is_none_or(|(_, _, l)| literals > *l) {
                best = Some((operation, parameters, literals));
            }
        }
        match best {
            Some((operation, parameters, _)) => Ok((operation, parameters)),
            None if !other_versions.is_empty() => Err(format!(
                "{} {path}: api-version {} is not one the descriptions give this path (they give \
                 {})",
                method.to_uppercase(),
                api_version.unwrap_or("(none)"),
                other_versions.into_iter().collect::<Vec<_>>().join(", ")
            )),
            None => Err(format!(
                "{} {path} is not an operation of the descriptions",
                method.to_uppercase()
            )),
        }
    }

    /// Checks a request; returns its operation and the violations found.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (Option<&Operation>, Vec<String>) {
        let api_version =
            query.iter().find(|(name, _)| name == "api-version").map(|(_, v)| v.as_str());
        let (operation, path_parameters) = match self.operation(method, path, api_version) {
            Ok(found) => found,
            Err(why) => return (None, vec![why]),
        };
        let what = format!("{} {path} ({})", method.to_uppercase(), operation.id);
        let mut violations = Vec::new();
        let object = self.object(operation);
        let document = &self.files[&operation.file];

        let needs_bearer = document["security"].as_array().is_some_and(|s| !s.is_empty());
        let bearer = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|token| !token.trim().is_empty());
        if needs_bearer && !bearer {
            violations.push(format!("{what}: no `Authorization: Bearer` token (azure_auth)"));
        }

        let mut declared: Vec<Node<'_>> = Vec::new();
        let item = Node { file: object.file, value: &document["paths"][&operation.template] };
        for list in [item.value.get("parameters"), object.value.get("parameters")] {
            for parameter in list.and_then(Value::as_array).into_iter().flatten() {
                declared.push(self.resolve(Node { file: object.file, value: parameter }));
            }
        }
        let find = |place: &str, name: &str| {
            declared.iter().find(|p| p.value["in"] == place && p.value["name"] == name).copied()
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
                // ARM's nextLink is opaque, and carries its skip token.
                None if name == "$skipToken" && operation.pageable => {}
                None => {
                    violations.push(format!("{what}: query parameter `{name}` is not declared"))
                }
            }
        }
        let sent: BTreeSet<&str> = query.iter().map(|(name, _)| name.as_str()).collect();
        for parameter in &declared {
            let name = parameter.value["name"].as_str().unwrap_or_default();
            if parameter.value["in"] == "query"
                && parameter.value["required"] == true
                && !sent.contains(name)
            {
                violations.push(format!("{what}: required query parameter `{name}` is missing"));
            }
        }

        match declared.iter().find(|p| p.value["in"] == "body") {
            None if !body.is_empty() => {
                violations.push(format!("{what}: sends a body, but the operation takes none"));
            }
            None => {}
            Some(parameter) if body.is_empty() && parameter.value["required"] == true => {
                violations.push(format!("{what}: the required body is missing"));
            }
            Some(_) if body.is_empty() => {}
            Some(parameter) => {
                let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
                if media != "application/json" {
                    violations.push(format!(
                        "{what}: a body of content type {media:?}, not application/json"
                    ));
                }
                match serde_json::from_slice::<Value>(body) {
                    Err(error) => {
                        violations.push(format!("{what}: the body is not JSON ({error})"))
                    }
                    Ok(instance) => self.check_value(
                        Node { file: parameter.file, value: &parameter.value["schema"] },
                        &instance,
                        "body",
                        Direction::Request,
                        &format!("{what}: request"),
                        &mut violations,
                    ),
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
        let object = self.object(operation);
        let responses = &object.value["responses"];
        let documented = responses
            .get(status.to_string())
            .or_else(|| if status >= 400 { responses.get("default") } else { None });
        let Some(documented) = documented else {
            return vec![format!("{what}: a status the operation does not document")];
        };
        let response = self.resolve(Node { file: object.file, value: documented });
        let Some(schema) = response.value.get("schema") else {
            return if body.is_empty() {
                Vec::new()
            } else {
                vec![format!("{what}: a body, where the description documents none")]
            };
        };
        let mut violations = Vec::new();
        let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
        if media != "application/json" {
            violations.push(format!("{what}: content type {media:?}, not application/json"));
        }
        match serde_json::from_slice::<Value>(body) {
            Err(error) => violations.push(format!("{what}: the body is not JSON ({error})")),
            Ok(instance) => self.check_value(
                Node { file: response.file, value: schema },
                &instance,
                "body",
                Direction::Response,
                &what,
                &mut violations,
            ),
        }
        violations
    }

    fn check_parameter(
        &self,
        what: &str,
        parameter: Node<'_>,
        value: &str,
        violations: &mut Vec<String>,
    ) {
        let name = parameter.value["name"].as_str().unwrap_or_default();
        let typed = match parameter.value["type"].as_str() {
            Some("integer") => value.parse::<i64>().ok().map(Value::from),
            Some("number") => value.parse::<f64>().ok().map(Value::from),
            Some("boolean") => value.parse::<bool>().ok().map(Value::from),
            _ => Some(Value::from(value)),
        };
        let Some(typed) = typed else {
            violations.push(format!(
                "{what}: parameter `{name}` = {value:?} is not of type {}",
                parameter.value["type"]
            ));
            return;
        };
        self.check_scalar(parameter, &typed, &format!("parameter `{name}`"), what, violations);
    }

    /// Checks `value` against the schema at `node`; `at` names the place in the body.
    fn check_value(
        &self,
        node: Node<'_>,
        value: &Value,
        at: &str,
        direction: Direction,
        what: &str,
        violations: &mut Vec<String>,
    ) {
        let node = self.resolve(node);
        if value.is_null() {
            if node.value["x-nullable"] != true {
                violations.push(format!("{what}: `{at}` is null"));
            }
            return;
        }
        match schema_type(node.value) {
            Some("object") => self.check_object(node, value, at, direction, what, violations),
            Some("array") => match value.as_array() {
                None => violations.push(format!("{what}: `{at}` is not an array")),
                Some(items) => {
                    let item = Node { file: node.file, value: &node.value["items"] };
                    for (index, element) in items.iter().enumerate() {
                        self.check_value(
                            item,
                            element,
                            &format!("{at}[{index}]"),
                            direction,
                            what,
                            violations,
                        );
                    }
                }
            },
            Some(_) => self.check_scalar(node, value, &format!("`{at}`"), what, violations),
            None => {}
        }
    }

    fn check_object(
        &self,
        node: Node<'_>,
        value: &Value,
        at: &str,
        direction: Direction,
        what: &str,
        violations: &mut Vec<String>,
    ) {
        let Some(object) = value.as_object() else {
            violations.push(format!("{what}: `{at}` is not an object"));
            return;
        };
        let mut shape = Shape::default();
        self.shape(node, &mut shape);
        for (name, property) in object {
            let place = format!("{at}.{name}");
            match shape.properties.get(name.as_str()) {
                Some(schema) => {
                    if direction == Direction::Request && self.read_only(*schema) {
                        violations.push(format!(
                            "{what}: `{place}` is read-only: a client does not send it"
                        ));
                    }
                    if property.is_null() && !shape.required.contains(name.as_str()) {
                        continue;
                    }
                    self.check_value(*schema, property, &place, direction, what, violations);
                }
                None => match shape.additional {
                    Some(Some(schema)) => {
                        self.check_value(schema, property, &place, direction, what, violations)
                    }
                    Some(None) => {}
                    None if shape.properties.is_empty() => {}
                    None => violations.push(format!(
                        "{what}: `{place}` is not a property the description declares"
                    )),
                },
            }
        }
        for name in &shape.required {
            if object.get(*name).is_none_or(Value::is_null) {
                violations.push(format!("{what}: `{at}.{name}` is required"));
            }
        }
    }

    /// The properties, required names and additional properties of an object schema, with
    /// those of its `allOf` parts.
    fn shape<'a>(&'a self, node: Node<'a>, shape: &mut Shape<'a>) {
        let node = self.resolve(node);
        if let Some(properties) = node.value.get("properties").and_then(Value::as_object) {
            for (name, schema) in properties {
                shape.properties.insert(name, Node { file: node.file, value: schema });
            }
        }
        if let Some(required) = node.value.get("required").and_then(Value::as_array) {
            shape.required.extend(required.iter().filter_map(Value::as_str));
        }
        match node.value.get("additionalProperties") {
            Some(Value::Bool(true)) => shape.additional = Some(None),
            Some(schema @ Value::Object(_)) => {
                shape.additional = Some(Some(Node { file: node.file, value: schema }))
            }
            _ => {}
        }
        for part in node.value.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            self.shape(Node { file: node.file, value: part }, shape);
        }
    }

    /// Whether a property is read-only: said beside its `$ref`, or by what it refers to.
    fn read_only(&self, node: Node<'_>) -> bool {
        node.value["readOnly"] == true || self.resolve(node).value["readOnly"] == true
    }

    /// Checks a string, number or boolean: type, enum, format, length.
    fn check_scalar(
        &self,
        node: Node<'_>,
        value: &Value,
        at: &str,
        what: &str,
        violations: &mut Vec<String>,
    ) {
        let schema = node.value;
        let ty = schema_type(schema).unwrap_or("string");
        let fits = match ty {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        if !fits {
            violations.push(format!("{what}: {at} = {value} is not of type {ty}"));
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            violations.push(format!(
                "{what}: {at} = {value} is not one of {}",
                Value::Array(allowed.clone())
            ));
        }
        if let Some(text) = value.as_str() {
            if schema["format"] == "date-time" && text.parse::<jiff::Timestamp>().is_err() {
                violations.push(format!("{what}: {at} = {text:?} is not an RFC 3339 date-time"));
            }
            let length = text.chars().count() as u64;
            if schema["minLength"].as_u64().is_some_and(|min| length < min) {
                violations.push(format!("{what}: {at} is shorter than {}", schema["minLength"]));
            }
            if schema["maxLength"].as_u64().is_some_and(|max| length > max) {
                violations.push(format!("{what}: {at} is longer than {}", schema["maxLength"]));
            }
        }
    }
}

/// An object schema's parts, gathered through `allOf`.
#[derive(Default)]
struct Shape<'a> {
    properties: BTreeMap<&'a str, Node<'a>>,
    required: BTreeSet<&'a str>,
    /// `Some(None)`: any additional property; `Some(Some(schema))`: of that schema.
    additional: Option<Option<Node<'a>>>,
}

/// A schema's type: as written, or `object` for a schema with properties or `allOf`.
fn schema_type(schema: &Value) -> Option<&str> {
    schema["type"].as_str().or_else(|| {
        (schema.get("properties").is_some()
            || schema.get("allOf").is_some()
            || schema.get("additionalProperties").is_some())
        .then_some("object")
    })
}

/// Matches path segments to a template; `{scope}` spans one or more segments (a resource id),
/// every other parameter one. Literal segments compare case-insensitively, as ARM's do.
fn match_path(template: &[&str], path: &[&str], parameters: &mut Pairs) -> bool {
    let Some((first, rest)) = template.split_first() else {
        return path.is_empty();
    };
    match first.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        Some("scope") => {
            for end in 1..=path.len().saturating_sub(rest.len()) {
                parameters.push(("scope".to_owned(), path[..end].join("/")));
                if match_path(rest, &path[end..], parameters) {
                    return true;
                }
                parameters.pop();
            }
            false
        }
        Some(name) => {
            let Some((segment, remaining)) = path.split_first() else { return false };
            if segment.is_empty() {
                return false;
            }
            parameters.push((name.to_owned(), percent_decode(segment)));
            if match_path(rest, remaining, parameters) {
                return true;
            }
            parameters.pop();
            false
        }
        None => path.split_first().is_some_and(|(segment, remaining)| {
            segment.eq_ignore_ascii_case(first) && match_path(rest, remaining, parameters)
        }),
    }
}

/// `dir(file)/relative`, with `.` and `..` resolved.
fn join(file: &str, relative: &str) -> String {
    let mut parts: Vec<&str> = file.split('/').collect();
    parts.pop();
    for part in relative.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

fn collect_references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                found.push(reference.to_owned());
            }
            for (key, value) in map {
                // Examples are data, not descriptions.
                if key != "x-ms-examples" {
                    collect_references(value, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, found)),
        _ => {}
    }
}

/// `%XX` decoded.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn every_vendored_example_of_the_operations_used_is_valid() {
    let swagger = Swagger::get();
    let root = crate::util::root().join(ROOT);
    let mut checked = 0;
    for operation in &swagger.operations {
        let object = swagger.object(operation);
        let Some(examples) = object.value.get("x-ms-examples").and_then(Value::as_object) else {
            continue;
        };
        for example in examples.values() {
            let file = join(&operation.file, example["$ref"].as_str().expect("an example file"));
            let Ok(text) = fs_err::read_to_string(root.join(&file)) else {
                continue; // only some examples are vendored
            };
            let example: Value = serde_json::from_str(&text).expect("an example is JSON");
            let parameters = &example["parameters"];
            let mut path = operation.template.clone();
            let mut query: Pairs = Vec::new();
            let mut body = Vec::new();
            let mut declared: Vec<Value> = Vec::new();
            for list in [
                swagger.files[&operation.file]["paths"][&operation.template].get("parameters"),
                object.value.get("parameters"),
            ] {
                for parameter in list.and_then(Value::as_array).into_iter().flatten() {
                    declared.push(
                        swagger
                            .resolve(Node { file: &operation.file, value: parameter })
                            .value
                            .clone(),
                    );
                }
            }
            for parameter in &declared {
                let name = parameter["name"].as_str().unwrap_or_default();
                let Some(value) = parameters.get(name) else { continue };
                match parameter["in"].as_str() {
                    Some("path") => {
                        path =
                            path.replace(&format!("{{{name}}}"), value.as_str().expect("a string"));
                    }
                    Some("query") => {
                        query.push((name.to_owned(), value.as_str().expect("a string").to_owned()))
                    }
                    Some("body") => body = serde_json::to_vec(value).unwrap(),
                    _ => {}
                }
            }
            let (found, violations) = swagger.check_request(
                &operation.method,
                &path,
                &query,
                Some("Bearer token"),
                Some("application/json"),
                &body,
            );
            assert!(violations.is_empty(), "{file}: {violations:?}");
            let found = found.expect("an operation");
            for (status, response) in example["responses"].as_object().expect("responses") {
                let body = response
                    .get("body")
                    .map(|b| serde_json::to_vec(b).unwrap())
                    .unwrap_or_default();
                let violations = swagger.check_response(
                    found,
                    status.parse().expect("a status"),
                    Some("application/json"),
                    &body,
                );
                assert!(violations.is_empty(), "{file} {status}: {violations:?}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 8, "every vendored example was checked");
}

#[test]
fn what_the_descriptions_do_not_allow_is_a_violation() {
    let swagger = Swagger::get();
    let bearer = Some("Bearer t");
    let json = Some("application/json");
    let pairs = |items: &[(&str, &str)]| -> Pairs {
        items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let assignments = "/subscriptions/s1/providers/Microsoft.Authorization/roleAssignments";
    let assignment = format!("{assignments}/05c5a614-a7d6-4502-b150-c2fb455033ff");
    let request = "/subscriptions/s1/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/fea7a502-9a96-4806-a26f-eee560e52045";
    let good_request = r#"{"properties": {"principalId": "p", "roleDefinitionId": "/r", "requestType": "AdminAssign",
        "scheduleInfo": {"startDateTime": "2026-12-01T10:00:00Z", "expiration": {"type": "AfterDuration", "duration": "PT2H"}}}}"#;
    let (found, violations) = swagger.check_request(
        "PUT",
        request,
        &pairs(&[("api-version", "2020-10-01")]),
        bearer,
        json,
        good_request.as_bytes(),
    );
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(found.unwrap().id, "RoleAssignmentScheduleRequests_Create");

    /// A request the descriptions reject, and words the violation must hold.
    struct Bad<'a> {
        method: &'a str,
        path: &'a str,
        query: Pairs,
        authorization: Option<&'a str>,
        body: &'a str,
        expected: &'a str,
    }
    let v2022 = || pairs(&[("api-version", "2022-04-01")]);
    let v2020 = || pairs(&[("api-version", "2020-10-01")]);
    let cases = [
        Bad {
            method: "GET",
            path: assignments,
            query: v2020(),
            authorization: bearer,
            body: "",
            expected: "api-version 2020-10-01 is not one",
        },
        Bad {
            method: "GET",
            path: assignments,
            query: pairs(&[]),
            authorization: bearer,
            body: "",
            expected: "api-version (none)",
        },
        Bad {
            method: "GET",
            path: "/subscriptions/s1/providers/Microsoft.Authorization/roleThings",
            query: v2022(),
            authorization: bearer,
            body: "",
            expected: "not an operation",
        },
        Bad {
            method: "GET",
            path: assignments,
            query: v2022(),
            authorization: None,
            body: "",
            expected: "Bearer",
        },
        Bad {
            method: "GET",
            path: assignments,
            query: pairs(&[("api-version", "2022-04-01"), ("$top", "5")]),
            authorization: bearer,
            body: "",
            expected: "`$top` is not declared",
        },
        Bad {
            method: "PUT",
            path: &assignment,
            query: v2022(),
            authorization: bearer,
            body: "",
            expected: "required body is missing",
        },
        Bad {
            method: "PUT",
            path: &assignment,
            query: v2022(),
            authorization: bearer,
            body: r#"{"properties": {"principalId": "p"}}"#,
            expected: "`body.properties.roleDefinitionId` is required",
        },
        Bad {
            method: "PUT",
            path: &assignment,
            query: v2022(),
            authorization: bearer,
            body: r#"{"properties": {"principalId": "p", "roleDefinitionId": "/r", "scope": "/s"}}"#,
            expected: "`body.properties.scope` is read-only",
        },
        Bad {
            method: "PUT",
            path: &assignment,
            query: v2022(),
            authorization: bearer,
            body: r#"{"properties": {"principalId": "p", "roleDefinitionId": "/r", "principalType": "Robot"}}"#,
            expected: "is not one of",
        },
        Bad {
            method: "PUT",
            path: &assignment,
            query: v2022(),
            authorization: bearer,
            body: r#"{"properties": {"principalId": 7, "roleDefinitionId": "/r"}}"#,
            expected: "is not of type string",
        },
        Bad {
            method: "PUT",
            path: &assignment,
            query: v2022(),
            authorization: bearer,
            body: r#"{"properties": {"principalId": "p", "roleDefinitionId": "/r", "expiresOn": "x"}}"#,
            expected: "`body.properties.expiresOn` is not a property",
        },
        Bad {
            method: "PUT",
            path: request,
            query: v2020(),
            authorization: bearer,
            body: r#"{"properties": {"principalId": "p", "roleDefinitionId": "/r", "requestType": "AdminAssign", "scheduleInfo": {"startDateTime": "tomorrow"}}}"#,
            expected: "not an RFC 3339 date-time",
        },
        Bad {
            method: "PUT",
            path: request,
            query: v2020(),
            authorization: bearer,
            body: r#"{"properties": {"principalId": "p", "roleDefinitionId": "/r", "requestType": "AdminAssign", "status": "Provisioned"}}"#,
            expected: "`body.properties.status` is read-only",
        },
        Bad {
            method: "DELETE",
            path: request,
            query: v2020(),
            authorization: bearer,
            body: "",
            expected: "not an operation",
        },
    ];
    for Bad { method, path, query, authorization, body, expected } in cases {
        let (_, violations) =
            swagger.check_request(method, path, &query, authorization, json, body.as_bytes());
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{method} {path} {body}: expected a violation naming {expected:?}, got {violations:?}"
        );
    }

    // Responses.
    let (get, _) = swagger.operation("GET", &assignment, Some("2022-04-01")).unwrap();
    let (list, _) = swagger.operation("GET", assignments, Some("2022-04-01")).unwrap();
    let (delete, _) = swagger.operation("DELETE", &assignment, Some("2022-04-01")).unwrap();
    let good = r#"{"id": "/x", "name": "n", "type": "Microsoft.Authorization/roleAssignments",
        "properties": {"roleDefinitionId": "/r", "principalId": "p", "principalType": "User", "scope": "/s", "condition": null}}"#;
    assert_eq!(swagger.check_response(get, 200, json, good.as_bytes()), Vec::<String>::new());
    let error = r#"{"error": {"code": "RoleAssignmentNotFound", "message": "m"}}"#;
    assert_eq!(swagger.check_response(get, 404, json, error.as_bytes()), Vec::<String>::new());
    assert_eq!(swagger.check_response(delete, 204, None, b""), Vec::<String>::new());
    let cases: [(&Operation, u16, &str, &str); 7] = [
        (get, 201, good, "does not document"),
        (
            get,
            200,
            r#"{"id": "/x", "properties": {"principalId": "p"}}"#,
            "roleDefinitionId` is required",
        ),
        (
            get,
            200,
            r#"{"id": "/x", "properties": {"roleDefinitionId": "/r", "principalId": "p", "expiry": "x"}}"#,
            "not a property",
        ),
        (list, 200, r#"{"value": {"id": "/x"}}"#, "is not an array"),
        (delete, 204, "{}", "a body, where the description documents none"),
        (get, 500, r#"{"error": {"code": 500}}"#, "is not of type string"),
        (get, 200, "<html>", "not JSON"),
    ];
    for (operation, status, body, expected) in cases {
        let violations = swagger.check_response(operation, status, json, body.as_bytes());
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{} {status} {body}: expected a violation naming {expected:?}, got {violations:?}",
            operation.id
        );
    }
}

#[test]
fn the_scope_parameter_spans_a_resource_id_and_literals_win() {
    let swagger = Swagger::get();
    let (operation, parameters) = swagger
        .operation(
            "GET",
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Web/sites/app/providers/Microsoft.Authorization/roleAssignmentSchedules",
            Some("2020-10-01"),
        )
        .unwrap();
    assert_eq!(operation.id, "RoleAssignmentSchedules_ListForScope");
    assert_eq!(
        parameters,
        [(
            "scope".to_owned(),
            "subscriptions/s1/resourceGroups/rg/providers/Microsoft.Web/sites/app".to_owned()
        )]
    );
    let (operation, _) = swagger
        .operation(
            "GET",
            "/subscriptions/s1/providers/Microsoft.Authorization/roleAssignments",
            Some("2022-04-01"),
        )
        .unwrap();
    assert_eq!(operation.id, "RoleAssignments_ListForSubscription");
    assert_eq!(join("a/b/c.json", "../../x/y.json"), "x/y.json");
}
