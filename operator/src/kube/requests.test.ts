import { test } from "node:test";
import assert from "node:assert/strict";
import { apiRequestKind } from "./requests";

void test("apiRequestKind names a request as the API server's apiserver_request_total does", () => {
  const base = "https://10.0.0.1:6443";
  const cases: [string, string, ReturnType<typeof apiRequestKind>][] = [
    ["PATCH", "/apis/autoclint.io/v1alpha1/namespaces/ns/autoclintruns/run-1/status?fieldManager=x", { verb: "PATCH", group: "autoclint.io", resource: "autoclintruns", subresource: "status" }],
    ["GET", "/apis/autoclint.io/v1alpha1/namespaces/ns/autoclintruns/run-1", { verb: "GET", group: "autoclint.io", resource: "autoclintruns", subresource: "" }],
    ["GET", "/apis/batch/v1/namespaces/ns/jobs?labelSelector=a%3Db", { verb: "LIST", group: "batch", resource: "jobs", subresource: "" }],
    ["GET", "/api/v1/pods?watch=true&resourceVersion=5", { verb: "WATCH", group: "", resource: "pods", subresource: "" }],
    ["POST", "/api/v1/namespaces/ns/secrets", { verb: "POST", group: "", resource: "secrets", subresource: "" }],
    ["POST", "/api/v1/namespaces/ns/events", { verb: "POST", group: "", resource: "events", subresource: "" }],
    ["DELETE", "/apis/batch/v1/namespaces/ns/jobs/j", { verb: "DELETE", group: "batch", resource: "jobs", subresource: "" }],
    ["DELETE", "/api/v1/namespaces/ns/pods", { verb: "DELETECOLLECTION", group: "", resource: "pods", subresource: "" }],
    ["PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", { verb: "PUT", group: "coordination.k8s.io", resource: "leases", subresource: "" }],
    // The namespace itself, not a resource inside one.
    ["GET", "/api/v1/namespaces/ns", { verb: "GET", group: "", resource: "namespaces", subresource: "" }],
    ["GET", "/api/v1/namespaces", { verb: "LIST", group: "", resource: "namespaces", subresource: "" }],
    ["GET", "/apis", undefined],
    ["GET", "/version", undefined],
  ];
  for (const [method, path, expected] of cases) assert.deepEqual(apiRequestKind(method, `${base}${path}`), expected, `${method} ${path}`);
});
