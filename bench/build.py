#!/usr/bin/env python3
"""Benchmark: `cargo palyra-skill build` on an already-built skill crate
against `cargo build --release --target wasm32-wasip1` of the same crate,
both no-ops (each keeps its own target directory, built once beforehand).
Runs are interleaved; the report gives medians and the overhead.

Usage: python3 bench/build.py [--runs N]   (from the repository root)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_HEX = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"  # the public test key


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "cargo-palyra-skill")
    with tempfile.TemporaryDirectory() as tmp:
        crate = os.path.join(tmp, "echo")
        shutil.copytree(os.path.join(ROOT, "fixtures", "skills", "echo"), crate, ignore=shutil.ignore_patterns("target"))
        manifest = os.path.join(crate, "Cargo.toml")
        env = {**os.environ, "PALYRA_SKILL_SIGNING_KEY": SEED_HEX}
        commands = {
            "palyra-skill build": [binary, "-q", "build", "--locked", "--manifest-path", manifest,
                                   "--target-dir", os.path.join(tmp, "t1"), "--out", os.path.join(tmp, "out")],
            "cargo build": ["cargo", "build", "-q", "--locked", "--release", "--target", "wasm32-wasip1",
                            "--manifest-path", manifest, "--target-dir", os.path.join(tmp, "t2")],
        }
        for command in commands.values():  # the real builds, then one no-op each
            subprocess.run(command, check=True, env=env)
            subprocess.run(command, check=True, env=env)
        times = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command, check=True, env=env)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"no-op builds of fixtures/skills/echo; {args.runs} interleaved runs, {os.cpu_count()} cores")
    for name, median in medians.items():
        print(f"  {name:<20} median {median * 1000:7.1f} ms   min {min(times[name]) * 1000:7.1f} ms")
    print(f"  overhead = {(medians['palyra-skill build'] - medians['cargo build']) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
