#!/usr/bin/env bash
# Pack AutoDesign's library packages (AutoDesign.Nn, .Runs, .Plots, .Metrics, .UniLoss, .D2NN, .Gan) and the CLI tool
# (AutoDesign.Cli: `dotnet tool install AutoDesign.Cli --add-source artifacts/feed` puts `autodesign` on PATH) into a local
# NuGet feed folder (default artifacts/feed), from which the samples and your own apps can restore them:
#   scripts/pack.sh [feed-folder]
#   dotnet nuget add source "$PWD/artifacts/feed" --name autodesign-local   (or a nuget.config, see samples/)
# AUTODESIGN_VERSION=x.y.z-tag packs under another version (the packaging test packs a unique one).
set -euo pipefail
cd "$(dirname "$0")/.."
feed=${1:-artifacts/feed}
mkdir -p "$feed"
version_arg=()
if [ -n "${AUTODESIGN_VERSION:-}" ]; then version_arg=("-p:Version=$AUTODESIGN_VERSION"); fi
dotnet pack Pipelines.sln -c Release -o "$feed" --nologo -v quiet "${version_arg[@]}"
ls "$feed"/*.nupkg
