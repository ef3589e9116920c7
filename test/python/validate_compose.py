"""Validates docker-compose.yml against the Compose spec (compose_spec, Rust-backed) and checks what the spec
parser does not: depends_on targets exist, named volumes are declared, bind-mounted paths exist. Prints the
normalized file as JSON for further checks, or the problems and exits 1."""

import json
import os
import sys

import compose_spec

path = sys.argv[1]
root = os.path.dirname(os.path.abspath(path))
compose = compose_spec.PyCompose.from_yaml(open(path).read())
compose.validate()
spec = json.loads(compose.to_json())
problems = []
services = spec.get("services", {})
declared_volumes = set((spec.get("volumes") or {}).keys())
for name, service in services.items():
    for target in service.get("depends_on") or {}:
        if target not in services:
            problems.append(f"{name}: depends_on unknown service {target}")
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
