#!/usr/bin/env bash
# Installs what gauntlet's native stack needs, idempotently and without questions:
#   - Debian packages: prometheus, prometheus-alertmanager, docker.io, wrk, chromium (reports' render test)
#     and openjdk-17-jdk-headless, maven (the OpenSearch launcher)
#     (skipped entirely when all are installed)
#   - Jaeger v2 and VictoriaLogs, built from the pinned Go "tools" modules in tools/go/<name>/ into
#     ${GAUNTLET_HOME:-$HOME/.cache/gauntlet}/bin (skipped when the binary exists and its
#     stamp file records the same pin).
#   - Prometheus 3.16 (prometheus-3.16, promtool-3.16) and Alertmanager 0.31 (alertmanager-0.31,
#     amtool-0.31) the same way, beside Debian's 2.42 / 0.25 (`stack.prometheus-version`).
#   - The local Kubernetes control plane (`gauntlet cluster up`, tests/kube_control_plane.rs):
#     etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kwok from the tools
#     modules tools/go/{etcd,kubernetes,kwok}, the same way (cached by the pinned version; a cold
#     build is about 1,000 CPU-seconds and needs about 3 GB of memory per compile job; the
#     kubelet adds about 45 CPU-seconds after the others). The real node (`cluster up
#     --kubelet`) also needs containerd and runc, which the docker.io package brings.
#   - The OpenSearch launcher (tools/java/opensearch-launcher, Maven on Java 17), for
#     `stack.trace-store: opensearch`: jars in ${GAUNTLET_HOME}/opensearch/<version>/ and a
#     `bin/opensearch-launcher` wrapper (skipped when its stamp records the same version and
#     sources; Maven's ~/.m2 is the download cache).
# Prints what it did and the versions at the end.
#
# Options (environment):
#   GAUNTLET_HOME=DIR          where bin/ goes (default ~/.cache/gauntlet)
#   GAUNTLET_SKIP_APT=1        do not touch Debian packages
#   GAUNTLET_FORCE_BUILD=1     rebuild the Go and Java tools even when the stamp matches
#   GAUNTLET_SKIP_OPENSEARCH=1 do not build the OpenSearch launcher
#   GAUNTLET_SKIP_KUBE=1       do not build the local Kubernetes control plane
#
# Loki, Grafana and Tempo are AGPL: this project builds and runs none of them. VictoriaLogs
# (Apache-2.0) is the native stack's log store.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${GAUNTLET_HOME:-$HOME/.cache/gauntlet}"
bin="$home/bin"
mkdir -p "$bin"

