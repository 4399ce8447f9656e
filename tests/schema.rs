//! schemas/policy.schema.json is generated from the Rust types; this test fails when the
//! committed file is out of date, and says how to regenerate it.

use crate::util::root;

const REGENERATE: &str = "BREAKGLASS_UPDATE_SCHEMAS=1 cargo test --test integration schema";

fn check_generated(file: &str, generated: &str) {
    let path = root().join("schemas").join(file);
    if std::env::var_os("BREAKGLASS_UPDATE_SCHEMAS").is_some() {
        fs_err::write(&path, generated).unwrap();
        return;
    }
    let committed = fs_err::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/{file} is out of date with the Rust types; regenerate it with:\n  {REGENERATE}"
    );
}

#[test]
fn every_schema_is_up_to_date() {
    for (file, generated) in breakglass::schemas::all() {
        check_generated(file, &generated);
    }
}

#[test]
fn plans_match_the_plan_schema() {
    let dir = crate::util::example_copy("quickstart");
    let outcome = crate::util::Run::new(dir.path())
        .args(["plan", "--json", "--at", "2031-01-15T10:00:00Z"])
        .run()
        .expect_code(0);
    let schema: serde_json::Value = serde_json::from_str(
        &breakglass::schemas::all().into_iter().find(|(f, _)| *f == "plan.schema.json").unwrap().1,
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let plan = outcome.json();
    let errors: Vec<String> =
        validator.iter_errors(&plan).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "plan --json does not match schemas/plan.schema.json:\n{}",
        errors.join("\n")
    );
    assert_eq!(plan["activations"][0]["id"], "grant_chg_1234");
}

#[test]
fn the_quickstart_in_json_form_matches_the_policy_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&breakglass::policy::schema::policy_schema()).unwrap();
    let loaded = breakglass::policy::load(
        &root().join("examples/quickstart"),
        &breakglass::providers::schemas(),
        crate::util::TEST_NOW.parse().unwrap(),
        breakglass::policy::Strictness::Review,
    );
    let policy = loaded.valid_policy().expect("the quickstart is valid");
    let document = serde_json::to_value(policy).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(&document).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "the JSON form does not match the schema:\n{}", errors.join("\n"));
    assert_eq!(document["role"]["prod_admin"]["risk"], "high");
    assert_eq!(document["team"]["oncall"]["members"][0], "${person.alice}");
}
