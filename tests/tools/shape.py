#!/usr/bin/env python3
"""How the services read (issue 22's figures): handler lengths, unit tests
per service crate, and import circles between a service's modules.

    python3 tests/tools/shape.py [REPO]

A handler is an `async fn` inside an `impl ...Service for ...` block of a
service's `src/api/`; its length counts its lines from `async fn` to its
closing brace. Unit tests are `#[test]`/`#[tokio::test]` functions under a
service's `src/`. Modules are files (or directories) under `src/`; an import
circle is a cycle among the `crate::`/`super::` imports between them.
"""
import os
import re
import sys

REPO = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
SERVICES = ["customers", "licensing", "billing"]


def rust_files(root):
    for directory, _, files in os.walk(root):
        for name in files:
            if name.endswith(".rs"):
                yield os.path.join(directory, name)


def handlers(path):
    lines = open(path).read().split("\n")
    found = []
    inside = False
    for index, line in enumerate(lines):
        if re.match(r"^impl .*Service for ", line):
            inside = True
        elif inside and line == "}":
            inside = False
        match = re.match(r"^    (?:pub )?async fn (\w+)", line) if inside else None
        if match:
            end = next(i for i in range(index, len(lines)) if lines[i] == "    }")
            found.append((end - index + 1, match.group(1), os.path.relpath(path, REPO)))
    return found


def module_of(src, path):
    relative = os.path.relpath(path, src)[:-3].split(os.sep)
    if relative[-1] in ("mod", "lib"):
        relative = relative[:-1]
    return "::".join(relative) or "crate"


def imports(src, path):
    module = module_of(src, path)
    parent = module.rsplit("::", 1)[0] if "::" in module else "crate"
    if path.endswith("mod.rs"):
        parent = module
    text = open(path).read()
    text = text.split("#[cfg(test)]")[0]
    # Comments (and doc links) are not imports.
    text = re.sub(r"//[^\n]*", "", text)
    targets = set()
    for match in re.finditer(r"\b(crate|super)::([a-z_]+(?:::[a-z_]+)*)", text):
        base = "" if match.group(1) == "crate" else (parent if parent != "crate" else "")
        if match.group(1) == "super" and not path.endswith("mod.rs"):
            base = module.rsplit("::", 1)[0] if "::" in module else ""
        full = (base + "::" if base else "") + match.group(2)
        targets.add(full)
    return module, targets


def circles(service):
    src = os.path.join(REPO, "services", service, "src")
    modules = {module_of(src, path) for path in rust_files(src)}
    graph = {}
    for path in rust_files(src):
        module, targets = imports(src, path)
        edges = set()
        for target in targets:
            parts = target.split("::")
            # The longest module the path names.
            for cut in range(len(parts), 0, -1):
                candidate = "::".join(parts[:cut])
                if candidate in modules:
                    if candidate != module and not module.startswith(candidate + "::") \
                            and not candidate.startswith(module + "::"):
                        edges.add(candidate)
                    break
        graph[module] = edges
    found = set()
    def walk(node, stack):
        for next_node in graph.get(node, ()):
            if next_node in stack:
                cycle = stack[stack.index(next_node):]
                rotate = cycle.index(min(cycle))
                found.add(tuple(cycle[rotate:] + cycle[:rotate]))
            elif len(stack) < 8:
                walk(next_node, stack + [next_node])
    for node in graph:
        walk(node, [node])
    return sorted(found)


all_handlers = []
for service in SERVICES:
    api = os.path.join(REPO, "services", service, "src", "api")
    service_handlers = [h for path in rust_files(api) for h in handlers(path)]
    all_handlers += service_handlers
    tests = sum(
        len(re.findall(r"#\[(?:tokio::)?test\]", open(path).read()))
        for path in rust_files(os.path.join(REPO, "services", service, "src"))
    )
    over = sum(1 for h in service_handlers if h[0] > 50)
    longest = max(service_handlers)
    cycles = circles(service)
    print(f"{service}: {len(service_handlers)} handlers, {over} over 50 lines, "
          f"longest {longest[1]} ({longest[0]} lines); {tests} unit tests; "
          f"{len(cycles)} import circles" + "".join(f"\n    {' -> '.join(c)}" for c in cycles))
longest = max(all_handlers)
print(f"all: {sum(1 for h in all_handlers if h[0] > 50)} of {len(all_handlers)} handlers over "
      f"50 lines; longest {longest[1]} in {longest[2]} ({longest[0]} lines)")
