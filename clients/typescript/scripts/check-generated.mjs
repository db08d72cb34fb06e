#!/usr/bin/env node
// Fails when src/generated/openapi.ts is not exactly what openapi-typescript makes of the
// committed openapi.json at the repository root. Fix: `npm run generate`, then commit.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const committed = path.join(root, "src", "generated", "openapi.ts");
const dir = mkdtempSync(path.join(tmpdir(), "holdfast-ts-generated-"));
try {
  const fresh = path.join(dir, "openapi.ts");
  execFileSync(
    path.join(root, "node_modules", ".bin", "openapi-typescript"),
    [path.join(root, "..", "..", "openapi.json"), "-o", fresh],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const want = readFileSync(fresh, "utf8");
  const have = readFileSync(committed, "utf8");
  if (want !== have) {
    const a = have.split("\n");
    const b = want.split("\n");
    let line = 0;
    while (line < a.length && a[line] === b[line]) line++;
    console.error(
      `src/generated/openapi.ts is stale against openapi.json (first difference at line ${line + 1}:\n` +
        `  committed: ${JSON.stringify(a[line] ?? "<end of file>")}\n` +
        `  generated: ${JSON.stringify(b[line] ?? "<end of file>")}).\n` +
        "Run `npm run generate` in clients/typescript and commit the result.",
    );
    process.exitCode = 1;
  } else {
    console.log("src/generated/openapi.ts matches openapi.json");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
