#!/usr/bin/env python3
"""Benchmark: `cargo palyra-skill verify` on an artifact with a 16 MiB module
against the shell pipeline `unzip -p ARTIFACT MODULE | sha256sum`.

The module is the tool's own release binary (native code compresses about
like wasm code) repeated to exactly 16 MiB behind a wasm header. Runs are
interleaved (A, B, A, B, ...) so machine noise hits both alike; the report
gives the median wall time of each and the ratio.

Usage: python3 bench/verify.py [--runs N]   (from the repository root)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 16 * 1024 * 1024
SEED_HEX = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"  # the public test key


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for tool in ("unzip", "sha256sum"):
        if not shutil.which(tool):
            sys.exit(f"bench: `{tool}` is not installed (apt-get install {tool})")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "cargo-palyra-skill")
    inputs = os.path.join(ROOT, "fixtures", "vectors", "inputs")

    with tempfile.TemporaryDirectory() as tmp:
        code = open(binary, "rb").read()
        body = (code * (SIZE // len(code) + 1))[: SIZE - 8]
        module = os.path.join(tmp, "big.wasm")
        with open(module, "wb") as f:
            f.write(b"\0asm\x01\0\0\0" + body)
        manifest = open(os.path.join(inputs, "skill.toml")).read().replace("modules/echo.wasm", "modules/big.wasm")
        with open(os.path.join(tmp, "skill.toml"), "w") as f:
            f.write(manifest)
        artifact = os.path.join(tmp, "big.palyra-skill")
        subprocess.run(
            [binary, "-q", "pack", "--manifest", os.path.join(tmp, "skill.toml"), "--module", module,
             "--sbom", os.path.join(inputs, "sbom.cdx.json"), "--provenance", os.path.join(inputs, "provenance.json"),
             "--out", artifact],
            check=True, env={**os.environ, "PALYRA_SKILL_SIGNING_KEY": SEED_HEX},
        )
        commands = {
            "verify": [binary, "-q", "verify", "--allow-tofu", artifact],
            "unzip|sha256sum": ["sh", "-c", f"unzip -p '{artifact}' modules/big.wasm | sha256sum"],
        }
        times = {name: [] for name in commands}
        for name, command in commands.items():  # warm the page cache
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        for _ in range(args.runs):
            for name, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - start)
        size = os.path.getsize(artifact)
        print(f"artifact: {size / 2**20:.1f} MiB compressed, module 16.0 MiB; {args.runs} interleaved runs, {os.cpu_count()} cores")
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, median in medians.items():
            print(f"  {name:<16} median {median * 1000:7.1f} ms   min {min(times[name]) * 1000:7.1f} ms")
        print(f"  ratio verify / pipeline = {medians['verify'] / medians['unzip|sha256sum']:.2f}")


if __name__ == "__main__":
    main()
