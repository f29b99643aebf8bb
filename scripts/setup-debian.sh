#!/usr/bin/env bash
# Install the Debian packages listed in debian-packages.txt that are missing.
# Runs apt-get update once, and only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
while read -r pkg _; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < debian-packages.txt
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "setup: installing Debian packages: ${missing[*]}"
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
