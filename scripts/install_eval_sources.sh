#!/usr/bin/env bash
# Install the packages the real-car evaluation set (training/realcars.py) is built from. They are for
# evaluation only, never for training: see streamseg/weights/MODEL_CARD.md. Idempotent; apt needs root
# (or sudo). CarSegmentPro goes in with --no-deps: only its images are used (its dependencies are
# TensorFlow, Ultralytics and Segment Anything).
set -euo pipefail
debs=(tuxpaint-stamps-default labelme-examples opencv-doc lomiri-wallpapers-16.04)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
python -m pip show -q CarSegmentPro >/dev/null 2>&1 || python -m pip install -q --no-deps CarSegmentPro==0.0.1
