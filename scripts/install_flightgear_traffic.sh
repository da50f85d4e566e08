#!/usr/bin/env bash
# FlightGear's road vehicles for training renders (training/rendered.py --vehicles flightgear-traffic): the
# textured cars, vans, buses and trucks of Debian bookworm's flightgear-data-base (GPL-2+). The package is
# 1.3 GB; only its three vehicle folders (~110 MB) are kept, under data/sources/flightgear-traffic.
# Needs bookworm in the apt sources (the 2024 packages no longer carry Scenery/Models). Idempotent.
set -euo pipefail
dest=${1:-data/sources/flightgear-traffic}
[ -d "$dest/Scenery/Models/Transport" ] && { echo "already there: $dest"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q 'flightgear-data-base=1:2020.3.16+dfsg-1')
mkdir -p "$tmp/x"
dpkg-deb --fsys-tarfile "$tmp"/flightgear-data-base_*_all.deb | tar -x -C "$tmp/x" --wildcards \
  './usr/share/games/flightgear/Scenery/Models/Transport/*' \
  './usr/share/games/flightgear/Scenery/Models/Airport/Vehicle/*' \
  './usr/share/games/flightgear/Scenery/Models/Military/*' \
  './usr/share/doc/flightgear-data-base/copyright'
mkdir -p "$dest"
mv "$tmp/x/usr/share/games/flightgear/Scenery" "$dest/"
cp "$tmp/x/usr/share/doc/flightgear-data-base/copyright" "$dest/"
echo "FlightGear traffic models in $dest"
