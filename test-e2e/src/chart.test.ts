/**
 * The Helm chart (charts/autoclint) and the cluster examples (examples/cluster), checked on what
 * they render to: `helm lint --strict`, `helm template` under several value sets, the CRDs against
 * the generated crds/, values.yaml against values.schema.json, and the examples against the CRD
 * schemas (TypeBox always; the API server's dry run too when the local control plane is up).
 *   node hack/run-tests.mjs e2e chart
 * helm comes from hack/helm.sh (built once with `go install`, then cached).
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Value } from "@sinclair/typebox/value";
import { isMap, isScalar, isSeq, parse, parseAllDocuments, parseDocument, type Pair, type YAMLMap } from "yaml";
import { AutoClintBenchmarkSpec, AutoClintPoolSpec, AutoClintRunSpec, STANDBY_PORT } from "@autoclint/api";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const CHART = join(ROOT, "charts", "autoclint");
const KUBECONFIG = process.env.KUBECONFIG_E2E ?? join(ROOT, ".cluster", "kubeconfig");
const MONITORING = ["--api-versions", "monitoring.coreos.com/v1"];

type Json = Record<string, unknown>;
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Json;
  data?: Record<string, string>;
  rules?: { apiGroups?: string[]; resources?: string[]; verbs?: string[] }[];
}

let helmBin = "";

function helm(args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(helmBin, args, { encoding: "utf8", cwd: ROOT });
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** `helm template` of the chart as release "ac" in namespace "autoclint-system", parsed. */
function render(...args: string[]): Manifest[] {
  const result = helm(["template", "ac", CHART, "--namespace", "autoclint-system", ...args]);
  assert.equal(result.status, 0, `helm template ${args.join(" ")} failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

const find = (manifests: Manifest[], kind: string, name?: string) => manifests.filter((m) => m.kind === kind && (!name || m.metadata.name === name));
const one = (manifests: Manifest[], kind: string, name?: string): Manifest => {
  const found = find(manifests, kind, name);
  assert.equal(found.length, 1, `exactly one ${kind}${name ? ` ${name}` : ""}, got ${found.length}`);
  return found[0]!;
};
const podSpec = (workload: Manifest) => (workload.spec as { template: { spec: Json } }).template.spec as {
  securityContext: Json;
  containers: { name: string; image: string; securityContext: Json; env?: { name: string; value?: string }[]; resources?: Json; livenessProbe?: Json; readinessProbe?: Json; ports?: { name: string; containerPort: number }[] }[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
};
const envOf = (workload: Manifest) => Object.fromEntries((podSpec(workload).containers[0]!.env ?? []).map((e) => [e.name, e.value]));

function assertRestricted(workload: Manifest): void {
  const spec = podSpec(workload);
  assert.equal(spec.securityContext.runAsNonRoot, true, `${workload.metadata.name}: runAsNonRoot`);
  assert.deepEqual(spec.securityContext.seccompProfile, { type: "RuntimeDefault" }, `${workload.metadata.name}: seccomp`);
  for (const container of spec.containers) {
    const context = container.securityContext as { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[]; add?: string[] }; privileged?: boolean };
    assert.equal(context.allowPrivilegeEscalation, false, `${container.name}: allowPrivilegeEscalation`);
    assert.equal(context.readOnlyRootFilesystem, true, `${container.name}: readOnlyRootFilesystem`);
    assert.deepEqual(context.capabilities?.drop, ["ALL"], `${container.name}: drop ALL`);
    assert.equal(context.capabilities?.add, undefined, `${container.name}: no added capabilities`);
    assert.notEqual(context.privileged, true);
    assert.ok(container.resources && Object.keys(container.resources).length > 0, `${container.name}: resources`);
    assert.doesNotMatch(container.image, /:latest$|^[^:@]+$/, `${container.name}: pinned image`);
  }
}

before(() => {
  helmBin = execFileSync(join(ROOT, "hack", "helm.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
});

const noClusterFor = (what: string) => (clusterAnswers() ? false : `${what} needs an API server: none at ${KUBECONFIG}`);

void describe("charts/autoclint", () => {
  void test("helm lint --strict passes with the defaults and with other value sets", () => {
    for (const set of [[], ["--set", "nats.url=nats://nats.nats:4222"], ["--set", "replicaCount=2,watchNamespace=ml,crds.enabled=false,grafanaDashboard.enabled=false"]]) {
      const result = helm(["lint", "--strict", CHART, ...set]);
      assert.equal(result.status, 0, `helm lint --strict ${set.join(" ")}:\n${result.stdout}${result.stderr}`);
    }
  });

  void test("the chart's CRDs are the generated crds/, byte for byte, and render to the same objects", () => {
    const generated = readdirSync(join(ROOT, "crds")).filter((f) => f.endsWith(".yaml")).sort();
    const copied = readdirSync(join(CHART, "files", "crds")).filter((f) => f.endsWith(".yaml")).sort();
    assert.deepEqual(copied, generated, "charts/autoclint/files/crds holds the same files as crds/ (cp crds/*.yaml charts/autoclint/files/crds/)");
    for (const file of generated) {
      const want = readFileSync(join(ROOT, "crds", file), "utf8");
      assert.equal(readFileSync(join(CHART, "files", "crds", file), "utf8"), want, `charts/autoclint/files/crds/${file} is stale: cp crds/${file} charts/autoclint/files/crds/`);
      const source = parse(want) as Manifest;
      const rendered = one(render(), "CustomResourceDefinition", source.metadata.name);
      assert.deepEqual(rendered.spec, source.spec, `${file}: rendered spec`);
      assert.equal(rendered.metadata.annotations?.["helm.sh/resource-policy"], "keep");
      for (const [key, value] of Object.entries(source.metadata.labels ?? {})) assert.equal(rendered.metadata.labels?.[key], value);
    }
    assert.equal(find(render("--set", "crds.enabled=false"), "CustomResourceDefinition").length, 0);
    assert.equal(one(render("--set", "crds.keep=false"), "CustomResourceDefinition", "autoclintruns.autoclint.io").metadata.annotations, undefined);
  });

  void test("the operator Deployment: restricted security context, resources, probes on the metrics port, NATS and leader election env", () => {
    const manifests = render();
    const deployment = one(manifests, "Deployment", "ac-operator");
    assertRestricted(deployment);
    const spec = podSpec(deployment);
    const container = spec.containers[0]!;
    assert.equal(spec.serviceAccountName, "ac-operator");
    assert.equal(container.image, "ghcr.io/autoclint/operator:0.1.0");
    assert.deepEqual(container.ports, [{ name: "metrics", containerPort: 8080, protocol: "TCP" }]);
    assert.deepEqual((container.livenessProbe as { httpGet: Json }).httpGet, { path: "/healthz", port: "metrics" });
    assert.deepEqual((container.readinessProbe as { httpGet: Json }).httpGet, { path: "/readyz", port: "metrics" });
    const env = envOf(deployment);
    assert.equal(env.AUTOCLINT_NATS_URL, "nats://ac-nats.autoclint-system.svc.cluster.local:4222");
    assert.equal(env.AUTOCLINT_TRAINER_NATS_URL, env.AUTOCLINT_NATS_URL);
    assert.equal(env.AUTOCLINT_LEADER_ELECTION, "true");
    assert.equal(env.AUTOCLINT_LEASE_NAME, "autoclint-operator");
    assert.equal(env.AUTOCLINT_HTTP_PORT, "8080");
    assert.equal(env.AUTOCLINT_TRAINER_IMAGE, "ghcr.io/autoclint/trainer-torch:0.1.0");
    assert.equal(env.AUTOCLINT_TRAINER_IMAGE_TFJS, "ghcr.io/autoclint/trainer-tfjs:0.1.0", "engine tfjs has its own image");
    assert.ok(container.env!.some((e) => e.name === "AUTOCLINT_LEASE_NAMESPACE"), "the Lease lives in the release namespace");

    const service = one(manifests, "Service", "ac-operator-metrics");
    assert.deepEqual((service.spec as { ports: Json[] }).ports, [{ name: "metrics", port: 8080, targetPort: "metrics", protocol: "TCP" }]);
    assert.deepEqual((service.spec as { selector: Json }).selector, ((deployment.spec as { selector: { matchLabels: Json } }).selector.matchLabels));

    const digest = `sha256:${"a".repeat(64)}`;
    const pinned = one(render("--set", `image.digest=${digest},metricsPort=9090,leaderElection.enabled=false`), "Deployment");
    assert.equal(podSpec(pinned).containers[0]!.image, `ghcr.io/autoclint/operator@${digest}`);
    assert.equal(envOf(pinned).AUTOCLINT_LEADER_ELECTION, "false");
    assert.equal(envOf(pinned).AUTOCLINT_HTTP_PORT, "9090");
    const refused = helm(["template", "ac", CHART, "--set", "replicaCount=2,leaderElection.enabled=false"]);
    assert.notEqual(refused.status, 0, "two replicas without leader election are refused");
    assert.match(refused.stderr, /leaderElection/);
  });

  void test("RBAC names no wildcard and binds the operator's ServiceAccount", () => {
    const manifests = render();
    const roles = [...find(manifests, "ClusterRole"), ...find(manifests, "Role")];
    assert.ok(roles.length >= 2);
    for (const role of roles) {
      for (const rule of role.rules ?? []) {
        for (const field of [rule.apiGroups, rule.resources, rule.verbs]) assert.ok(!(field ?? []).some((v) => v.includes("*")), `${role.kind} ${role.metadata.name}: ${JSON.stringify(rule)}`);
      }
    }
    one(manifests, "ServiceAccount", "ac-operator");
  });

  void test("NATS: a JetStream StatefulSet on a PVC, in JWT mode, by default; nats.url uses an existing server and renders none", () => {
    const manifests = render();
    const statefulSet = one(manifests, "StatefulSet", "ac-nats");
    assertRestricted(statefulSet);
    const claims = (statefulSet.spec as { volumeClaimTemplates: { spec: { resources: { requests: { storage: string } } } }[] }).volumeClaimTemplates;
    assert.equal(claims[0]!.spec.resources.requests.storage, "10Gi");
    const config = one(manifests, "ConfigMap", "ac-nats-config").data!["nats.conf"]!;
    assert.match(config, /jetstream \{\s*store_dir: \/data/);
    one(manifests, "Service", "ac-nats");

    // JWT mode by default: the empty authority Secret and trust ConfigMap the operator fills, the
    // include, the pod waiting on the ConfigMap's key, and the operator told both names.
    assert.equal(one(manifests, "Secret", "ac-nats-authority").data, undefined);
    assert.equal(one(manifests, "ConfigMap", "ac-nats-auth").data, undefined);
    assert.match(config, /^include "\.\.\/nats-auth\/auth\.conf"$/m);
    const podSpec = (statefulSet.spec as { template: { spec: { volumes: { name: string; configMap?: { name: string; items?: unknown[] } }[]; containers: { volumeMounts: { name: string; mountPath: string }[] }[] } } }).template.spec;
    assert.deepEqual(podSpec.volumes.find((v) => v.name === "auth")!.configMap, { name: "ac-nats-auth", items: [{ key: "auth.conf", path: "auth.conf" }] });
    assert.equal(podSpec.containers[0]!.volumeMounts.find((m) => m.name === "auth")!.mountPath, "/etc/nats-auth");
    const jwtEnv = envOf(one(manifests, "Deployment"));
    assert.deepEqual([jwtEnv.AUTOCLINT_NATS_AUTHORITY_SECRET, jwtEnv.AUTOCLINT_NATS_AUTH_CONFIGMAP], ["ac-nats-authority", "ac-nats-auth"]);
    const open = render("--set", "nats.auth.enabled=false");
    assert.equal(find(open, "Secret", "ac-nats-authority").length + find(open, "ConfigMap", "ac-nats-auth").length, 0);
    assert.doesNotMatch(one(open, "ConfigMap", "ac-nats-config").data!["nats.conf"]!, /include/);
    assert.equal(envOf(one(open, "Deployment")).AUTOCLINT_NATS_AUTHORITY_SECRET, undefined);

    const external = render("--set", "nats.url=nats://nats.nats-system.svc:4222,nats.trainerUrl=nats://nats-gpu.nats-system.svc:4222");
    assert.equal(find(external, "StatefulSet").length, 0);
    assert.equal(find(external, "Service", "ac-nats").length, 0);
    assert.equal(find(external, "ConfigMap", "ac-nats-config").length, 0);
    const env = envOf(one(external, "Deployment"));
    assert.equal(env.AUTOCLINT_NATS_URL, "nats://nats.nats-system.svc:4222");
    assert.equal(env.AUTOCLINT_TRAINER_NATS_URL, "nats://nats-gpu.nats-system.svc:4222");
    assert.equal(env.AUTOCLINT_NATS_AUTHORITY_SECRET, undefined, "an existing NATS brings its own authentication");
    assert.equal(find(external, "Secret", "ac-nats-authority").length, 0);
  });

  void test("ServiceMonitor and PrometheusRule render only when monitoring.coreos.com/v1 is served", () => {
    const plain = render();
    assert.equal(find(plain, "ServiceMonitor").length, 0);
    assert.equal(find(plain, "PrometheusRule").length, 0);
    const monitored = render(...MONITORING, "--set", "metrics.serviceMonitor.labels.release=kps,prometheusRule.schedulingTimeout=1h");
    const monitor = one(monitored, "ServiceMonitor", "ac-operator");
    assert.equal(monitor.metadata.labels?.release, "kps");
    const endpoints = (monitor.spec as { endpoints: { port: string; path: string; honorLabels?: boolean }[] }).endpoints;
    assert.deepEqual(endpoints.map((e) => [e.port, e.path, e.honorLabels]), [["metrics", "/metrics", true]], "the runs' namespace label survives the scrape");
    const rule = one(monitored, "PrometheusRule", "ac-operator");
    const alerts = (rule.spec as { groups: { rules: { alert?: string; for?: string }[] }[] }).groups.flatMap((g) => g.rules);
    assert.deepEqual(alerts.map((r) => r.alert).sort(), ["AutoClintEventPipelineStalled", "AutoClintForgedEvents", "AutoClintPoolExhausted", "AutoClintRunFailed", "AutoClintRunStuckScheduling"]);
    assert.equal(alerts.find((r) => r.alert === "AutoClintRunStuckScheduling")!.for, "1h");
    const off = render(...MONITORING, "--set", "metrics.serviceMonitor.enabled=false,prometheusRule.enabled=false");
    assert.equal(find(off, "ServiceMonitor").length + find(off, "PrometheusRule").length, 0);
  });

  void test("the Grafana dashboard ConfigMap carries the sidecar label and the dashboard JSON", () => {
    const map = one(render(), "ConfigMap", "ac-dashboard");
    assert.equal(map.metadata.labels?.grafana_dashboard, "1");
    const dashboard = JSON.parse(map.data!["autoclint.json"]!) as { uid: string };
    assert.deepEqual(dashboard, JSON.parse(readFileSync(join(CHART, "dashboards", "autoclint.json"), "utf8")));
    const moved = one(render("--set", "grafanaDashboard.namespace=monitoring,grafanaDashboard.annotations.grafana_folder=AutoCLINT"), "ConfigMap", "ac-dashboard");
    assert.equal(moved.metadata.namespace, "monitoring");
    assert.equal(moved.metadata.annotations?.grafana_folder, "AutoCLINT");
  });

  void test("the API server accepts every rendered object (server-side dry run)", { skip: noClusterFor("a server-side dry run") }, () => {
    for (const set of [[], ["--set", "nats.url=nats://nats.nats-system.svc:4222,replicaCount=2"]]) {
      const rendered = helm(["template", "ac", CHART, "--namespace", "default", ...set]);
      assert.equal(rendered.status, 0, rendered.stderr);
      const applied = spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "apply", "--dry-run=server", "-f", "-"], { input: rendered.stdout, encoding: "utf8" });
      assert.equal(applied.status, 0, `${set.join(" ")}: ${applied.stderr}`);
    }
  });

  void test("the admission policy refuses, with its message, a run or a warm pool naming an image, priority class, runtime class, toleration or claim the values do not allow; only in the watched namespace", { skip: noClusterFor("the admission policy") }, async () => {
    const suffix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
    const [watched, other, release] = [`vap-e2e-${suffix}`, `vap-other-${suffix}`, `vap-${suffix}`];
    const kubectl = (args: string[], input?: string) => spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, ...args], { input, encoding: "utf8" });
    const policy = helm(["template", release, CHART, "--namespace", watched, "--show-only", "templates/admission.yaml", "--set", [
      `watchNamespace=${watched}`, "admission.allowedImagePrefixes={registry.example.com/ml/}", "admission.allowedPriorityClassNames={autoclint-batch}",
      "admission.allowedRuntimeClassNames={nvidia}", "admission.allowedPvcs={datasets}",
    ].join(",")]);
    assert.equal(policy.status, 0, policy.stderr);
    assert.equal(kubectl(["apply", "--server-side", "-f", join(ROOT, "crds")]).status, 0);
    for (const ns of [watched, other]) assert.equal(kubectl(["create", "namespace", ns]).status, 0);
    try {
      const applied = kubectl(["apply", "-f", "-"], policy.stdout);
      assert.equal(applied.status, 0, applied.stderr);
      const create = (namespace: string, spec: Json) => kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify({
        apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun", metadata: { name: "probe", namespace },
        spec: { dataset: { source: { url: "https://data.example/d.tar" } }, timeBudgetSeconds: 60, ...spec },
      }));
      // The API server compiles a new policy in the background: wait until it refuses.
      const miner = { image: "evil.example/miner:1" };
      for (let tries = 0; create(watched, miner).status === 0; tries++) {
        assert.ok(tries < 60, "the policy took effect within 30 s");
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const refusals: [Json, RegExp][] = [
        [miner, /spec\.image evil\.example\/miner:1 is not allowed here: it must start with one of ghcr\.io\/autoclint\/trainer-torch:, ghcr\.io\/autoclint\/trainer-torch@, registry\.example\.com\/ml\//],
        [{ image: "ghcr.io/autoclint/trainer-torch-evil:1" }, /spec\.image ghcr\.io\/autoclint\/trainer-torch-evil:1 is not allowed/],
        [{ scheduling: { priorityClassName: "system-cluster-critical" } }, /spec\.scheduling\.priorityClassName system-cluster-critical is not allowed here; allowed: \[autoclint-batch\]/],
        [{ scheduling: { runtimeClassName: "runc-privileged" } }, /spec\.scheduling\.runtimeClassName runc-privileged is not allowed here; allowed: \[nvidia\]/],
        [{ scheduling: { tolerations: [{ operator: "Exists" }] } }, /spec\.scheduling\.tolerations may only tolerate the taint keys \[nvidia\.com\/gpu\]/],
        [{ scheduling: { tolerations: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists" }] } }, /may only tolerate the taint keys/],
        [{ dataset: { source: { pvc: "someone-elses", path: "d" } } }, /spec\.dataset\.source\.pvc someone-elses is not allowed here; allowed claims: \[datasets\]/],
      ];
      for (const [spec, message] of refusals) {
        const result = create(watched, spec);
        assert.notEqual(result.status, 0, `${JSON.stringify(spec)} was accepted`);
        assert.match(result.stderr, new RegExp(`ValidatingAdmissionPolicy '${release}-autoclintrun-limits'[\\s\\S]*denied request`));
        assert.match(result.stderr, message);
      }
      const allowed: Json[] = [
        {}, { image: "ghcr.io/autoclint/trainer-torch:0.1.0" }, { image: "registry.example.com/ml/trainer:2" },
        { scheduling: { priorityClassName: "autoclint-batch", runtimeClassName: "nvidia", tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }] } },
        { dataset: { source: { pvc: "datasets", path: "d" } } },
      ];
      for (const spec of allowed) {
        const result = create(watched, spec);
        assert.equal(result.status, 0, `${JSON.stringify(spec)}: ${result.stderr}`);
      }
      // A dataset secretRef: only a Secret its author may read (a user who may create runs, and get one Secret).
      const rbac = (secrets: string[]) => JSON.stringify({
        apiVersion: "v1", kind: "List", items: [
          { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "runner", namespace: watched }, rules: [
            { apiGroups: ["autoclint.io"], resources: ["autoclintruns"], verbs: ["create"] },
            ...(secrets.length ? [{ apiGroups: [""], resources: ["secrets"], resourceNames: secrets, verbs: ["get"] }] : []),
          ] },
          { apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "runner", namespace: watched }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "runner" }, subjects: [{ kind: "User", name: "vap-runner" }] },
        ],
      });
      assert.equal(kubectl(["apply", "-f", "-"], rbac(["their-token"])).status, 0);
      const withSecret = (secret: string) => kubectl(["--as=vap-runner", "create", "--dry-run=server", "-f", "-"], JSON.stringify({
        apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun", metadata: { name: "probe", namespace: watched },
        spec: { dataset: { source: { url: "https://data.example/d.tar", secretRef: { name: secret, key: "token" } } }, timeBudgetSeconds: 60 },
      }));
      const stolen = withSecret("someone-elses-token");
      assert.notEqual(stolen.status, 0, "a run named a Secret its author may not read");
      assert.match(stolen.stderr, /spec\.dataset\.source\.secretRef: vap-runner may not get Secret someone-elses-token in vap-e2e-/);
      const own = withSecret("their-token");
      assert.equal(own.status, 0, `a Secret its author may read: ${own.stderr}`);
      // A warm pool's pods are made with the operator's rights too: the same limits, on create and update.
      const pool = (spec: Json) => JSON.stringify({ apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintPool", metadata: { name: "probe", namespace: watched }, spec: { minWarm: 0, maxWarm: 1, ...spec } });
      for (let tries = 0; kubectl(["create", "--dry-run=server", "-f", "-"], pool(miner)).status === 0; tries++) {
        assert.ok(tries < 60, "the pool policy took effect within 30 s");
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const poolRefusals: [Json, RegExp][] = [
        [miner, /spec\.image evil\.example\/miner:1 is not allowed here/],
        [{ scheduling: { priorityClassName: "system-cluster-critical" } }, /spec\.scheduling\.priorityClassName system-cluster-critical is not allowed here/],
        [{ scheduling: { tolerations: [{ operator: "Exists" }] } }, /may only tolerate the taint keys/],
        [{ datasetClaims: ["datasets", "someone-elses"] }, /spec\.datasetClaims someone-elses is not allowed here; allowed claims: \[datasets\]/],
      ];
      for (const [spec, message] of poolRefusals) {
        const result = kubectl(["create", "--dry-run=server", "-f", "-"], pool(spec));
        assert.notEqual(result.status, 0, `pool ${JSON.stringify(spec)} was accepted`);
        assert.match(result.stderr, new RegExp(`ValidatingAdmissionPolicy '${release}-autoclintpool-limits'[\\s\\S]*denied request`));
        assert.match(result.stderr, message);
      }
      const acceptedPool = kubectl(["create", "-f", "-"], pool({ image: "registry.example.com/ml/trainer:2", datasetClaims: ["datasets"] }));
      assert.equal(acceptedPool.status, 0, acceptedPool.stderr);
      const changed = kubectl(["patch", "-n", watched, "autoclintpool", "probe", "--type=merge", "-p", JSON.stringify({ spec: { image: "evil.example/miner:2" } })]);
      assert.notEqual(changed.status, 0, "an allowed pool was changed to a refused image");
      assert.match(changed.stderr, /spec\.image evil\.example\/miner:2 is not allowed here/);
      // A namespaced install polices its own namespace only.
      assert.equal(create(other, miner).status, 0, "the binding selects only the watched namespace");
    } finally {
      kubectl(["delete", "validatingadmissionpolicy,validatingadmissionpolicybinding", `${release}-autoclintrun-limits`, `${release}-autoclintpool-limits`, "--wait=false"]);
      kubectl(["delete", "namespace", watched, other, "--wait=false"]);
    }
  });

  void test("a namespaced install (watchNamespace) renders no cluster-wide role and cannot touch Jobs or pods outside its namespace", { skip: noClusterFor("RBAC on the API server") }, () => {
    const rendered = render("--set", "watchNamespace=team-a");
    assert.deepEqual([...find(rendered, "ClusterRole"), ...find(rendered, "ClusterRoleBinding")].map((m) => m.metadata.name), [], "no cluster-wide RBAC");
    assert.equal(one(rendered, "Role", "ac-operator").metadata.namespace, "team-a");
    const suffix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
    const [watched, other, release] = [`rbac-e2e-${suffix}`, `rbac-other-${suffix}`, `rbac-${suffix}`];
    const kubectl = (args: string[], input?: string, kubeconfig = KUBECONFIG) => spawnSync("kubectl", ["--kubeconfig", kubeconfig, ...args], { input, encoding: "utf8" });
    for (const ns of [watched, other]) assert.equal(kubectl(["create", "namespace", ns]).status, 0);
    const dir = mkdtempSync(join(tmpdir(), "autoclint-rbac-"));
    try {
      const rbac = helm(["template", release, CHART, "--namespace", watched, "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml", "--set", `watchNamespace=${watched}`]);
      assert.equal(rbac.status, 0, rbac.stderr);
      const applied = kubectl(["apply", "-f", "-"], rbac.stdout);
      assert.equal(applied.status, 0, applied.stderr);
      const saKubeconfig = join(dir, "sa.kubeconfig");
      const made = spawnSync(join(ROOT, "hack", "cluster-sa-kubeconfig.sh"), [watched, `${release}-operator`, saKubeconfig], { encoding: "utf8", env: { ...process.env, KUBECONFIG } });
      assert.equal(made.status, 0, made.stderr);
      const job = (namespace: string) => JSON.stringify({
        apiVersion: "batch/v1", kind: "Job", metadata: { name: "probe", namespace },
        spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox" }] } } },
      });
      const inside = kubectl(["create", "--dry-run=server", "-f", "-"], job(watched), saKubeconfig);
      assert.equal(inside.status, 0, `a Job in the watched namespace: ${inside.stderr}`);
      const outside = kubectl(["create", "--dry-run=server", "-f", "-"], job(other), saKubeconfig);
      assert.notEqual(outside.status, 0, "a Job in another namespace was allowed");
      assert.match(outside.stderr, /forbidden: User "system:serviceaccount:[^"]+" cannot create resource "jobs" in API group "batch" in the namespace "rbac-other-/);
      for (const [verb, resource] of [["list", "pods"], ["create", "jobs"], ["list", "autoclintruns.autoclint.io"]]) {
        assert.equal(kubectl(["auth", "can-i", verb!, resource!, "--all-namespaces"], undefined, saKubeconfig).stdout.trim(), "no", `${verb} ${resource} cluster-wide`);
        assert.equal(kubectl(["auth", "can-i", verb!, resource!, "-n", watched], undefined, saKubeconfig).stdout.trim(), "yes", `${verb} ${resource} in ${watched}`);
      }
      // Secrets: create an attempt's, read back only the NATS authority by name; never read or list a run's.
      const can = (...args: string[]) => kubectl(["auth", "can-i", ...args, "-n", watched], undefined, saKubeconfig).stdout.trim();
      assert.deepEqual(
        [can("create", "secrets"), can("get", "secrets"), can("list", "secrets"), can("get", `secret/${release}-nats-authority`), can("patch", `secret/${release}-nats-authority`), can("patch", "secret/another")],
        ["yes", "no", "no", "yes", "yes", "no"],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      kubectl(["delete", "namespace", watched, other, "--wait=false"]);
    }
  });

  void test("NetworkPolicies: NATS takes clients only from trainer pods and the operator; trainers reach only NATS, DNS and the dataset egress, and take only the operator on the standby port; the API server accepts them", () => {
    type Peer = { namespaceSelector?: Json; podSelector?: { matchLabels?: Record<string, string> }; ipBlock?: { cidr: string; except?: string[] } };
    type Rule = { from?: Peer[]; to?: Peer[]; ports?: { port: number; protocol: string }[] };
    const rendered = render("--set", "watchNamespace=default,networkPolicy.trainerNamespaces={kube-public}");
    const trainerLabels = { "app.kubernetes.io/managed-by": "autoclint-operator", "app.kubernetes.io/name": "autoclint-trainer" };
    const nats = one(rendered, "NetworkPolicy", "ac-nats").spec as { podSelector: { matchLabels: Record<string, string> }; ingress: Rule[] };
    assert.equal(nats.podSelector.matchLabels["app.kubernetes.io/name"], "autoclint-nats");
    const client = nats.ingress.find((r) => r.ports?.some((p) => p.port === 4222))!;
    assert.deepEqual(client.from!.map((peer) => peer.podSelector?.matchLabels), [trainerLabels, { "app.kubernetes.io/name": "autoclint-operator", "app.kubernetes.io/instance": "ac" }]);
    assert.deepEqual(client.from![0]!.namespaceSelector, {}, "trainer pods of any namespace");
    assert.equal(client.from![1]!.namespaceSelector, undefined, "the operator of the release namespace only");
    const trainers = find(rendered, "NetworkPolicy", "ac-trainer");
    assert.deepEqual(trainers.map((p) => p.metadata.namespace).sort(), ["default", "kube-public"]);
    for (const policy of trainers) {
      const spec = policy.spec as { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress?: Rule[]; egress: Rule[] };
      assert.deepEqual(spec.podSelector.matchLabels, trainerLabels);
      assert.deepEqual(spec.policyTypes, ["Ingress", "Egress"]);
      assert.deepEqual(spec.ingress, [{
        from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "autoclint-system" } }, podSelector: { matchLabels: { "app.kubernetes.io/name": "autoclint-operator", "app.kubernetes.io/instance": "ac" } } }],
        ports: [{ port: STANDBY_PORT, protocol: "TCP" }],
      }], "one ingress: the standby port of a warm pool pod (STANDBY_PORT), from the operator of the release namespace only");
      assert.deepEqual(spec.egress.map((r) => r.ports!.map((p) => `${p.protocol}/${p.port}`).join(",")), ["TCP/4222", "UDP/53,TCP/53", "TCP/80,TCP/443"]);
      assert.equal(spec.egress[0]!.to![0]!.podSelector!.matchLabels!["app.kubernetes.io/name"], "autoclint-nats");
      assert.ok(spec.egress[2]!.to![0]!.ipBlock!.except!.includes("169.254.0.0/16"), "no cloud metadata endpoint");
    }
    assert.deepEqual(find(render(), "NetworkPolicy").map((p) => p.metadata.name), ["ac-nats"], "a cluster-wide install lists its trainer namespaces itself");
    assert.deepEqual(find(render("--set", "networkPolicy.enabled=false"), "NetworkPolicy"), []);
    if (!clusterAnswers()) return;
    const policies = helm(["template", "ac", CHART, "--namespace", "default", "--show-only", "templates/networkpolicy.yaml", "--set", "watchNamespace=default,networkPolicy.trainerNamespaces={kube-public}"]);
    const applied = spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "apply", "--dry-run=server", "-f", "-"], { input: policies.stdout, encoding: "utf8" });
    assert.equal(applied.status, 0, applied.stderr);
    assert.match(applied.stdout, /networkpolicy.networking.k8s.io\/ac-trainer created \(server dry run\)/);
  });

  // helm renders NOTES.txt only on install; even `--dry-run=client` reads the cluster's API versions.
  void test("NOTES.txt tells how to submit a first run", { skip: noClusterFor("helm install --dry-run") }, () => {
    const result = spawnSync(helmBin, ["install", "ac", CHART, "--dry-run=client", "--namespace", "autoclint-system", "--kubeconfig", KUBECONFIG, "--set", "crds.enabled=false"], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    const notes = result.stdout.slice(result.stdout.indexOf("NOTES:"));
    assert.match(notes, /kind: AutoClintRun[\s\S]*kubectl apply -f run\.yaml|kubectl apply -f run\.yaml[\s\S]*kind: AutoClintRun/);
    assert.match(notes, /kubectl get autoclintruns -w/);
    assert.match(notes, /no ServiceMonitor or PrometheusRule/);
  });
});

/**
 * Every key path of values.yaml, walked alongside the schema: maps the schema structures (declares
 * `properties` for) are descended into; free-form ones (resources, securityContext, ...) are one
 * key. Each key says whether a comment with an example precedes it (for a map's first key, yaml
 * hangs that comment on the map).
 */
function valueKeys(map: YAMLMap, schema: Json, prefix = ""): { path: string; documented: boolean }[] {
  return map.items.flatMap((pair: Pair, index: number) => {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const path = prefix ? `${prefix}.${key}` : key;
    const comment = `${index === 0 ? (map.commentBefore ?? "") : ""}\n${isScalar(pair.key) ? (pair.key.commentBefore ?? "") : ""}`;
    const childSchema = ((schema.properties ?? {}) as Record<string, Json>)[key] ?? {};
    if (isMap(pair.value) && childSchema.properties) return [{ path, documented: true }, ...valueKeys(pair.value, childSchema, path)];
    return [{ path, documented: /Example:/.test(comment) }];
  });
}

/** Every property path the schema declares (objects with `properties` are descended into). */
function schemaPaths(schema: Json, prefix = ""): string[] {
  const properties = (schema.properties ?? {}) as Record<string, Json>;
  return Object.entries(properties).flatMap(([key, child]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return child.properties ? [path, ...schemaPaths(child, path)] : [path];
  });
}

void describe("charts/autoclint values", () => {
  const document = parseDocument(readFileSync(join(CHART, "values.yaml"), "utf8"));
  const schema = JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8")) as Json;

  void test("every key of values.yaml is commented with an example", () => {
    assert.ok(isMap(document.contents));
    const undocumented = valueKeys(document.contents, schema).filter((k) => !k.documented).map((k) => k.path);
    assert.deepEqual(undocumented, [], "keys without a `# Example:` comment");
  });

  void test("values.schema.json and values.yaml declare the same keys, and the schema refuses strangers", () => {
    assert.ok(isMap(document.contents));
    const fromValues = valueKeys(document.contents, schema).map((k) => k.path).sort();
    const fromSchema = schemaPaths(schema).filter((p) => p !== "global").sort();
    assert.deepEqual(fromSchema, fromValues);
    const refused = helm(["template", "ac", CHART, "--set", "nats.jetstrem.storageSize=1Gi"]);
    assert.notEqual(refused.status, 0, "a misspelt key is refused");
    assert.match(refused.stderr, /jetstrem/);
    const wrongType = helm(["template", "ac", CHART, "--set", "metricsPort=http"]);
    assert.notEqual(wrongType.status, 0, "a wrong type is refused");
  });

  void test("list and sequence defaults stay the types the templates expect", () => {
    const values = document.toJS() as Json;
    for (const key of ["imagePullSecrets", "tolerations", "extraEnv"]) assert.ok(Array.isArray(values[key]), key);
    assert.ok(isSeq(document.getIn(["securityContext", "capabilities", "drop"], true)));
  });
});

