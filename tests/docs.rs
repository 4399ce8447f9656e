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

// --- Fenced examples ----------------------------------------------------------------------

/// A fenced block of a markdown page: its language, whether it is marked an excerpt
/// (`hcl fragment`) or checked by a test of its own (an HTML comment on the line above names
/// it, as `<!-- minimal-policy -->` does for the Vault policy tests/vault.rs loads), its
/// text, and where it starts.
#[derive(Debug)]
struct Fence {
    page: String,
    line: usize,
    language: String,
    fragment: bool,
    text: String,
}

/// Every fenced block of `text` (a page called `page`).
fn fences(page: &str, text: &str) -> Vec<Fence> {
    let mut found = Vec::new();
    let mut open: Option<Fence> = None;
    let mut previous = "";
    for (index, line) in text.lines().enumerate() {
        let above = std::mem::replace(&mut previous, line);
        let Some(info) = line.strip_prefix("```") else {
            if let Some(fence) = &mut open {
                fence.text.push_str(line);
                fence.text.push('\n');
            }
            continue;
        };
        match open.take() {
            Some(fence) => found.push(fence),
            None => {
                let mut words = info.split_whitespace();
                open = Some(Fence {
                    page: page.to_owned(),
                    line: index + 1,
                    language: words.next().unwrap_or_default().to_owned(),
                    fragment: words.any(|word| word == "fragment")
                        || (above.trim_start().starts_with("<!--")
                            && above.trim_end().ends_with("-->")),
                    text: String::new(),
                });
            }
        }
    }
    assert!(open.is_none(), "{page}: a fence is not closed");
    found
}

/// The markdown pages whose examples a reader copies: the README, docs/, examples/.
fn pages() -> Vec<std::path::PathBuf> {
    let mut pages = vec![root().join("README.md")];
    for entry in walk(&root().join("docs")).into_iter().chain(walk(&root().join("examples"))) {
        if entry.extension().is_some_and(|e| e == "md") {
            pages.push(entry);
        }
    }
    pages.sort();
    pages
}

fn all_fences() -> Vec<Fence> {
    pages()
        .iter()
        .flat_map(|page| {
            let name = page.strip_prefix(root()).unwrap().display().to_string();
            fences(&name, &fs_err::read_to_string(page).unwrap())
        })
        .collect()
}

/// What an example may refer to without declaring it: the people, team, approvers and
/// authentication rule of the examples, and a block for every provider. An example that
/// declares one of these itself (its `kind "name"` header) replaces it.
const CAST: &[(&str, &str)] = &[
    ("breakglass", "breakglass {\n  plan_signers = [person.ci]\n}\n"),
    (
        "person \"alice\"",
        "person \"alice\" {\n  public_key = file(\"keys/alice.pub\")\n  identities = {\n    local     = \"alice\"\n    aws       = \"arn:aws:iam::123456789012:user/alice\"\n    aws_sso   = \"alice@example.com\"\n    postgres  = \"alice\"\n    anthropic = \"user_01AliceMartin\"\n    openai    = \"user-alice\"\n    kubernetes = \"alice@example.com\"\n    vault     = \"alice\"\n    azure     = \"3f2b8c1e-5d4a-4e6b-9c7d-0a1b2c3d4e5f\"\n    gcp       = \"user:alice@example.com\"\n  }\n}\n",
    ),
    (
        "person \"bob\"",
        "person \"bob\" {\n  public_key = file(\"keys/bob.pub\")\n  identities = {\n    local     = \"bob\"\n    aws       = \"arn:aws:iam::123456789012:user/bob\"\n    aws_sso   = \"bob@example.com\"\n    postgres  = \"bob\"\n    anthropic = \"user_01BobChen\"\n    openai    = \"user-bob\"\n    kubernetes = \"bob@example.com\"\n    vault     = \"bob\"\n    azure     = \"7d1e9a2b-4c6f-4b8a-9e0d-2f3a4b5c6d7e\"\n    gcp       = \"user:bob@example.com\"\n  }\n}\n",
    ),
    ("person \"carol\"", "person \"carol\" {\n  public_key = file(\"keys/carol.pub\")\n}\n"),
    ("person \"dave\"", "person \"dave\" {\n  public_key = file(\"keys/dave.pub\")\n}\n"),
    ("person \"ci\"", "person \"ci\" {\n  public_key = file(\"keys/ci.pub\")\n}\n"),
    ("team \"oncall\"", "team \"oncall\" {\n  members = [person.alice, person.bob]\n}\n"),
    (
        "approvers \"leads\"",
        "approvers \"leads\" {\n  members = [person.carol, person.dave]\n  quorum  = 2\n}\n",
    ),
    ("authentication \"strong\"", "authentication \"strong\" {\n  totp = true\n}\n"),
    ("provider \"local\"", "provider \"local\" {\n  path = \"app/access.json\"\n}\n"),
    (
        "resource \"local_setting\" \"chatbot_endpoint\"",
        "resource \"local_setting\" \"chatbot_endpoint\" {\n  key   = \"chatbot.model_endpoint.enabled\"\n  value = \"on\"\n}\n",
    ),
    (
        "role \"read_logs\"",
        "role \"read_logs\" {\n  risk         = \"low\"\n  requesters   = [team.oncall]\n  approvers    = approvers.leads\n  max_duration = \"8h\"\n\n  resource \"local_access\" \"logs\" {\n    principal = requester.identities.local\n    role      = \"log-reader\"\n  }\n}\n",
    ),
];

