#!/usr/bin/env bash
# Runs every `cargo fuzz` target (or the ones named) for SECONDS each and
# prints libFuzzer's final executions and coverage per target.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default 60 seconds, all targets)
#
# Corpora live in fuzz/corpus/<target> (not committed) and are seeded from
# the repository's fixtures on every run; crashes land in
# fuzz/artifacts/<target>, and any crash makes the script exit 1.
#
# cargo-fuzz (pinned) is installed when missing. With a nightly toolchain
# the targets run under AddressSanitizer; without one (a fresh machine has
# only stable, and can fetch no other), on the stable toolchain with
# RUSTC_BOOTSTRAP=1 and no sanitizer: the same libFuzzer coverage-guided
# search, debug assertions and overflow checks on, and every panic a crash
# (the library forbids unsafe code, which is what ASan would watch).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(artifact_verify manifest_parse trust_store audit_module runtime_run attestation_verify)

CARGO_FUZZ_VERSION=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
# FUZZ_TOOLCHAIN=stable forces the stable path even where nightly exists.
if [ "${FUZZ_TOOLCHAIN:-auto}" != stable ] && cargo +nightly --version >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz run)
    echo "fuzz: nightly toolchain, AddressSanitizer"
else
    fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none)
    echo "fuzz: stable toolchain (no nightly, or FUZZ_TOOLCHAIN=stable): RUSTC_BOOTSTRAP=1, no sanitizer"
fi

seed() {
    local target=$1 dir=corpus/$1
    mkdir -p "$dir"
    case $target in
        artifact_verify) cp ../fixtures/vectors/*.palyra-skill seeds/artifact_verify/* "$dir/" ;;
        manifest_parse) cp ../fixtures/manifests/*.toml "$dir/"
                        cp ../fixtures/skills/echo/skill.toml "$dir/echo.toml"
                        cp ../templates/skill.toml.tmpl "$dir/template.toml" ;;
        trust_store) cp seeds/trust_store/*.json "$dir/" ;;
        audit_module) cp ../fixtures/vectors/inputs/*.wasm seeds/audit_module/* "$dir/" ;;
        runtime_run) ;; # wasm-smith input: any bytes are a seed
        attestation_verify) cp ../fixtures/attestations/*.sigstore.json "$dir/" ;;
    esac
}

status=0
for target in "${targets[@]}"; do
    seed "$target"
    log=$(mktemp)
    echo "fuzz: $target for ${seconds}s"
    if "${fuzz[@]}" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
        execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
        cov=$(grep -E '^#[0-9]+.*cov:' "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/cov \1, features \2/')
        echo "fuzz: $target ok: $execs executions, $cov"
    else
        echo "fuzz: $target FAILED; the log follows, the input is under fuzz/artifacts/$target" >&2
        tail -60 "$log" >&2
        status=1
    fi
    rm -f "$log"
done
exit $status
