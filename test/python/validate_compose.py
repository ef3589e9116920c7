"""Validates docker-compose.yml against the Compose spec (compose_spec, Rust-backed) and checks what the spec
parser does not: depends_on targets exist (and have a healthcheck where the condition waits for one), named volumes
are declared, bind-mounted paths exist. Prints the normalized file as JSON for further checks, or the problems and
exits 1.

compose_spec's YAML reader knows anchors but not YAML merge keys (`<<: *worker`), which Docker Compose resolves
itself; PyYAML's safe loader resolves them here first, as Compose would, and the spec parser gets the result."""

import json
import os
import sys

import compose_spec
import yaml

path = sys.argv[1]
root = os.path.dirname(os.path.abspath(path))
with open(path) as f:
    merged = yaml.safe_load(f)
compose = compose_spec.PyCompose.from_yaml(json.dumps(merged))
compose.validate()
spec = json.loads(compose.to_json())
problems = []
services = spec.get("services", {})
declared_volumes = set((spec.get("volumes") or {}).keys())
for name, service in services.items():
    for target, dependency in (service.get("depends_on") or {}).items():
        if target not in services:
            problems.append(f"{name}: depends_on unknown service {target}")
            continue
        condition = dependency.get("condition") if isinstance(dependency, dict) else None
        if condition == "service_healthy" and not (services[target].get("healthcheck") or {}).get("test"):
            problems.append(f"{name}: waits for {target} to be healthy, but {target} has no healthcheck")
        if condition == "service_completed_successfully" and services[target].get("restart") in (
            "always",
            "unless-stopped",
        ):
            problems.append(f"{name}: waits for {target} to complete, but {target} restarts forever")
    for volume in service.get("volumes") or []:
        source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
        if source.startswith("."):
            if not os.path.exists(os.path.join(root, source)):
                problems.append(f"{name}: bind mount {source} does not exist")
        elif source and source not in declared_volumes:
            problems.append(f"{name}: volume {source} is not declared")
    build = service.get("build")
    if build is not None and not os.path.exists(os.path.join(root, "Dockerfile")):
        problems.append(f"{name}: builds from a Dockerfile that does not exist")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(json.dumps(spec))