/// Whether `text` declares the block `header` (`person "alice"`, or `breakglass`).
fn declares(text: &str, header: &str) -> bool {
    text.lines().any(|line| {
        line.strip_prefix(header).is_some_and(|rest| rest.trim_start().starts_with('{'))
    })
}

/// Runs `validate` on the examples of one page together (an example may build on one before
/// it, as a reader does), each in a file of its own named after its line, beside the cast; the
/// problems, if any.
fn validate_page(fences: &[&Fence]) -> Option<String> {
    let mut files: Vec<(String, String)> = CAST
        .iter()
        .filter(|(header, _)| !fences.iter().any(|fence| declares(&fence.text, header)))
        .enumerate()
        .map(|(n, (_, text))| (format!("cast_{n:02}.hcl"), (*text).to_owned()))
        .collect();
    for fence in fences {
        files.push((format!("line_{:04}.hcl", fence.line), fence.text.clone()));
    }
    let borrowed: Vec<(&str, &str)> =
        files.iter().map(|(name, text)| (name.as_str(), text.as_str())).collect();
    let dir = crate::util::policy_dir(&borrowed);
    let outcome = crate::util::Run::new(dir.path()).args(["validate"]).run();
    (outcome.code != 0).then_some(outcome.stdout)
}

#[test]
fn every_hcl_example_in_the_docs_validates_or_is_marked_a_fragment() {
    let fences = all_fences();
    let hcl: Vec<&Fence> = fences.iter().filter(|f| f.language == "hcl").collect();
    assert!(hcl.len() >= 30, "hcl examples found: {}", hcl.len());
    let checked: Vec<&Fence> = hcl.iter().copied().filter(|f| !f.fragment).collect();
    assert!(
        checked.len() * 2 > hcl.len(),
        "most examples are whole: {} of {}",
        checked.len(),
        hcl.len()
    );
    let mut pages: Vec<&str> = checked.iter().map(|f| f.page.as_str()).collect();
    pages.dedup();
    let failures: Vec<String> = pages
        .iter()
        .filter_map(|page| {
            let on_page: Vec<&Fence> =
                checked.iter().copied().filter(|f| f.page == *page).collect();
            validate_page(&on_page).map(|problems| {
                format!(
                    "{page}: its examples do not validate (line_N.hcl is the example at line N; \
                     mark an excerpt ```hcl fragment):\n{problems}"
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_json_example_in_the_docs_parses_or_is_marked_a_fragment() {
    let failures: Vec<String> = all_fences()
        .iter()
        .filter(|f| f.language == "json" && !f.fragment)
        .filter_map(|fence| {
            // One document, or one document a line (JSON Lines, as the audit log is).
            let whole = serde_json::from_str::<Value>(&fence.text).err();
            let lines = fence
                .text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .find_map(|line| serde_json::from_str::<Value>(line).err());
            match (whole, lines) {
                (Some(error), Some(_)) => {
                    Some(format!("{}:{}: not JSON: {error}", fence.page, fence.line))
                }
                _ => None,
            }
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_audit_event_the_docs_show_matches_the_event_schema() {
    let schema = breakglass::schemas::all()
        .into_iter()
        .find(|(file, _)| *file == "audit-event.schema.json")
        .expect("an audit event schema")
        .1;
    let validator = jsonschema::validator_for(&serde_json::from_str(&schema).unwrap()).unwrap();
    let events: Vec<(String, Value)> = all_fences()
        .iter()
        .filter(|f| f.language == "json" && !f.fragment)
        .flat_map(|fence| {
            fence.text.lines().filter_map(move |line| {
                let value: Value = serde_json::from_str(line).ok()?;
                (value.get("action").is_some() && value.get("prev").is_some())
                    .then(|| (format!("{}:{}", fence.page, fence.line), value))
            })
        })
        .collect();
    assert!(!events.is_empty(), "docs/audit.md shows an event");
    for (place, event) in events {
        let errors: Vec<String> = validator.iter_errors(&event).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{place}: {errors:?}");
    }
}

#[test]
fn every_fence_names_its_language() {
    let unnamed: Vec<String> = all_fences()
        .iter()
        .filter(|f| f.language.is_empty())
        .map(|f| format!("{}:{}", f.page, f.line))
        .collect();
    assert!(unnamed.is_empty(), "fences without a language (hcl, sh, json, text): {unnamed:?}");
}

/// The `breakglass …` command lines of a shell example: continuation lines joined, comments
/// dropped, each command cut at `|`, `>`, `;`, `&&` or the `)` that closes a `$(`.
fn breakglass_commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut commands = Vec::new();
    for line in joined.lines() {
        let words = shell_words(line);
        let mut at = 0;
        while at < words.len() {
            if words[at] == "breakglass" {
                let command: Vec<String> = words[at + 1..]
                    .iter()
                    .take_while(|w| !matches!(w.as_str(), "|" | ">" | ">>" | ";" | "&&" | ")"))
                    .cloned()
                    .collect();
                at += command.len() + 1;
                commands.push(command);
            } else {
                at += 1;
            }
        }
    }
    commands
}

/// Splits a shell line into words: quotes kept together (their text, not evaluated), `$(`
/// and `)` and operators as words of their own, a `#` comment dropped.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let push = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                // An empty quoted word is still a word.
                word.push_str("");
            }
            (None, '#') if word.is_empty() => break,
            (None, c) if c.is_whitespace() => push(&mut word, &mut words),
            (None, '$') if chars.peek() == Some(&'(') => {
                chars.next();
                push(&mut word, &mut words);
                words.push("$(".to_owned());
            }
            (None, ')' | '|' | ';') => {
                push(&mut word, &mut words);
                words.push(c.to_string());
            }
            (None, '>') => {
                push(&mut word, &mut words);
                words.push(">".to_owned());
            }
            (None, '&') if chars.peek() == Some(&'&') => {
                chars.next();
                push(&mut word, &mut words);
                words.push("&&".to_owned());
            }
            (None, c) => word.push(c),
        }
    }
    push(&mut word, &mut words);
    words
}

#[test]
fn every_breakglass_command_in_the_docs_parses() {
    use clap::CommandFactory;
    let mut checked = 0;
    let mut failures = Vec::new();
    for fence in all_fences().iter().filter(|f| f.language == "sh" && !f.fragment) {
        for command in breakglass_commands(&fence.text) {
            checked += 1;
            let mut args = vec!["breakglass".to_owned()];
            args.extend(command.iter().cloned());
            if let Err(error) = breakglass::cli::Cli::command().try_get_matches_from(&args) {
                use clap::error::ErrorKind;
                if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                    continue;
                }
                // A value the shell fills in (`--anchor $HEAD`) is known only when it runs.
                let filled_in = args.iter().any(|word| word.contains('$'));
                if filled_in
                    && matches!(error.kind(), ErrorKind::ValueValidation | ErrorKind::InvalidValue)
                {
                    continue;
                }
                failures.push(format!(
                    "{}:{}: `{}`: {error}",
                    fence.page,
                    fence.line,
                    args.join(" ")
                ));
            }
        }
    }
    assert!(checked >= 20, "breakglass commands found in the docs: {checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shell_words_split_as_a_shell_would_for_these_examples() {
    let commands = breakglass_commands(
        "CAROL=$(breakglass approve r.json --as carol --yes)\nbreakglass plan --at +31m  # end\n\
         breakglass apply --emergency r.json \\\n  --totp \"$(breakglass totp code alice)\" | cat",
    );
    let expected: Vec<Vec<&str>> = vec![
        vec!["approve", "r.json", "--as", "carol", "--yes"],
        vec!["plan", "--at", "+31m"],
        vec!["apply", "--emergency", "r.json", "--totp", "$(breakglass totp code alice)"],
    ];
    assert_eq!(commands, expected);
}

#[test]
fn the_policy_reference_lists_every_provider_of_this_build() {
    let doc = policy_doc();
    let section = doc
        .split("\n## Providers\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/policy.md has a ## Providers section");
    let providers = breakglass::providers::schemas();
    assert!(providers.len() >= 6, "providers built in: {:?}", providers.keys());
    let missing: Vec<&String> =
        providers.keys().filter(|name| !section.contains(&format!("| [`{name}`]("))).collect();
    assert!(
        missing.is_empty(),
        "docs/policy.md's Providers table has no row for {missing:?} (add | [`NAME`](providers/NAME.md) | … |)"
    );
}

#[test]
fn the_readme_tour_runs_as_written_in_a_scratch_copy() {
    let readme = fs_err::read_to_string(root().join("README.md")).unwrap();
    let tour = readme
        .split("\n## A short tour\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has a short tour");
    let blocks: Vec<Fence> =
        fences("README.md", tour).into_iter().filter(|f| f.language == "sh").collect();
    assert!(blocks.len() >= 3, "the tour's shell blocks: {}", blocks.len());
    // Everything but the build: the test's own binary is on PATH.
    let script: String = blocks
        .iter()
        .flat_map(|block| block.text.lines())
        .filter(|line| !line.starts_with("cargo build"))
        .map(|line| format!("{line}\n"))
        .collect();
    let checkout = tempfile::tempdir().unwrap();
    crate::util::copy_dir(
        &root().join("examples/quickstart"),
        &checkout.path().join("examples/quickstart"),
    );
    for leftover in [".breakglass", "app"] {
        let _ = fs_err::remove_dir_all(checkout.path().join("examples/quickstart").join(leftover));
    }
    let before = walk(&checkout.path().join("examples/quickstart"));
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_breakglass"));
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(checkout.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("BREAKGLASS_TEST_NOW")
        .env_remove("BREAKGLASS_DIR")
        .env_remove("BREAKGLASS_TOTP_SECRETS")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the tour failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("is reverted (confirmed by reading the live objects)"), "{stdout}");
    assert!(stdout.contains("verifies"), "{stdout}");
    assert_eq!(
        walk(&checkout.path().join("examples/quickstart")),
        before,
        "the tour wrote nothing into examples/quickstart"
    );
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
