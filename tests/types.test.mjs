// The package's TypeScript declarations: documented usage compiles under --strict, misuse does not.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT } from "./support/harness.mjs";

test("the typings cover the API (tsc --strict on tests/types/usage.ts)", () => {
  execFileSync(join(ROOT, "node_modules/.bin/tsc"), ["-p", join(ROOT, "tests/types/tsconfig.json")], {
    stdio: "inherit",
  });
});
