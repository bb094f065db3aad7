#!/bin/sh
# Builds kube-apiserver and kube-controller-manager at the k8s.io/kubernetes version this
# module's go.mod pins, into $1 (bin/kube). Go's build cache makes every build after the
# first take seconds; the first compiles about two thousand packages, so it reports its
# progress instead of staying silent for many minutes.
set -eu
out=$1
cd "$(dirname "$0")/kubebuild"
go=${GO:-go}
version=$($go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=$(echo "$version" | cut -d. -f2)
pkgs="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager"
# The version is stamped as Kubernetes' own build does: the apiserver reports it at
# /version, and the controller manager checks it against the apiserver's.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
total=$($go list -deps $pkgs | wc -l)
echo "kube-apiserver and kube-controller-manager $version -> $out ($total packages; the first build took 50 minutes on 2 cores shared with other builds; later ones take seconds)"
start=$(date +%s)
mkdir -p "$out"
status=$(mktemp)
trap 'rm -f "$status"' EXIT
# go build -v names each package it compiles (cached ones are not named); every
# hundredth is counted aloud.
{ $go build -v -ldflags "$ldflags" -o "$out/" $pkgs 2>&1; echo $? >"$status"; } |
	awk -v total="$total" -v start="$start" '
		/^#|: / { print; next }
		{ n++; if (n % 100 == 0) { "date +%s" | getline now; close("date +%s"); printf "  %d of %d packages compiled (%d s)\n", n, total, now - start } }'
rc=$(cat "$status")
if [ "$rc" != 0 ]; then
	echo "build failed (exit $rc)"
	exit "$rc"
fi
echo "built in $(( $(date +%s) - start )) s: $(ls "$out" | tr '\n' ' ')"
