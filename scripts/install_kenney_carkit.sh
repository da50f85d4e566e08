#!/usr/bin/env bash
# Kenney's Car Kit for training renders (training/rendered.py --vehicles kenney): 20 flat-coloured glTF vehicles
# (kenney.nl, CC0), two of them open-wheel racers, as Debian sid's castle-game-engine-doc 7.0~alpha.3+dfsg2-5
# ships them among its examples. That version is not in bookworm, so the .deb is fetched from the Debian
# archive's pool (453 MB); only the kit's .glb files and the package's copyright are kept, under
# data/sources/kenney-carkit. Blender's glTF importer also needs python3-numpy. Idempotent.
set -euo pipefail
dest=${1:-data/sources/kenney-carkit}
deb=castle-game-engine-doc_7.0~alpha.3+dfsg2-5_all.deb
sha256=8c63c08d25212344f903a2ed3b53bfc0a6dce17bc2ed0fcec43789ff986d766b
dpkg -s python3-numpy >/dev/null 2>&1 || apt-get install -y -q python3-numpy
[ -f "$dest/race.glb" ] && { echo "already there: $dest"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL -o "$tmp/$deb" "https://deb.debian.org/debian/pool/main/c/castle-game-engine/${deb//+/%2B}"
echo "$sha256  $tmp/$deb" | sha256sum -c --quiet -
kit=./usr/share/doc/castle-game-engine-doc/examples/delphi/fmx/data/kenney_carkit
dpkg-deb --fsys-tarfile "$tmp/$deb" | tar -x -C "$tmp" --wildcards "$kit/*.glb" ./usr/share/doc/castle-game-engine-doc/copyright
mkdir -p "$dest"
cp "$tmp/$kit"/*.glb "$dest/"
cp "$tmp/usr/share/doc/castle-game-engine-doc/copyright" "$dest/"
echo "Kenney Car Kit: $(ls "$dest"/*.glb | wc -l) models in $dest"
