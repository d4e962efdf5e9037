//! The OpenAPI document describes the typed REST views by their types, not as untyped objects.

use serde_json::Value;
use std::collections::BTreeSet;

/// Every property name of a schema, through `$ref`s and `allOf` (serde's `flatten`).
fn properties(doc: &Value, schema: &Value, out: &mut BTreeSet<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        let target = &doc["components"]["schemas"][name];
        assert!(!target.is_null(), "{r} is not in the document's components");
        return properties(doc, target, out);
    }
    if let Some(map) = schema["properties"].as_object() {
        out.extend(map.keys().cloned());
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        properties(doc, part, out);
    }
}

fn props_of(doc: &Value, schema: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    properties(doc, schema, &mut out);
    out
}

#[test]
fn exercises_are_described_by_the_types_the_node_folds() {
    let doc = serde_json::to_value(entente_api::openapi()).unwrap();
    let post = &doc["paths"]["/api/v1/exercises"]["post"];
    let request = &post["requestBody"]["content"]["application/json"]["schema"];
    let fields = props_of(&doc, request);
    for f in [
        "format_id",
        "name",
        "start",
        "end",
        "location",
        "topics",
        "invited",
        "observers",
    ] {
        assert!(
            fields.contains(f),
            "the request schema lacks {f}: {fields:?}"
        );
    }
    let created = &post["responses"]["201"]["content"]["application/json"]["schema"];
    let state = props_of(&doc, created);
    for f in ["plan", "organiser", "audience", "responses", "lessons"] {
        assert!(state.contains(f), "the answer schema lacks {f}: {state:?}");
    }
    let plan = props_of(&doc, &doc["components"]["schemas"]["ExercisePlan"]);
    for f in [
        "exercise_id",
        "name",
        "start",
        "end",
        "topics",
        "invited",
        "author",
    ] {
        assert!(plan.contains(f), "the plan schema lacks {f}: {plan:?}");
    }
    let get = &doc["paths"]["/api/v1/exercises/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert_eq!(props_of(&doc, get), state);
}
