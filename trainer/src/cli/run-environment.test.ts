import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runEnvironment } from "./run";

void test("the attempt's NATS credential comes from the file AUTOCLINT_NATS_CREDS names, with its inbox prefix; a file without a prefix is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "autoclint-creds-"));
  try {
    const file = join(dir, "nats.creds");
    writeFileSync(file, "-----BEGIN NATS USER JWT-----\nabc\n------END NATS USER JWT------\n");
    const env = runEnvironment({ AUTOCLINT_NATS_URL: "nats://nats:4222", AUTOCLINT_NATS_CREDS: file, AUTOCLINT_NATS_INBOX_PREFIX: "_INBOX_AUTOCLINT.uid.0" });
    assert.deepEqual(env.natsCredentials, { creds: "-----BEGIN NATS USER JWT-----\nabc\n------END NATS USER JWT------\n", inboxPrefix: "_INBOX_AUTOCLINT.uid.0" });
    assert.equal(runEnvironment({}).natsCredentials, undefined);
    assert.throws(() => runEnvironment({ AUTOCLINT_NATS_CREDS: file }), /AUTOCLINT_NATS_INBOX_PREFIX is not/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
