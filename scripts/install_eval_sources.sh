#!/usr/bin/env bash
# Install the packages the real-car evaluation set (training/realcars.py) is built from. They are for
# evaluation only, never for training: see streamseg/weights/MODEL_CARD.md. Idempotent; apt needs root
# (or sudo). CarSegmentPro goes in with --no-deps: only its images are used (its dependencies are
# TensorFlow, Ultralytics and Segment Anything).
set -euo pipefail
bash "$(dirname "$0")/apt_install.sh" tuxpaint-stamps-default labelme-examples opencv-doc lomiri-wallpapers-16.04
python -m pip show -q CarSegmentPro >/dev/null 2>&1 || python -m pip install -q --no-deps CarSegmentPro==0.0.1
