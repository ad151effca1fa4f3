use super::*;
use spoor_model::attr;

fn actions(yaml: &str) -> Actions {
    let cfgs: Vec<ActionConfig> = serde_saphyr::from_str(yaml).expect("yaml");
    Actions::build("actions", &cfgs).expect("build")
}

fn build_err(yaml: &str) -> ConfigError {
    let cfgs: Vec<ActionConfig> = serde_saphyr::from_str(yaml).expect("yaml");
    Actions::build("actions", &cfgs).err().expect("error")
}

#[test]
fn insert_update_upsert() {
    let a = actions(
        "- {key: new, value: v, action: insert}\n\
         - {key: old, value: ignored, action: insert}\n\
         - {key: old, value: 2.5, action: update}\n\
         - {key: absent, value: x, action: update}\n\
         - {key: up, from_attribute: new, action: upsert}\n\
         - {key: none, from_attribute: missing, action: upsert}\n\
         - {key: ctx, from_context: metadata.tenant, action: upsert}\n\
         - {key: quoted, value: \"123\", action: insert}\n\
         - {key: yes, value: true, action: insert}\n",
    );
    let mut attrs = vec![attr::string("old", "1")];
    a.apply(&mut attrs);
    assert_eq!(
        attrs,
        vec![
            attr::double("old", 2.5),
            attr::string("new", "v"),
            attr::string("up", "v"),
            attr::string("quoted", "123"),
            attr::bool("yes", true),
        ]
    );
}

#[test]
fn delete_and_hash_by_key_and_pattern() {
    let a = actions(
        "- {key: a, action: delete}\n\
         - {pattern: '^secret\\.', action: DELETE}\n\
         - {key: email, action: hash}\n\
         - {pattern: '^n', action: hash}\n",
    );
    let mut attrs = vec![
        attr::string("a", "x"),
        attr::string("secret.one", "x"),
        attr::string("keep", "x"),
        attr::string("email", "a@b.c"),
        attr::int("num", 1),
        attr::bool("nb", true),
    ];
    a.apply(&mut attrs);
    assert_eq!(attrs.len(), 4);
    assert_eq!(attr::find_str(&attrs, "keep"), Some("x"));
    // sha256("a@b.c"), sha256(le bytes of 1), sha256([1])
    assert_eq!(
        attr::find_str(&attrs, "email"),
        Some(common::hex(&sha2::Sha256::digest(b"a@b.c")).as_str())
    );
    assert_eq!(
        attr::find_str(&attrs, "num"),
        Some(common::hex(&sha2::Sha256::digest(1i64.to_le_bytes())).as_str())
    );
    assert_eq!(
        attr::find_str(&attrs, "nb"),
        Some("4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a")
    );
}

#[test]
fn extract_named_groups() {
    let a = actions(
        "- {key: http.url, pattern: '^/api/v1/users/(?P<user_id>\\d+)(?:/(?P<sub>\\w+))?$', action: extract}\n",
    );
    let mut attrs = vec![
        attr::string("http.url", "/api/v1/users/123"),
        attr::string("user_id", "old"),
    ];
    a.apply(&mut attrs);
    assert_eq!(attr::find_str(&attrs, "user_id"), Some("123"));
    assert_eq!(
        attr::find_str(&attrs, "sub"),
        Some(""),
        "unmatched group: empty string"
    );
    let mut no_match = vec![attr::string("http.url", "/other")];
    a.apply(&mut no_match);
    assert_eq!(no_match.len(), 1);
    let mut not_string = vec![attr::int("http.url", 5)];
    a.apply(&mut not_string);
    assert_eq!(not_string.len(), 1);
}

#[test]
fn convert_types() {
    let a = actions(
        "- {key: i, action: convert, converted_type: int}\n\
         - {key: d, action: convert, converted_type: double}\n\
         - {key: s, action: convert, converted_type: string}\n\
         - {key: bad, action: convert, converted_type: int}\n\
         - {key: f, action: convert, converted_type: int}\n\
         - {key: b, action: convert, converted_type: double}\n",
    );
    let mut attrs = vec![
        attr::string("i", "42"),
        attr::string("d", "1.5"),
        attr::int("s", 7),
        attr::string("bad", "x"),
        attr::double("f", 3.9),
        attr::bool("b", true),
    ];
    a.apply(&mut attrs);
    assert_eq!(
        attrs,
        vec![
            attr::int("i", 42),
            attr::double("d", 1.5),
            attr::string("s", "7"),
            attr::string("bad", "x"),
            attr::int("f", 3),
            attr::double("b", 1.0),
        ]
    );
}

#[test]
fn build_errors_name_the_option() {
    let cases = [
        ("- {key: a, action: insert}\n", "actions[0]"),
        ("- {value: 1, action: insert}\n", "actions[0].key"),
        (
            "- {key: a, value: 1, from_attribute: b, action: upsert}\n",
            "actions[0]",
        ),
        (
            "- {key: a, value: 1, pattern: x, action: upsert}\n",
            "actions[0].pattern",
        ),
        ("- {action: delete}\n", "actions[0].key"),
        ("- {key: a, value: 1, action: hash}\n", "actions[0]"),
        ("- {key: a, action: extract}\n", "actions[0].pattern"),
        (
            "- {key: a, pattern: '(\\d+)', action: extract}\n",
            "actions[0].pattern",
        ),
        (
            "- {key: a, pattern: '(?P<x>\\d+)(\\w)', action: extract}\n",
            "actions[0].pattern",
        ),
        ("- {key: a, action: convert}\n", "actions[0].converted_type"),
        (
            "- {key: a, action: convert, converted_type: bool}\n",
            "actions[0].converted_type",
        ),
        (
            "- {key: a, value: 1, action: insert, converted_type: int}\n",
            "actions[0].converted_type",
        ),
        ("- {key: a, action: rename}\n", "actions[0].action"),
    ];
    for (yaml, path) in cases {
        assert_eq!(build_err(yaml).path, path, "{yaml}");
    }
}
