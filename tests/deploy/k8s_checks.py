"""Cross-reference checks on Kubernetes objects that a schema cannot express: a Service's targetPort
names a port of the pods it selects, probes hit the health_check port, a ServiceMonitor and an Ingress
name ports and Services that exist, pods mount ConfigMaps that exist and run as non-root."""

HEALTH_PORT = 13133
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


def _pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def _selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check(objs: list[dict]) -> list[str]:
    """Every inconsistency found, as messages (empty when all is well)."""
    errors = []
    workloads = [o for o in objs if o["kind"] in WORKLOADS]
    services = [o for o in objs if o["kind"] == "Service"]
    configmaps = {o["metadata"]["name"] for o in objs if o["kind"] == "ConfigMap"}
    if not workloads:
        errors.append("no workload (Deployment, StatefulSet, DaemonSet)")

    for w in workloads:
        name = f'{w["kind"]}/{w["metadata"]["name"]}'
        pod = _pod_spec(w)
        labels = w["spec"]["template"]["metadata"]["labels"]
        if not _selects(w["spec"]["selector"]["matchLabels"], labels):
            errors.append(f"{name}: selector does not match its pod labels")
        sec = pod.get("securityContext", {})
        if not sec.get("runAsNonRoot") or sec.get("runAsUser", 0) == 0:
            errors.append(f"{name}: pods do not run as a non-root user")
        for vol in pod.get("volumes", []):
            cm = vol.get("configMap", {}).get("name")
            if cm and cm not in configmaps:
                errors.append(f"{name}: volume {vol['name']} names a missing ConfigMap {cm}")
        vol_names = {v["name"] for v in pod.get("volumes", [])} | {
            t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])
        }
        for c in pod["containers"]:
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            if ports.get("health") != HEALTH_PORT:
                errors.append(f"{name}: container {c['name']} has no port health={HEALTH_PORT}")
            for probe in ("livenessProbe", "readinessProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if port not in ("health", HEALTH_PORT):
                    errors.append(f"{name}: {probe} is not an HTTP GET on {HEALTH_PORT}")
            for m in c.get("volumeMounts", []):
                if m["name"] not in vol_names:
                    errors.append(f"{name}: mount {m['name']} has no volume")

    for s in services:
        sname = f'Service/{s["metadata"]["name"]}'
        pods = [w for w in workloads if _selects(s["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])]
        if not pods:
            errors.append(f"{sname}: selects no workload")
            continue
        for p in s["spec"]["ports"]:
            if "name" not in p:
                errors.append(f"{sname}: port {p['port']} has no name")
            target = p.get("targetPort", p["port"])
            for w in pods:
                cports = [cp for c in _pod_spec(w)["containers"] for cp in c.get("ports", [])]
                match = [cp for cp in cports if target in (cp["name"], cp["containerPort"])]
                if not match:
                    errors.append(f"{sname}: targetPort {target} is not a port of {w['metadata']['name']}")
                elif match[0].get("protocol", "TCP") != p.get("protocol", "TCP"):
                    errors.append(f"{sname}: port {target} protocol differs from the container's")

    for sm in (o for o in objs if o["kind"] == "ServiceMonitor"):
        selected = [s for s in services if _selects(sm["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))]
        names = {p.get("name") for s in selected for p in s["spec"]["ports"]}
        if "admin-http" not in names:
            errors.append("ServiceMonitor: no selected Service has the admin-http port (/metrics)")
        for ep in sm["spec"]["endpoints"]:
            if ep["port"] not in names and ep["port"] != "otlp-metrics":
                errors.append(f"ServiceMonitor: endpoint port {ep['port']} is on no selected Service")

    for ing in (o for o in objs if o["kind"] == "Ingress"):
        if not ing["spec"].get("tls"):
            errors.append(f"Ingress/{ing['metadata']['name']}: no TLS")
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                b = path["backend"]["service"]
                svc = [s for s in services if s["metadata"]["name"] == b["name"]]
                if not svc:
                    errors.append(f"Ingress: backend Service {b['name']} does not exist")
                elif b["port"]["name"] not in {p.get("name") for p in svc[0]["spec"]["ports"]}:
                    errors.append(f"Ingress: Service {b['name']} has no port {b['port']['name']}")
    return errors
