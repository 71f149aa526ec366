#!/usr/bin/env python3
"""Benchmark: `cargo palyra-skill audit --advisory-db` of a small artifact
whose SBOM lists one crate at 1,500 versions (the second security review's
item 5), against cargo's real crates.io index cache on this machine.

The crate is the one with the largest file in the index cache (`syn`,
`clap` or the like on a machine that built this tool). Before the fix the
tool read and parsed that file once per listed version (68 s for 1,000
versions of `web-sys`); now once per crate. The goal is under 1 s.

Usage: python3 bench/advisories.py [--runs N] [--binary PATH]   (from the repository root)
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _venv import tool_binary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_HEX = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"  # the public test key
VERSIONS = 1_500


def largest_cached_crate():
    cargo_home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    files = glob.glob(os.path.join(cargo_home, "registry/index/*/.cache/**/*"), recursive=True)
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        sys.exit("bench: cargo has no crates.io index cache here (build anything from crates.io first)")
    biggest = max(files, key=os.path.getsize)
    return os.path.basename(biggest), os.path.getsize(biggest)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--binary", help="the tool to time [default: a release build]")
    args = parser.parse_args()
    binary = tool_binary(args.binary)
    name, size = largest_cached_crate()
    inputs = os.path.join(ROOT, "fixtures", "vectors", "inputs")
    with tempfile.TemporaryDirectory() as tmp:
        components = [
            {"type": "library", "name": name, "version": f"0.{i // 100}.{i % 100}",
             "purl": f"pkg:cargo/{name}@0.{i // 100}.{i % 100}"}
            for i in range(VERSIONS)
        ]
        sbom = json.load(open(os.path.join(inputs, "sbom.cdx.json")))
        sbom["components"] = components
        sbom_path = os.path.join(tmp, "sbom.cdx.json")
        json.dump(sbom, open(sbom_path, "w"))
        artifact = os.path.join(tmp, "many.palyra-skill")
        subprocess.run(
            [binary, "-q", "pack", "--manifest", os.path.join(inputs, "skill.toml"),
             "--module", f"echo.wasm={os.path.join(inputs, 'echo.wasm')}", "--sbom", sbom_path,
             "--provenance", os.path.join(inputs, "provenance.json"), "--out", artifact],
            check=True, env={**os.environ, "PALYRA_SKILL_SIGNING_KEY": SEED_HEX},
        )
        command = [binary, "audit", "--message-format", "json", "--advisory-db",
                   os.path.join(ROOT, "fixtures", "advisory-db"), artifact]
        times = []
        report = None
        for _ in range(args.runs):
            start = time.perf_counter()
            out = subprocess.run(command, capture_output=True)
            times.append(time.perf_counter() - start)
            report = json.loads(out.stdout)
        check = next(c for c in report["checks"] if c["check_id"] == "vulnerability_feed_hook")
        yanked = check["details"]["yanked"]
        print(f"artifact: {os.path.getsize(artifact)} bytes listing `{name}` at {VERSIONS} versions")
        print(f"index cache file of `{name}`: {size} bytes")
        print(f"checked against the cache: {yanked.get('checked')}, not in cache: {len(yanked.get('not_in_cache', []))}")
        print(f"audit --advisory-db: median {statistics.median(times) * 1000:.0f} ms over {args.runs} runs "
              f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")


if __name__ == "__main__":
    main()
