//! docs/policy.md stays honest: every attribute and nested block the model has (as the
//! generated policy schema lists them) is documented, and every block kind has its section.

use serde_json::Value;
use std::collections::BTreeSet;

use crate::util::root;

fn policy_schema() -> Value {
    serde_json::from_str(&breakglass::policy::schema::policy_schema())
        .expect("the policy schema is JSON")
}

fn policy_doc() -> String {
    fs_err::read_to_string(root().join("docs/policy.md")).expect("docs/policy.md exists")
}

/// Every property name in `schema`, at any depth: those of the block itself, and those of
/// inline sub-schemas such as a grant's `oneOf` of `role` and `override`.
fn collect_properties(schema: &Value, names: &mut BTreeSet<String>) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::Object(properties)) = object.get("properties") {
                names.extend(properties.keys().cloned());
            }
            for value in object.values() {
                collect_properties(value, names);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_properties(item, names);
            }
        }
        _ => {}
    }
}

#[test]
fn every_attribute_of_every_block_is_documented() {
    let schema = policy_schema();
    let definitions = schema["$defs"].as_object().expect("the schema has $defs");
    let mut names = BTreeSet::new();
    for definition in definitions.values() {
        collect_properties(definition, &mut names);
    }
    assert!(names.len() > 20, "too few attributes found in the schema: {names:?}");
    let doc = policy_doc();
    let missing: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| !doc.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/policy.md does not document these attributes or nested blocks (write each as \
         `name`, in backticks): {}",
        missing.join(", ")
    );
}

#[test]
fn every_block_kind_has_a_section() {
    let schema = policy_schema();
    let keywords: Vec<&str> = schema["properties"]
        .as_object()
        .expect("the schema lists the block kinds")
        .keys()
        .map(String::as_str)
        .collect();
    assert!(keywords.len() >= 11, "too few block kinds found in the schema: {keywords:?}");
    let doc = policy_doc();
    let headings: Vec<&str> = doc.lines().filter(|line| line.starts_with("## ")).collect();
    let missing: Vec<&str> = keywords
        .iter()
        .copied()
        .filter(|keyword| !headings.iter().any(|heading| heading.contains(&format!("`{keyword}`"))))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/policy.md has no `## ` heading for these block kinds (write one as ## `kind`): {}",
        missing.join(", ")
    );
}

/// Every tracked file of the repository (git's list; the repository must stand alone).
fn tracked_files() -> Vec<std::path::PathBuf> {
    let output = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root())
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git ls-files: {}", String::from_utf8_lossy(&output.stderr));
    output
        .stdout
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| root().join(String::from_utf8_lossy(name).as_ref()))
        .collect()
}

#[test]
fn no_file_names_a_path_outside_the_repository() {
    let files = tracked_files();
    assert!(files.len() > 100, "git lists the repository's files: {}", files.len());
    // Spelt in pieces so this file does not name it either.
    let outside = [concat!("..", "/shared"), concat!("..", "\\shared")];
    let offenders: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let text = fs_err::read(path).ok()?;
            let text = String::from_utf8_lossy(&text);
            outside.iter().any(|o| text.contains(o)).then(|| path.display().to_string())
        })
        .collect();
    assert!(offenders.is_empty(), "files that reach outside the repository: {offenders:?}");
}

#[test]
fn relative_links_in_the_docs_lead_somewhere() {
    let mut pages = vec![root().join("README.md")];
    for entry in walk(&root().join("docs")).into_iter().chain(walk(&root().join("examples"))) {
        if entry.extension().is_some_and(|e| e == "md") {
            pages.push(entry);
        }
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = fs_err::read_to_string(page).unwrap();
        for target in markdown_links(&text) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap();
            if !page.parent().unwrap().join(path).exists() {
                broken.push(format!("{} → {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing: {broken:#?}");
}

#[test]
fn the_architecture_names_every_provider_crate() {
    let doc = fs_err::read_to_string(root().join("docs/architecture.md")).unwrap();
    for entry in fs_err::read_dir(root().join("providers")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            doc.contains(&format!("`providers/{name}`")),
            "docs/architecture.md does not describe providers/{name}"
        );
    }
}

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The targets of markdown links `[text](target)` in a page.
fn markdown_links(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = &rest[..end];
        if !target.is_empty() && !target.contains(char::is_whitespace) {
            targets.push(target.to_owned());
        }
        rest = &rest[end..];
    }
    targets
}

/// The property names of `schema` (one level).
fn property_names(schema: &Value) -> Vec<String> {
    schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn the_security_model_says_what_becomes_of_every_field_of_a_request_and_a_token() {
    let plan: Value = serde_json::from_str(
        &breakglass::schemas::all().into_iter().find(|(f, _)| *f == "plan.schema.json").unwrap().1,
    )
    .unwrap();
    let approval = serde_json::to_value(schemars::schema_for!(breakglass::sign::Approval)).unwrap();
    let mut fields = property_names(&plan);
    fields.extend(property_names(&plan["$defs"]["EmergencyRequest"]));
    fields.extend(property_names(&plan["$defs"]["Activation"]));
    fields.extend(property_names(&approval));
    assert!(fields.len() > 40, "too few fields found: {fields:?}");
    let doc = fs_err::read_to_string(root().join("docs/security.md")).unwrap();
    let missing: Vec<&String> = fields
        .iter()
        .filter(|name| !doc.contains(&format!("`{name}`")) && !doc.contains(&format!(".{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/security.md does not say what becomes of these fields of a request or token: {missing:?}"
    );
}
