// deploy/: every manifest against the Kubernetes API schema (kubernetes-models,
// the Prometheus operator's for the ServiceMonitor), and the fields stalld
// depends on, so a careless edit fails here rather than on a node.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { DaemonSet } from "kubernetes-models/apps/v1";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { Namespace, Service } from "kubernetes-models/v1";
import pkg from "../../package.json" with { type: "json" };
import { runArgs } from "../../src/cli/args";
import { parseRunConfig, rejectUnknown } from "../../src/cli/options";

const DEPLOY = join(import.meta.dir, "../../deploy");
// biome-ignore lint/suspicious/noExplicitAny: YAML documents are checked against the schema below
const load = (path: string): any => Bun.YAML.parse(readFileSync(join(DEPLOY, path), "utf8"));

describe("deploy/kubernetes", () => {
  const ds = load("kubernetes/daemonset.yaml");

  test("every manifest is valid against the API schema", () => {
    new DaemonSet(ds).validate();
    new Service(load("kubernetes/service.yaml")).validate();
    new Namespace(load("kubernetes/namespace.yaml")).validate();
    new ServiceMonitor(load("kubernetes/servicemonitor.yaml")).validate();
    new RoleBinding(load("openshift/scc-privileged.yaml")).validate();
    // A broken field is caught: the schema check is not a no-op.
    expect(() =>
      new DaemonSet({
        ...ds,
        spec: { ...ds.spec, template: { ...ds.spec.template, spec: { hostPID: "yes" } } },
      }).validate(),
    ).toThrow();
  });

  test("the DaemonSet: host pids, privileged, the mounts, a probe of passes, time for the restores", () => {
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.hostPID).toBe(true);
    expect(c.securityContext.privileged).toBe(true);
    expect(pod.priorityClassName).toBe("system-node-critical");
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
    expect(Object.keys(pod.nodeSelector)).toHaveLength(1);
    const mounts = Object.fromEntries(
      c.volumeMounts.map((m: { name: string; mountPath: string }) => {
        const vol = pod.volumes.find((v: { name: string }) => v.name === m.name);
        return [m.mountPath, vol.hostPath.path];
      }),
    );
    expect(mounts).toEqual({
      "/sys/kernel/debug": "/sys/kernel/debug",
      "/run/stalld": "/run/stalld",
      "/dev/kmsg": "/dev/kmsg",
    });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(c.ports).toEqual([{ name: "metrics", containerPort: 9101, protocol: "TCP" }]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(15);
    expect(c.resources.requests.memory).toBe("64Mi");
    expect(c.image).toBe(`stalld:${pkg.version}`);
  });

  test("its arguments are ones `stalld run` accepts: state on the hostPath, metrics on the pod's address", () => {
    const c = ds.spec.template.spec.containers[0];
    expect(c.args[0]).toBe("run");
    const args: Record<string, unknown> = {};
    for (const a of c.args.slice(1)) {
      const [k, v] = a.replace(/^--/, "").split("=");
      args[k] = v ?? true;
    }
    rejectUnknown(args, runArgs);
    args["metrics-listen"] = String(args["metrics-listen"]).replace("$(POD_IP)", "10.128.0.7");
    args["metrics-file"] = "/tmp/stalld.prom";
    const cfg = parseRunConfig(args, [0, 1], 2);
    expect(cfg.metricsListen).toEqual({ hostname: "10.128.0.7", port: 9101, loopback: false });
    expect(cfg.stateDir).toBe("/run/stalld");
    expect(c.env.find((e: { name: string }) => e.name === "POD_IP").valueFrom.fieldRef.fieldPath).toBe("status.podIP");
  });

  test("the Service, the ServiceMonitor and the scrape config all find the pods' metrics port", () => {
    const svc = load("kubernetes/service.yaml");
    expect(svc.spec.selector).toEqual(ds.spec.selector.matchLabels);
    expect(svc.spec.clusterIP).toBe("None");
    expect(svc.spec.ports[0].targetPort).toBe("metrics");
    expect(load("kubernetes/servicemonitor.yaml").spec.endpoints[0]).toMatchObject({
      port: "metrics",
      path: "/metrics",
    });
    const [job] = load("kubernetes/scrape-config.yaml");
    expect(job.relabel_configs[0]).toMatchObject({ regex: "stalld", action: "keep" });
    const k = load("kubernetes/kustomization.yaml");
    for (const r of k.resources) expect(readdirSync(join(DEPLOY, "kubernetes"))).toContain(r);
    expect(k.images[0].newTag).toBe(pkg.version);
  });
});

describe("deploy/openshift", () => {
  test("the Tuned overlay inherits the performance profile and only stops the system stalld", () => {
    const t = load("openshift/tuned-disable-system-stalld.yaml");
    expect(t).toMatchObject({ apiVersion: "tuned.openshift.io/v1", kind: "Tuned" });
    const data: string = t.spec.profile[0].data;
    expect(data).toMatch(/^include=openshift-node-performance-/m);
    expect(data).toMatch(/^\[service\]\nservice\.stalld=stop,disable$/m);
    expect(t.spec.recommend[0].priority).toBeLessThan(20);
  });

  test("the MachineConfig masks stalld.service; the kustomization applies the DaemonSet with the overlay", () => {
    const mc = load("openshift/machineconfig-mask-system-stalld.yaml");
    expect(mc).toMatchObject({ apiVersion: "machineconfiguration.openshift.io/v1", kind: "MachineConfig" });
    expect(mc.spec.config.systemd.units).toEqual([{ name: "stalld.service", mask: true }]);
    expect(load("openshift/kustomization.yaml").resources).toEqual([
      "../kubernetes",
      "scc-privileged.yaml",
      "tuned-disable-system-stalld.yaml",
    ]);
  });
});