function clusterAnswers(): boolean {
  if (!existsSync(KUBECONFIG)) return false;
  return spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "get", "--raw", "/readyz"], { stdio: "ignore", timeout: 10_000 }).status === 0;
}

void describe("examples/cluster", () => {
  const dir = join(ROOT, "examples", "cluster");
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
  const objects = files.flatMap((file) => parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((d) => ({ file, object: d.toJS() as Manifest })));

  void test("cover a URL run, a PVC run, a weights + non-default augmentation run and a benchmark, each commented", () => {
    const runs = objects.filter((o) => o.object.kind === "AutoClintRun").map((o) => o.object.spec as { dataset: { source: { url?: string; pvc?: string } }; model?: { weights?: string }; augmentation?: { strategy?: string } });
    assert.ok(runs.some((s) => s.dataset.source.url), "a URL dataset run");
    assert.ok(runs.some((s) => s.dataset.source.pvc), "a PVC dataset run");
    assert.ok(runs.some((s) => s.model?.weights && s.augmentation?.strategy && s.augmentation.strategy !== "fast-autoaugment-light"), "weights and a non-default augmentation");
    assert.ok(objects.some((o) => o.object.kind === "AutoClintBenchmark"), "a benchmark");
    for (const file of files) {
      const opening = /^(#.*\n)+/.exec(readFileSync(join(dir, file), "utf8"))?.[0] ?? "";
      assert.ok(opening.includes(`kubectl apply -f examples/cluster/${file}`), `${file} opens with a comment that says how to apply it`);
    }
  });

  void test("validate against the CRD schemas (TypeBox, the source of crds/)", () => {
    for (const { file, object } of objects) {
      if (object.apiVersion !== "autoclint.io/v1alpha1") continue;
      const schema = object.kind === "AutoClintRun" ? AutoClintRunSpec : object.kind === "AutoClintPool" ? AutoClintPoolSpec : AutoClintBenchmarkSpec;
      const errors = [...Value.Errors(schema, Value.Default(schema, Value.Clone(object.spec)))].map((e) => `${e.path}: ${e.message}`);
      assert.deepEqual(errors, [], `${file} ${object.kind} ${object.metadata.name}`);
    }
  });

  const skip = clusterAnswers() ? false : `no local control plane at ${KUBECONFIG}`;
  void test("the API server accepts them (server-side dry run: OpenAPI schema and CEL rules)", { skip }, () => {
    execFileSync("kubectl", ["--kubeconfig", KUBECONFIG, "apply", "--server-side", "-f", join(ROOT, "crds")], { stdio: "ignore" });
    execFileSync("kubectl", ["--kubeconfig", KUBECONFIG, "wait", "--for=condition=Established", "--timeout=60s", "crd/autoclintruns.autoclint.io", "crd/autoclintbenchmarks.autoclint.io", "crd/autoclintpools.autoclint.io"], { stdio: "ignore" });
    for (const file of files) {
      const result = spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "apply", "--dry-run=server", "--namespace", "default", "-f", join(dir, file)], { encoding: "utf8" });
      assert.equal(result.status, 0, `${file}: ${result.stderr}`);
    }
  });
});
