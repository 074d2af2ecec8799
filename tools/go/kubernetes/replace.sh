#!/usr/bin/env bash
# Prints the replace block for go.mod: k8s.io/kubernetes replaces each staging repo with
# ./staging/src/k8s.io/<repo>, which a dependent module cannot see, so each is mapped to its
# published k8s.io/<repo> v0.<minor>.<patch> instead. Run from this directory after changing
# the k8s.io/kubernetes version, paste the output over go.mod's replace block, then go mod tidy.
set -euo pipefail
version="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' go.mod)"
staging="v0.${version#v1.}"
mod="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
echo 'replace ('
awk -v v="$staging" '/^replace \(/ { f = 1; next } f && /^\)/ { f = 0 } f && $2 == "=>" { printf "\t%s => %s %s\n", $1, $1, v }' "$mod"
echo ')'
