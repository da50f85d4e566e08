"""`streamseg serve`: real uploads to a real uvicorn (tests/serving.py), the photo and the clip really run through
the Python API on one warm Segmenter; the limits, the token, the job table across a restart, expiry."""

from __future__ import annotations

import errno
import io
import json
import time
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from serving import request, running_service, upload, wait_done

from streamseg.serve.table import ID_PATTERN, Job, JobTable
from streamseg.serve.uploads import FormReader


def jpeg_bytes(width: int = 160, height: int = 96) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 120)], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG")
    return buf.getvalue()


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


def job_folders(data: Path) -> list[Path]:
    return [p for p in (data / "jobs").iterdir() if p.is_dir()] if (data / "jobs").exists() else []


def assert_error(reply, status: int) -> dict:
    """A refusal is JSON {"error", "fix"} with its status, never a traceback."""
    assert reply.status == status, (reply.status, reply.body[:500])
    body = reply.json()
    assert set(body) == {"error", "fix"} and body["error"], body
    assert b"Traceback" not in reply.body
    return body


@pytest.fixture()
def segmenter(warm_segmenter):
    return warm_segmenter


@pytest.fixture(scope="session")
def car_jpeg(clip) -> bytes:
    """A photo of the sample car: the sample clip's first frame, as a JPEG."""
    with av.open(str(clip)) as c:
        frame = next(c.decode(video=0)).to_image()
    buf = io.BytesIO()
    frame.save(buf, "JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture()
def service(tmp_path):
    with running_service(tmp_path / "data", max_upload_mb=0.05) as running:
        yield running


def test_wrong_types_are_refused_before_decoding(service, tmp_path):
    data = tmp_path / "data"
    # by extension
    body = assert_error(upload(service.url, "notes.txt", b"hello, this is not a car"), 415)
    assert "extension" in body["error"]
    # by the first bytes: a PNG named .jpg, text named .mp4, an HTML page named .zip
    assert "first bytes" in assert_error(upload(service.url, "car.jpg", png_bytes()), 415)["error"]
    assert_error(upload(service.url, "car.mp4", b"<html>" + b"x" * 100), 415)
    assert_error(upload(service.url, "cars.zip", b"<html>" + b"x" * 100), 415)
    # a backdrop must be an image
    assert_error(upload(service.url, "car.jpg", jpeg_bytes(), extra_files={"bg_file": ("bg.mp4", b"x" * 40)}), 415)
    assert job_folders(data) == []  # nothing refused is kept
    assert request(f"{service.url}/api/jobs").json() == []


def test_oversize_uploads_are_refused_with_413(service, tmp_path):
    big = jpeg_bytes(400, 300) + b"\0" * 60_000  # a JPEG's header, then more than --max-upload-mb (0.05 MB)
    assert len(big) > 0.05 * 2**20
    # with Content-Length: refused before the body is read
    assert "--max-upload-mb" in assert_error(upload(service.url, "car.jpg", big), 413)["fix"]
    # a Content-Length over the limit is answered at once, without waiting for (or reading) the body
    started = time.monotonic()
    early = request(f"{service.url}/api/jobs", "POST", b"--x\r\n", timeout=10, headers={
        "Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(10**9)})
    assert_error(early, 413)
    assert time.monotonic() - started < 5
    # chunked (no Content-Length): the bytes are counted as they stream to disk, and the partial file removed
    assert_error(upload(service.url, "car.jpg", big, chunked=True), 413)
    assert job_folders(tmp_path / "data") == []


def test_zip_bombs_and_empty_zips_are_refused(service):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:  # 64 KB of JPEG-headed zeros per member
        for i in range(5):
            z.writestr(f"../../car{i}.jpg", jpeg_bytes() + b"\0" * 200_000)
    assert len(buf.getvalue()) < 0.05 * 2**20  # small enough to upload, too large unpacked (4 x the limit)
    assert "unpacks" in assert_error(upload(service.url, "cars.zip", buf.getvalue()), 413)["error"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "no photos here")
    assert "no photos" in assert_error(upload(service.url, "cars.zip", buf.getvalue()), 400)["error"]


def test_bad_options_are_refused_with_400(service):
    photo = jpeg_bytes()
    # a backdrop is a name, a colour or an uploaded image: never a path on the server
    assert "backdrop" in assert_error(upload(service.url, "car.jpg", photo, {"bg": "/etc/passwd"}), 400)["error"]
    assert_error(upload(service.url, "car.jpg", photo, {"fmt": "mov"}), 400)  # a video format for a photo
    assert_error(upload(service.url, "car.jpg", photo, {"fit": "maybe"}), 400)
    assert_error(upload(service.url, "car.jpg", photo, {"size": "big"}), 400)
    assert_error(upload(service.url, "car.jpg", photo, {"colour": "red"}), 400)  # not an option name
    assert_error(upload(service.url, "car.jpg", photo, {"model": "isnet"}), 400)  # not the warm model
    assert_error(upload(service.url, "car.jpg", photo, {"fmt": "png", "shadow": "true"}), 400)
    # a plate's logo would be a path on the server too: only blur, colour or #RRGGBB
    assert "plate" in assert_error(upload(service.url, "car.jpg", photo, {"plate": "/etc/passwd"}), 400)["error"]
    assert_error(request(f"{service.url}/api/jobs", "POST", b"raw", {"Content-Type": "image/jpeg"}), 415)


def test_job_ids_are_unguessable_and_never_paths(service):
    for bad in ("..%2F..%2Fjobs.json", "x" * 24, "....", "AAAAAAAAAAAAAAAAAAAAAAAA"):
        assert_error(request(f"{service.url}/api/jobs/{bad}"), 404)
        assert_error(request(f"{service.url}/api/jobs/{bad}/result"), 404)
    assert_error(request(f"{service.url}/api/nothing"), 404)
    from streamseg.serve.table import new_id

    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(ID_PATTERN.fullmatch(i) for i in ids)


def test_a_full_disk_is_a_clear_507(service, tmp_path, monkeypatch):
    def full(path):
        class Full(io.RawIOBase):
            def writable(self):
                return True

            def write(self, b):
                raise OSError(errno.ENOSPC, "No space left on device")

        return Full()

    monkeypatch.setattr(FormReader, "open_file", staticmethod(full))
    body = assert_error(upload(service.url, "car.jpg", jpeg_bytes()), 507)
    assert "full" in body["error"] and "--data" in body["fix"]
    assert job_folders(tmp_path / "data") == []


def test_token_required_when_bound_elsewhere(tmp_path):
    from streamseg.errors import InputError
    from streamseg.serve.app import ServeConfig, check_config

    with pytest.raises(InputError, match="--token"):
        check_config(ServeConfig(host="0.0.0.0"))
    check_config(ServeConfig(host="127.0.0.1"))
    with running_service(tmp_path / "data", host="0.0.0.0", token="s3cret-token") as svc:
        for path in ("/", "/api/jobs", "/api/info", "/api/jobs/AAAAAAAAAAAAAAAAAAAAAAAA"):
            body = assert_error(request(svc.url + path), 401)
            assert "token" in body["error"]
        assert_error(upload(svc.url, "car.jpg", jpeg_bytes()), 401)
        assert_error(request(svc.url + "/api/jobs", headers={"Authorization": "Bearer wrong"}), 401)
        assert request(svc.url + "/api/jobs", headers={"Authorization": "Bearer s3cret-token"}).status == 200
        assert request(svc.url + "/api/jobs", headers={"X-Streamseg-Token": "s3cret-token"}).status == 200
        page = request(svc.url + "/?token=s3cret-token")
        assert page.status == 200 and b"app.js" in page.body
        assert request(svc.url + "/static/app.js").status == 200  # the page's code holds no data
        described = request(svc.url + "/openapi.json").json()  # FastAPI's description of the API (/docs)
        form = described["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert {"file", "bg", "fmt", "shadow", "reflection", "fit", "size"} <= set(form["properties"])


def test_table_survives_a_restart_and_results_expire(tmp_path):
    data = tmp_path / "data"
    table = JobTable(data)
    table.load()
    now = time.time()
    done = Job(id="D" * 24, kind="photo", name="car.jpg", options={}, status="done", finished=now,
               result="result/car_streamseg.jpg", result_name="car_streamseg.jpg")
    old = Job(id="O" * 24, kind="photo", name="old.jpg", options={}, status="done", finished=now - 7200,
              result="result/old_streamseg.jpg", result_name="old_streamseg.jpg")
    busy = Job(id="R" * 24, kind="video", name="clip.mp4", options={}, status="running", started=now)
    for job in (done, old, busy):
        (data / "jobs" / job.id / "result").mkdir(parents=True)
        table.add(job)
    (data / "jobs" / done.id / "result" / "car_streamseg.jpg").write_bytes(jpeg_bytes())
    (data / "jobs" / ("S" * 24)).mkdir()  # a folder the table does not know (a crash between two writes)
    with running_service(data, keep_hours=1.0) as svc:
        jobs = {j["id"]: j for j in request(svc.url + "/api/jobs").json()}
        assert jobs[busy.id]["status"] == "failed" and jobs[busy.id]["error"]["error"] == "interrupted by a restart"
        assert old.id not in jobs and not (data / "jobs" / old.id).exists()  # finished more than --keep-hours ago
        assert not (data / "jobs" / ("S" * 24)).exists()
        reply = request(f"{svc.url}/api/jobs/{done.id}/result")
        assert reply.status == 200 and reply.body == jpeg_bytes()
        assert "car_streamseg.jpg" in reply.headers["content-disposition"]
        assert_error(request(f"{svc.url}/api/jobs/{busy.id}/result"), 409)
    saved = {row["id"]: row for row in json.loads((data / "jobs.json").read_text())}
    assert set(saved) == {done.id, busy.id}


def test_photo_upload_progress_download(segmenter, car_jpeg, tmp_path):
    with running_service(tmp_path / "data", segmenter) as svc:
        reply = upload(svc.url, "my car.jpg", car_jpeg, {"bg": "#1e90ff", "fit": "true", "size": "320x240"})
        assert reply.status == 202, reply.body
        job = reply.json()
        assert ID_PATTERN.fullmatch(job["id"]) and job["kind"] == "photo" and job["status"] in ("queued", "running")
        assert job["options"]["bg"] == "#1e90ff" and job["options"]["size"] == "320x240"
        job = wait_done(svc.url, job["id"])
        assert job["status"] == "done", job["error"]
        assert job["progress"]["done"] == job["progress"]["total"] == 1
        result = request(svc.url + job["links"]["result"])
        assert result.status == 200 and "my%20car_streamseg.jpg" in result.headers["content-disposition"]
        with Image.open(io.BytesIO(result.body)) as im:
            assert im.format == "JPEG" and im.size == (320, 240)
            corner = np.asarray(im.convert("RGB"))[:8, :8].reshape(-1, 3).mean(0)
        assert abs(corner - (0x1E, 0x90, 0xFF)).max() < 20  # the backdrop asked for, not the studio
        for link in ("before", "preview"):  # the page's before/after pictures
            with Image.open(io.BytesIO(request(svc.url + job["links"][link]).body)) as im:
                assert im.size[0] > 0
        assert not (tmp_path / "data" / "jobs" / job["id"] / "input").exists()  # the upload is not kept


def test_clip_upload_progress_download(segmenter, clip, tmp_path):
    with running_service(tmp_path / "data", segmenter, max_upload_mb=5) as svc:
        job = upload(svc.url, "clip.mp4", clip.read_bytes(), {"bg": "white"}).json()
        assert job["kind"] == "video"
        job = wait_done(svc.url, job["id"])
        assert job["status"] == "done", job["error"]
        assert job["progress"]["done"] == job["progress"]["total"] == 12
        result = request(svc.url + job["links"]["result"])
        assert "clip_streamseg.mp4" in result.headers["content-disposition"]
        out = tmp_path / "got.mp4"
        out.write_bytes(result.body)
        with av.open(str(out)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert len(frames) == 12 and frames[0].shape == (144, 256, 3)
        with Image.open(io.BytesIO(request(svc.url + job["links"]["preview"]).body)) as im:
            assert im.size == (256, 144)  # the first composited frame


def test_zip_of_photos_and_a_restart_keeps_the_result(segmenter, car_jpeg, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("cars/a.jpg", car_jpeg)
        z.writestr("b.jpg", car_jpeg)
        z.writestr("notes.txt", "not a photo")
    data = tmp_path / "data"
    with running_service(data, segmenter, max_upload_mb=5) as svc:
        job = upload(svc.url, "cars.zip", buf.getvalue(), {"fmt": "png"}).json()
        assert job["kind"] == "photos"
        job = wait_done(svc.url, job["id"])
        assert job["status"] == "done", job["error"]
        assert sorted(r["status"] for r in job["records"]) == ["ok", "ok"]
    with running_service(data, segmenter) as svc:  # a restart: the finished result is still there
        result = request(f"{svc.url}/api/jobs/{job['id']}/result")
        assert result.status == 200
    with zipfile.ZipFile(io.BytesIO(result.body)) as z:
        pngs = sorted(n for n in z.namelist() if n.endswith(".png"))
        assert len(pngs) == 2
        with Image.open(z.open(pngs[0])) as im:
            assert im.mode == "RGBA"


def test_a_bad_video_fails_its_job_with_a_clear_error(segmenter, clip, tmp_path):
    truncated = clip.read_bytes()[: len(clip.read_bytes()) // 3]  # an MP4's start: passes the type check
    with running_service(tmp_path / "data", segmenter, max_upload_mb=5) as svc:
        job = wait_done(svc.url, upload(svc.url, "broken.mp4", truncated).json()["id"])
        assert job["status"] == "failed" and job["error"]["error"] and job["error"]["fix"], job
        assert "internal error" not in job["error"]["error"]
        assert_error(request(svc.url + job["links"]["self"] + "/result"), 409)


def test_serve_refuses_another_address_without_a_token():
    from conftest import cli

    result = cli("serve", "--host", "0.0.0.0", "--port", "0")
    assert result.code == 2 and not result.crashed, result
    assert "--token" in result.err and "fix:" in result.err


def test_readme_service_example(clip, tmp_path):
    """The README's Service example, run as it is against `streamseg serve` started by it (only the port and the
    data folder changed), on the sample clip as car.mp4."""
    import os
    import re
    import shutil
    import subprocess

    from streamseg.sample import free_port

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    example = re.search(r"<!-- serve-example -->\n```bash\n(.*?)```", readme, re.S)
    assert example, "README.md has no <!-- serve-example --> block"
    script = example.group(1)
    assert "streamseg serve --port 8000 &" in script
    port = free_port()
    script = script.replace("8000", str(port)).replace(
        "streamseg serve ", f"streamseg serve --data {tmp_path / 'data'} ", 1)
    shutil.copy(clip, tmp_path / "car.mp4")
    guarded = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + script
    done = subprocess.run(["bash", "-c", guarded], cwd=tmp_path, capture_output=True, text=True, timeout=240,
                          env={k: v for k, v in os.environ.items() if k != "STREAMSEG_TOKEN"})
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert '"status":"done"' in done.stdout.replace(" ", "")
    with av.open(str(tmp_path / "car_white.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12


def test_delete_cancels_and_removes_a_job(segmenter, clip, tmp_path):
    data = tmp_path / "data"
    with running_service(data, segmenter, max_upload_mb=5) as svc:
        job = upload(svc.url, "clip.mp4", clip.read_bytes()).json()
        assert request(f"{svc.url}/api/jobs/{job['id']}", "DELETE").json() == {"deleted": job["id"]}
        assert_error(request(f"{svc.url}/api/jobs/{job['id']}"), 404)
        time.sleep(0.5)  # a cancelled run stops at its next batch
        assert not (data / "jobs" / job["id"]).exists()
        assert request(f"{svc.url}/api/jobs").json() == []


def test_import_streamseg_does_not_import_fastapi():
    import subprocess
    import sys

    code = "import sys, streamseg, streamseg.cli; print(sorted({'fastapi', 'uvicorn', 'starlette'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