log() { printf 'provision: %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------
# Installed in the background while the Go tools build: downloading and unpacking is mostly
# I/O, the Go builds are CPU, and on a fresh machine the overlap saves minutes. Nothing before
# the OpenSearch launcher (Java, Maven) needs these packages; it waits for them.
apt_packages=(prometheus prometheus-alertmanager docker.io wrk chromium openjdk-17-jdk-headless maven)
install_apt() {
  missing=()
  for p in "${apt_packages[@]}"; do
    if ! dpkg -s "$p" >/dev/null 2>&1; then missing+=("$p"); fi
  done
  if ((${#missing[@]} == 0)); then
    log "apt: all installed (${apt_packages[*]})"
  else
    log "apt: installing ${missing[*]}"
    sudo_cmd=()
    if [[ $(id -u) != 0 ]]; then sudo_cmd=(sudo -n); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    # No systemd here: nothing starts by itself; gauntlet starts the daemons it needs.
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
    log "apt: installed ${missing[*]}"
  fi
}
apt_pid=""
apt_log=""
if [[ "${GAUNTLET_SKIP_APT:-0}" == 1 ]]; then
  log "apt: skipped (GAUNTLET_SKIP_APT=1)"
else
  apt_log="$(mktemp)"
  install_apt >"$apt_log" 2>&1 &
  apt_pid=$!
fi
# Waits for the package install (once) and shows its output; a failed install fails provisioning.
wait_apt() {
  [[ -n "$apt_pid" ]] || return 0
  local status=0
  wait "$apt_pid" || status=$?
  apt_pid=""
  cat "$apt_log"
  rm -f "$apt_log"
  if ((status != 0)); then
    log "apt: failed (exit $status)" >&2
    exit "$status"
  fi
}
# An early exit (a Go build failing) must not leave the install running unseen.
trap 'if [[ -n "$apt_pid" ]]; then wait "$apt_pid" 2>/dev/null; cat "$apt_log"; rm -f "$apt_log"; fi' EXIT

# --- Go tools (Jaeger v2, VictoriaLogs, Prometheus 3, Alertmanager 0.31) -----------------
# Each tools module pins one upstream module (go.mod + go.sum committed), so `go build`
# needs no checksum-database lookups: every hash is already in go.sum.
pinned_version() { # module dir, module path -> version from go.mod's require
  awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1/go.mod"
}

build_go_tool() { # name, module path, package, human label, [extra go build args...]
  build_go_tool_as "$1" "$@"
}

# Like build_go_tool, but the binary gets its own name (several binaries from one tools module,
# or a second version beside a Debian one: prometheus-3.16 next to /usr/bin/prometheus).
build_go_tool_as() { # output name, tools module dir name, module path, package, label, [args...]
  local name="$1" module="$3" package="$4" label="$5"
  local dir="$repo_root/tools/go/$2"
  shift 5
  local version stamp_text out="$bin/$name"
  version="$(pinned_version "$dir" "$module")"
  if [[ -z "$version" ]]; then
    log "$name: cannot find the pinned version of $module in $dir/go.mod" >&2
    return 1
  fi
  stamp_text="$label ($module $version)"
  if [[ "${GAUNTLET_FORCE_BUILD:-0}" != 1 && -x "$out" && -f "$out.version" ]] \
     && [[ "$(cat "$out.version")" == "$stamp_text" ]]; then
    log "$name: up to date ($stamp_text) at $out"
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    log "$name: the Go toolchain is not installed; cannot build $label" >&2
    return 1
  fi
  log "$name: building $package @ $version (cold builds take minutes; the Go build cache makes rebuilds fast)"
  local start end
  start=$(date +%s)
  # go.mod/go.sum are complete (go mod tidy), so the default -mod=readonly suffices.
  (cd "$dir" && GOFLAGS="${GOFLAGS:-} -buildvcs=false" go build "$@" -o "$out.tmp" "$package")
  mv -f "$out.tmp" "$out"
  printf '%s\n' "$stamp_text" > "$out.version"
  end=$(date +%s)
  log "$name: built in $((end - start)) s -> $out"
}

build_go_tool jaeger github.com/jaegertracing/jaeger github.com/jaegertracing/jaeger/cmd/jaeger \
  "Jaeger v2.13"
vl_version="$(pinned_version "$repo_root/tools/go/victoria-logs" github.com/VictoriaMetrics/VictoriaLogs)"
build_go_tool victoria-logs github.com/VictoriaMetrics/VictoriaLogs \
  github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs "VictoriaLogs" \
  -trimpath -ldflags "-s -w -X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-logs-$vl_version"

# Prometheus 3 and Alertmanager 0.31 beside Debian's 2.42 / 0.25 (`stack.prometheus-version:
# "3.16"`). Built without the `builtinassets` tag: no web UI, the HTTP API is unaffected.
# The -X flags are what upstream's release build (promu) sets, so `--version` tells the truth.
prom_version_flags() { # upstream version without the v
  local v="github.com/prometheus/common/version"
  printf '%s' "-s -w -X $v.Version=$1 -X $v.Branch=HEAD -X $v.Revision=unknown -X $v.BuildUser=gauntlet-provision"
}
prom3_module_version="$(pinned_version "$repo_root/tools/go/prometheus3" github.com/prometheus/prometheus)"
# Module v0.316.0 is Prometheus 3.16.0 (upstream tags v3.x.y, the Go module path stays v0).
prom3_version="$(awk -F. '{ printf "3.%d.%s", substr($2, 2), $3 }' <<<"$prom3_module_version")"
am_version="$(pinned_version "$repo_root/tools/go/alertmanager" github.com/prometheus/alertmanager)"
am_version="${am_version#v}"
prom3_short="${prom3_version%.*}"
am_short="${am_version%.*}"
for t in prometheus promtool; do
  build_go_tool_as "$t-$prom3_short" prometheus3 github.com/prometheus/prometheus \
    "github.com/prometheus/prometheus/cmd/$t" "$t $prom3_version" \
    -trimpath -ldflags "$(prom_version_flags "$prom3_version")"
done
for t in alertmanager amtool; do
  build_go_tool_as "$t-$am_short" alertmanager github.com/prometheus/alertmanager \
    "github.com/prometheus/alertmanager/cmd/$t" "$t $am_version" \
    -trimpath -ldflags "$(prom_version_flags "$am_version")"
done
# --- Local Kubernetes control plane (etcd, kube-*, kwok) ------------------------------------
# What `gauntlet cluster up` and the Kubernetes tests start: a real API server with RBAC, its
# controllers and scheduler, and kwok as the kubelet stand-in (pods run no containers); and a
# real kubelet for the pods that must run (`gauntlet cluster up --kubelet`: load-worker
# containers through Debian's containerd and runc, which docker.io brings).
kube_binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kwok)
if [[ "${GAUNTLET_SKIP_KUBE:-0}" == 1 ]]; then
  log "kubernetes: skipped (GAUNTLET_SKIP_KUBE=1)"
else
  etcd_version="$(pinned_version "$repo_root/tools/go/etcd" go.etcd.io/etcd/server/v3)"
  build_go_tool_as etcd etcd go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 \
    "etcd $etcd_version" -trimpath -ldflags "-s -w"
  # k8s.io/kubernetes v1.x.y is published as module version v1.x.y; the -X flags are what
  # upstream's release build sets, so `--version` and /version report the real release.
  kube_version="$(pinned_version "$repo_root/tools/go/kubernetes" k8s.io/kubernetes)"
  kube_minor="$(cut -d. -f2 <<<"$kube_version")"
  kube_v="k8s.io/component-base/version"
  kube_ldflags="-s -w -X $kube_v.gitVersion=$kube_version -X $kube_v.gitMajor=1 \
-X $kube_v.gitMinor=$kube_minor -X $kube_v.gitTreeState=clean -X $kube_v.buildDate=1970-01-01T00:00:00Z"
  for t in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
    build_go_tool_as "$t" kubernetes k8s.io/kubernetes "k8s.io/kubernetes/cmd/$t" \
      "$t $kube_version" -trimpath -ldflags "$kube_ldflags"
  done
  kwok_version="$(pinned_version "$repo_root/tools/go/kwok" sigs.k8s.io/kwok)"
  build_go_tool_as kwok kwok sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok "kwok $kwok_version" \
    -trimpath -ldflags "-s -w"
fi

wait_apt

# --- OpenSearch launcher (Java 17, Maven) ---------------------------------------------------
# An embedded single-node OpenSearch started by our own main class; only the scenarios that
# set `stack.trace-store: opensearch` run it.
build_opensearch_launcher() {
  local dir="$repo_root/tools/java/opensearch-launcher"
  local version sources stamp_text out="$bin/opensearch-launcher"
  version="$(sed -n 's|.*<opensearch.version>\(.*\)</opensearch.version>.*|\1|p' "$dir/pom.xml")"
  if [[ -z "$version" ]]; then
    log "opensearch-launcher: cannot find <opensearch.version> in $dir/pom.xml" >&2
    return 1
  fi
  # The launcher's own sources are part of the key, so a change to them rebuilds it.
  sources="$(cd "$dir" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)"
  stamp_text="OpenSearch $version (org.opensearch:opensearch $version, launcher $sources)"
  local dest="$home/opensearch/$version"
  if [[ "${GAUNTLET_FORCE_BUILD:-0}" != 1 && -x "$out" && -f "$out.version" && -d "$dest/lib" ]] \
     && [[ "$(cat "$out.version")" == "$stamp_text" ]]; then
    log "opensearch-launcher: up to date ($stamp_text) at $out"
    return 0
  fi
  local missing_tool
  for missing_tool in java mvn; do
    if ! command -v "$missing_tool" >/dev/null 2>&1; then
      log "opensearch-launcher: $missing_tool is not installed; cannot build the OpenSearch launcher" >&2
      return 1
    fi
  done
  log "opensearch-launcher: building OpenSearch $version launcher with Maven"
  local start end work
  start=$(date +%s)
  # Built in a scratch copy so the checkout stays clean (no target/ in the repo).
  work="$(mktemp -d)"
  cp -r "$dir/pom.xml" "$dir/src" "$work/"
  # Debian's Maven 3.8 prints stray colour resets even in batch mode; drop them.
  (cd "$work" && mvn -B -q -Dstyle.color=never package dependency:copy-dependencies) 2>&1 \
    | sed $'s/\e\\[0m//g'

  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  cp "$work/target/opensearch-launcher.jar" "$dest.tmp/"
  cp -r "$work/target/lib" "$dest.tmp/lib"
  rm -rf "$work" "$dest"
  mv "$dest.tmp" "$dest"
  # The wrapper execs java, so the process gauntlet signals is the JVM itself.
  cat > "$out.tmp" <<WRAPPER
#!/bin/sh
# Generated by scripts/provision.sh: runs gauntlet's OpenSearch $version launcher.
# GAUNTLET_OPENSEARCH_JAVA_OPTS replaces the default heap (256-512 MB).
exec java \${GAUNTLET_OPENSEARCH_JAVA_OPTS:--Xms256m -Xmx512m} -cp "$dest/opensearch-launcher.jar:$dest/lib/*" dev.gauntlet.opensearch.Launcher "\$@"
WRAPPER
  chmod +x "$out.tmp"
  mv -f "$out.tmp" "$out"
  printf '%s\n' "$stamp_text" > "$out.version"
  end=$(date +%s)
  log "opensearch-launcher: built in $((end - start)) s -> $out"
}

if [[ "${GAUNTLET_SKIP_OPENSEARCH:-0}" == 1 ]]; then
  log "opensearch-launcher: skipped (GAUNTLET_SKIP_OPENSEARCH=1)"
else
  build_opensearch_launcher
fi

# --- Versions --------------------------------------------------------------------------
first_line() { # first non-empty output line of a command, or "missing"
  if ! command -v "$1" >/dev/null 2>&1; then echo missing; return; fi
  { "$@" 2>&1 || true; } | sed -n '/./{p;q}'
}
log "versions:"
printf '  %-24s %s\n' prometheus "$(first_line prometheus --version)"
printf '  %-24s %s\n' alertmanager "$(first_line prometheus-alertmanager --version)"
for t in jaeger victoria-logs "prometheus-$prom3_short" "promtool-$prom3_short" \
         "alertmanager-$am_short" "amtool-$am_short" opensearch-launcher "${kube_binaries[@]}"; do
  if [[ -x "$bin/$t" ]]; then
    printf '  %-24s %s (%s)\n' "$t" "$(cat "$bin/$t.version" 2>/dev/null || echo unstamped)" "$bin/$t"
  else
    printf '  %-24s missing\n' "$t"
  fi
done
printf '  %-24s %s\n' docker "$(first_line docker --version)"
printf '  %-24s %s\n' wrk "$(first_line wrk --version)"
printf '  %-24s %s\n' go "$(first_line go version)"
printf '  %-24s %s\n' java "$(first_line java -version)"
