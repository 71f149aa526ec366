//! Messages that name what is wrong and the fix, once: a denied capability,
//! a key that does not match, a public key given as a file, what trust on
//! first use did, a tool the skill does not have.

use crate::support::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn verify_takes_the_pub_file_and_names_both_keys_when_they_differ() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("acme.pem");
    cmd().args(["-q", "keygen", "--out"]).arg(&key).assert().success();
    let public = dir.path().join("acme.pem.pub");
    let vector = fixture("vectors/reference-echo.palyra-skill");

    // The vector is signed with the test key: trusting the right one by its
    // `.pub` file works, as the README tells operators.
    let right = dir.path().join("test.pub");
    std::fs::write(&right, test_key().public().to_spki_pem()).unwrap();
    let ok = cmd()
        .arg("verify")
        .arg(&vector)
        .arg("--trusted-publisher")
        .arg(format!("acme={}", right.display()))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));

    // Another key: the message shows the key found and the one expected.
    let wrong = cmd()
        .arg("verify")
        .arg(&vector)
        .arg("--trusted-publisher")
        .arg(format!("acme={}", public.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&wrong.stdout);
    assert_eq!(wrong.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("signed with ed25519:65b60673d6ed884b (public key {TEST_PUBLIC_HEX})")),
        "{text}"
    );
    assert!(text.contains("is trusted with key ed25519:"), "{text}");
    assert!(text.contains(&format!("`--trusted-publisher acme={TEST_PUBLIC_HEX}`")), "{text}");

    // A private key in its place is refused by name.
    let private = cmd()
        .arg("verify")
        .arg(&vector)
        .arg("--trusted-publisher")
        .arg(format!("acme={}", key.display()))
        .output()
        .unwrap();
    assert_eq!(private.status.code(), Some(2));
    assert!(stderr(&private).contains("is a private key: give its public key"), "{}", stderr(&private));
}

#[test]
fn trust_on_first_use_is_said_in_plain_words() {
    let out = cmd()
        .args(["verify", "--allow-tofu"])
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("(trusted on first use: this key is now pinned for the publisher, and another key will be refused)"),
        "{text}"
    );
    assert!(!text.contains("tofu_newly_pinned"), "{text}");
}

#[test]
fn run_names_the_missing_declaration_and_the_tools_there_are() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact_with_module(
        dir.path(),
        "guard.palyra-skill",
        wat::parse_str(r#"(module (func (export "run") (result i32) (i32.const 0)))"#).unwrap(),
    );
    let denied = cmd().arg("run").arg(&artifact).args(["--allow-http", "evil.example.com"]).output().unwrap();
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        stderr(&denied).contains("`skill.toml` does not declare `evil.example.com`: add it to `[capabilities] http_egress_allowlist`"),
        "{}",
        stderr(&denied)
    );

    let no_tool = cmd().arg("run").arg(&artifact).args(["--tool", "acme.nope"]).output().unwrap();
    assert_eq!(no_tool.status.code(), Some(2), "a bad argument, not a failed call");
    assert!(
        stderr(&no_tool).contains("`--tool acme.nope`: the skill's tools are `acme.echo`"),
        "{}",
        stderr(&no_tool)
    );
}
