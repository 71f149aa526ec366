#!/usr/bin/env bash
# Runs every `cargo fuzz` target (or the ones named) for SECONDS each and
# prints libFuzzer's final executions and coverage per target.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default 60 seconds, all targets)
#
# Corpora live in fuzz/corpus/<target> (not committed) and are seeded from
# the repository's fixtures on every run; crashes land in
# fuzz/artifacts/<target>. Needs the nightly toolchain (libFuzzer's
# sanitizer flags) and cargo-fuzz; without nightly it says so and exits 0,
# so CI on a stable-only machine skips instead of failing.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(artifact_verify manifest_parse trust_store audit_module runtime_run)

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: SKIPPED: the nightly toolchain is not installed (cargo fuzz needs it): rustup toolchain install nightly" >&2
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
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
        audit_module) cp ../fixtures/vectors/inputs/*.wasm "$dir/" ;;
        runtime_run) ;; # wasm-smith input: any bytes are a seed
    esac
}

status=0
for target in "${targets[@]}"; do
    seed "$target"
    log=$(mktemp)
    echo "fuzz: $target for ${seconds}s"
    if cargo +nightly fuzz run "$target" "corpus/$target" -- \
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
