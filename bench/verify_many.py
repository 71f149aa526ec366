#!/usr/bin/env python3
"""Benchmark: `cargo palyra-skill verify` of 60 artifacts, each with a 1 MiB
module, on one core (`taskset -c 0`) and on every core, interleaved. The
modules are slices of the tool's own release binary (native code compresses
about like wasm code) behind a wasm header, one slice per artifact.

Target: two cores take at most 0.65x the time of one.

Usage: python3 bench/verify_many.py [--runs N] [--binary PATH]   (from the repository root)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _venv import tool_binary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNT = 60
SIZE = 1024 * 1024
SEED_HEX = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"  # the public test key


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--binary", help="benchmark this cargo-palyra-skill binary instead of building target/release")
    args = parser.parse_args()
    if not shutil.which("taskset"):
        sys.exit("bench: `taskset` is not installed (apt-get install util-linux)")
    binary = tool_binary(args.binary)
    inputs = os.path.join(ROOT, "fixtures", "vectors", "inputs")
    code = open(binary, "rb").read()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PALYRA_SKILL_SIGNING_KEY": SEED_HEX}
        artifacts = []
        for i in range(COUNT):
            start = (i * 997 * 1024) % max(1, len(code) - SIZE)
            module = os.path.join(tmp, f"m{i}.wasm")
            with open(module, "wb") as f:
                f.write(b"\0asm\x01\0\0\0" + code[start:start + SIZE - 8])
            out = os.path.join(tmp, f"a{i}.palyra-skill")
            subprocess.run([binary, "-q", "pack", "--manifest", os.path.join(inputs, "skill.toml"),
                            "--module", f"echo.wasm={module}", "--sbom", os.path.join(inputs, "sbom.cdx.json"),
                            "--provenance", os.path.join(inputs, "provenance.json"), "--out", out],
                           check=True, env=env)
            artifacts.append(out)
        verify = [binary, "-q", "verify", "--allow-tofu", *artifacts]
        variants = {"one core (taskset -c 0)": ["taskset", "-c", "0", *verify], "every core": verify}
        for command in variants.values():
            subprocess.run(command, check=True, capture_output=True)
        times = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, command in variants.items():
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    print(f"{COUNT} artifacts with 1 MiB modules; {args.runs} interleaved rounds, {os.cpu_count()} cores")
    for name, median in medians.items():
        print(f"  {name:<26} median {median:8.1f} ms   min {min(times[name]) * 1000:8.1f} ms")
    ratio = medians["every core"] / medians["one core (taskset -c 0)"]
    print(f"  ratio {ratio:.2f} (target <= 0.65 on two cores)")


if __name__ == "__main__":
    main()
