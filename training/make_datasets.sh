#!/usr/bin/env bash
# Regenerate every training set of the shipped default model (streamseg/weights/MODEL_CARD.md says how
# each was used). Run from the repository root with the venv active (pip install -e '.[train]').
# Nothing here reads the real-car evaluation set: training/compose.py asserts it on every file it opens.
set -euo pipefail
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
# blender + torcs-data + flightgear-data-models: the 3D vehicles; the rest: background photographs and
# non-vehicle distractor stamps
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends blender torcs-data \
  tuxpaint-stamps-default mate-backgrounds plasma-workspace-wallpapers ukui-wallpapers lomiri-wallpapers-16.04 \
  lomiri-wallpapers-20.04 gnome-backgrounds flightgear-data-models
python -m training.synthetic --out data/synth --count 2000 --seed 0            # drawn scenes (~6 min)
python -m training.synthetic --out data/synth_test --count 400 --seed 1        # their independent test set
python -m training.rendered --out data/rendered --count 260 --seed 1           # Blender, ~5 s per car on 2 cores
python -m training.compose --rendered data/rendered --out data/photoreal_a --count 1200 --seed 0 --renders 100
python -m training.compose --rendered data/rendered --out data/photoreal_b --count 1500 --seed 1 --renders 260
# FlightGear's bus, airport fire truck and pickup (flightgear-data-models), rendered and composed the same way
python -m training.rendered --out data/rendered_fg --count 150 --seed 2 --vehicles flightgear
python -m training.compose --rendered data/rendered_fg --out data/photoreal_fg --count 600 --seed 2 --renders 150
# FlightGear's 120 textured road-traffic models (cars, pickups, vans, buses, trucks, fire engines) from Debian
# bookworm's flightgear-data-base: only the vehicle folders are kept (scripts/install_flightgear_traffic.sh)
bash scripts/install_flightgear_traffic.sh
python -m training.rendered --out data/rendered_fgt --count 480 --seed 3 --vehicles flightgear-traffic
python -m training.compose --rendered data/rendered_fgt --out data/photoreal_fgt --count 1800 --seed 3 --renders 480
# Kenney's 20 toy vehicles (two open-wheel racers among them) from Debian sid's castle-game-engine-doc
bash scripts/install_kenney_carkit.sh
python -m training.rendered --out data/rendered_kenney --count 160 --seed 4 --vehicles kenney
python -m training.compose --rendered data/rendered_kenney --out data/photoreal_kenney --count 600 --seed 4 --renders 160
# 800 images without a car, each with 1-3 distractors (stage 8): the most salient thing is often not a car
python -m training.compose --rendered data/rendered --out data/photoreal_carfree --count 800 --seed 6 --car-free 1.0
# 265 photographs of scenery and salient things, none with a vehicle (GCompris, Tux Paint, Palapeli), and the
# TORCS, FlightGear-traffic and Kenney cars composed over them, a quarter of the images without a car (stage 9)
python scripts/make_scenery_photos.py --out data/scenery
python -m training.compose --rendered data/rendered_fgt --backgrounds data/scenery --out data/photoreal_scenery_fgt --count 1500 --seed 7 --car-free 0.25
python -m training.compose --rendered data/rendered --backgrounds data/scenery --out data/photoreal_scenery --count 800 --seed 8 --car-free 0.25
python -m training.compose --rendered data/rendered_kenney --backgrounds data/scenery --out data/photoreal_scenery_kenney --count 300 --seed 9 --car-free 0.25
# TORCS' formula car alone (drawn 0.3 as often as a sedan above: 2 of 260 renders), over the same photographs
python -m training.rendered --out data/rendered_ow --count 60 --seed 5 --only car1-ow1
python -m training.compose --rendered data/rendered_ow --backgrounds data/scenery --out data/photoreal_scenery_ow --count 300 --seed 10 --car-free 0.1
# streets: up to 5 FlightGear road vehicles in one image, the others smaller and farther, all of them car (stage 10)
python -m training.compose --rendered data/rendered_fgt --backgrounds data/scenery --out data/photoreal_scenery_street --count 800 --seed 11 --car-free 0.1 --max-cars 5
# on the ground: the car low under a wide view of the photograph, 40% of cars without their shadow, half of the
# distractors on one (stage 10)
python -m training.compose --rendered data/rendered --backgrounds data/scenery --out data/photoreal_ground --count 600 --seed 12 --car-free 0.1 --ground --shadowless 0.4 --stamp-shadows 0.5
python -m training.compose --rendered data/rendered_ow --backgrounds data/scenery --out data/photoreal_ground_ow --count 400 --seed 13 --car-free 0.1 --ground --shadowless 0.4 --stamp-shadows 0.5
python -m training.compose --rendered data/rendered_fgt --backgrounds data/scenery --out data/photoreal_ground_fgt --count 600 --seed 14 --car-free 0.1 --ground --shadowless 0.4 --stamp-shadows 0.5
# the 21 real car photographs that registries carry outside the evaluation set, labelled by IS-Net
streamseg models fetch isnet
python -m training.real_photos --out data/photos_isnet
# Carvana (issue 23, stage 11): real cars with exact masks, read from a local copy of the public repository at the
# commit recorded in the model card (515 MB):
#   git clone https://github.com/ishmamahmed/Semantic-Segmentation-using-UNet-on-Carvana-Dataset data/carvana-src
#   git -C data/carvana-src checkout bc1b25d8d7cf1a6205b06201c02d2d3b48642978
# The 60 cars of ../shared/reserved_carvana_cars.txt are never read (training/carvana.py asserts it on every file).
# 226 cars to train on, 32 whole cars kept for evaluation (data/carvana_eval, data/carvana960_eval)
CARVANA_REPO=${CARVANA_REPO:-data/carvana-src}
python -m training.carvana --repo "$CARVANA_REPO" --out data/carvana                # full resolution: edges
python -m training.carvana --repo "$CARVANA_REPO" --out data/carvana960 --width 960  # the low-resolution network
# the training cars cut out by their masks over the scenery photographs, with distractors and camera effects; and on
# the ground with up to 3 of them in a picture (stage 11; data/synth's first 1200 images are the drawn share)
python -m training.compose --photos data/carvana960 --backgrounds data/scenery --out data/carvana_scenery --count 1000 --seed 21 --car-free 0.15
python -m training.compose --photos data/carvana960 --backgrounds data/scenery --out data/carvana_ground --count 600 --seed 22 --car-free 0.1 --ground --shadowless 0.3 --stamp-shadows 0.5 --max-cars 3
# Stage 11's second run (runs/ft15) mixed back in the formula-car sets above and the TORCS cars on the ground,
# data/photoreal_ground composed from the first 140 TORCS renders only (that session rendered --count 140):
#   python -m training.compose --rendered data/rendered --backgrounds data/scenery --out data/photoreal_ground \
#     --count 600 --seed 12 --car-free 0.1 --ground --shadowless 0.4 --stamp-shadows 0.5 --renders 140
# Evaluation only (issue 27): drawn footage of the Carvana evaluation cars (never trained on), scored by
# scripts/measure_footage.py
python -m training.carvana_clips --cars data/carvana960_eval --backgrounds data/scenery --out data/carvana_clips --count 16 --seed 0
