#!/usr/bin/env python3
"""Benchmark: `cargo palyra-skill tune` on fixtures/skills/budget, the
wall time a user waits for the table (issue #34). Cold: a fresh copy of
the crate, so each of the four levels (`z`, `s`, `2`, `3`) compiles
serde_json and the crate in its own target directory, as many at a time as
the machine has cores. Warm: `tune` again in the same copy, every build a
no-op, so the time is cargo's no-op checks, packing and running the cases.
The anchor is one cold `cargo build --release` of the same crate, the cost
of trying one level by hand.

Usage: python3 bench/tune.py [--runs N] [--debug]   (from the repository root; default 3)
`--debug` times the debug build of the tool (no release build first): the
cargo builds `tune` runs dominate either way.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(command, cwd):
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode not in (0, 1):  # 1: no level fits, still a full run
        raise SystemExit(f"{command} failed: {done.stderr}")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    profile = "debug" if args.debug else "release"
    subprocess.run(["cargo", "build", "--quiet"] + ([] if args.debug else ["--release"]), cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", profile, "cargo-palyra-skill")
    times = {"tune, cold": [], "tune, warm": [], "cargo build --release, cold (one level)": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            crate = os.path.join(tmp, f"budget-{run}")
            shutil.copytree(os.path.join(ROOT, "fixtures", "skills", "budget"), crate,
                            ignore=shutil.ignore_patterns("target"))
            tune = [binary, "-q", "tune", "--locked", crate]
            times["tune, cold"].append(timed(tune, crate))
            times["tune, warm"].append(timed(tune, crate))
            anchor = ["cargo", "build", "-q", "--locked", "--release", "--target", "wasm32-unknown-unknown",
                      "--target-dir", os.path.join(tmp, f"anchor-{run}")]
            times["cargo build --release, cold (one level)"].append(timed(anchor, crate))
            shutil.rmtree(crate)
    print(f"tune on fixtures/skills/budget (4 levels); {args.runs} runs, {os.cpu_count()} cores")
    for name, values in times.items():
        print(f"  {name:<40} median {statistics.median(values):7.2f} s   min {min(values):7.2f} s")
    cold, one = statistics.median(times["tune, cold"]), statistics.median(times["cargo build --release, cold (one level)"])
    print(f"  cold tune = {cold / one:.2f}x one cold build (four levels by hand: 4.00x)")


if __name__ == "__main__":
    main()
