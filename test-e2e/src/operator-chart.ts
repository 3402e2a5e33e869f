/**
 * Renders chart templates for the e2e suites with the pinned helm (hack/helm.sh: built once with
 * `go install`, then cached), so that the suites grant exactly what the chart grants.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

export interface Release {
  name: string;
  namespace: string;
  serviceAccount: string;
}

/** The manifests of the named templates of charts/autoclint, as one multi-document YAML text. */
export function renderChartTemplates(root: string, templates: string[], release: Release, set: string[] = []): string {
  const helm = spawnSync(join(root, "hack", "helm.sh"), [], { encoding: "utf8" });
  if (helm.status !== 0) throw new Error(`hack/helm.sh failed: ${helm.stderr}`);
  const args = ["template", release.name, join(root, "charts", "autoclint"), "--namespace", release.namespace, "--set", [`serviceAccount.name=${release.serviceAccount}`, ...set].join(",")];
  for (const t of templates) args.push("--show-only", `templates/${t}`);
  const result = spawnSync(helm.stdout.trim(), args, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return result.stdout;
}
