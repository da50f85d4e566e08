"""Uploads, checked before anything decodes them: the type by the name's extension *and* the file's first bytes
(they must agree), the size by counting bytes while the multipart body streams to disk (python-multipart's
streaming parser: nothing is held in memory, and the count stops the upload the moment it passes the cap).
A zip of photos is unpacked here, each member checked the same way and the unpacked bytes capped too.
"""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header

from streamseg.serve.table import Kind

# the extension says which family of file it must be; the first bytes must say the same
FAMILY_OF_EXT = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp", ".bmp": "bmp", ".tif": "tiff",
                 ".tiff": "tiff", ".heic": "heif", ".heif": "heif", ".gif": "gif", ".mp4": "iso-media",
                 ".m4v": "iso-media", ".mov": "iso-media", ".webm": "matroska", ".mkv": "matroska", ".avi": "avi",
                 ".zip": "zip"}
PHOTO_FAMILIES = {"jpeg", "png", "webp", "bmp", "tiff", "heif"}
KIND_OF_FAMILY: dict[str, Kind] = {**{f: "photo" for f in PHOTO_FAMILIES}, "gif": "video", "iso-media": "video",
                                   "matroska": "video", "avi": "video", "zip": "photos"}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}  # old .mov files start with these
HEAD_BYTES = 16  # enough for every signature above
FILE_FIELDS = {"file": "the photo, zip of photos or video", "bg_file": "a backdrop image"}
MAX_FIELDS = 32
MAX_FIELD_BYTES = 4096
MAX_ZIP_PHOTOS = 1000
ACCEPTED = ", ".join(sorted(FAMILY_OF_EXT))


class UploadError(Exception):
    """A refused upload: the HTTP status, what is wrong and what to do instead."""

    def __init__(self, status: int, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.status, self.problem, self.fix = status, problem, fix


def family_of(head: bytes) -> str | None:
    """The kind of file its first bytes announce, or None for none we take."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[4:8] == b"ftyp":
        return "heif" if head[8:12] in HEIF_BRANDS else "iso-media"
    if head[4:8] in QUICKTIME_ATOMS:
        return "iso-media"
    return None


def safe_name(name: str, default: str = "upload") -> str:
    """A file name's last part with only plain characters kept: for display and for names inside the job's
    folder, never a path from the client."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")[:100]
    return cleaned or default


def expected_family(name: str, field_name: str) -> str:
    suffix = Path(name).suffix.lower()
    family = FAMILY_OF_EXT.get(suffix)
    if family is None or (field_name == "bg_file" and family not in PHOTO_FAMILIES):
        kinds = "an image (.jpg, .png, .webp, .bmp, .tif)" if field_name == "bg_file" else ACCEPTED
        raise UploadError(415, f"{name!r} is not a type this service takes (by its extension)",
                          f"upload {kinds}")
    return family


def check_head(name: str, head: bytes, family: str) -> None:
    found = family_of(head)
    if found != family:
        what = f"a {found} file" if found else "no file type this service takes"
        raise UploadError(415, f"{name!r} is named as {family} but its first bytes say {what}",
                          f"upload the file itself, with the extension of its type ({ACCEPTED})")


def disk_full(e: OSError) -> UploadError | None:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return UploadError(507, "the disk holding the service's data is full",
                           "free space there, or restart the service with --data on a larger disk "
                           "(results are removed after --keep-hours)")
    return None


@dataclass
class Upload:
    path: Path  # inside the job's folder
    name: str  # the client's name, made safe (display and download name only)
    family: str
    kind: Kind
    size: int


@dataclass
class Part:
    headers: dict[str, str] = field(default_factory=dict)
    field_name: str = ""
    file_name: str | None = None
    family: str = ""
    head: bytes = b""
    checked: bool = False
    out: IO[bytes] | None = None
    path: Path | None = None
    size: int = 0
    value: bytearray = field(default_factory=bytearray)


class FormReader:
    """Feed it the raw multipart body chunk by chunk: files go to `folder`/input (the field file) and
    `folder`/backdrop (bg_file) as they arrive, their bytes counted
    against `limit` (UploadError 413 past it), their type checked on their first bytes (415)."""

    def __init__(self, content_type: str, folder: Path, limit: int) -> None:
        mime, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if mime != b"multipart/form-data" or not boundary:
            raise UploadError(415, "the request is not a multipart/form-data upload",
                              "send the file as a form field named file (curl -F file=@car.mp4)")
        self.folder, self.limit = folder, limit
        self.fields: dict[str, str] = {}
        self.files: dict[str, Upload] = {}
        self.received = 0  # file bytes, all files together
        self.part = Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._end,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end, "on_headers_finished": self._headers_done})

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except OSError as e:
            raise disk_full(e) or e from None

    def finish(self) -> None:
        self.parser.finalize()
        if self.part.out is not None:  # the body ended inside a file
            raise UploadError(400, "the upload ended before the file did", "send it again")

    def close(self) -> None:
        if self.part.out is not None:
            self.part.out.close()

    @staticmethod
    def open_file(path: Path) -> IO[bytes]:
        return path.open("wb")

    def _begin(self) -> None:
        self.part = Part()

    def _header_end(self) -> None:
        self.part.headers[self._header_field.decode("latin-1").lower()] = self._header_value.decode("latin-1")
        self._header_field.clear()
        self._header_value.clear()

    def _headers_done(self) -> None:
        part = self.part
        _, params = parse_options_header(part.headers.get("content-disposition", ""))
        part.field_name = params.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in params:
            part.file_name = safe_name(params[b"filename"].decode("utf-8", "replace"))
            if part.field_name not in FILE_FIELDS:
                raise UploadError(400, f"unexpected file field {part.field_name!r}",
                                  "send the file as the field file (and a backdrop image as bg_file)")
            if part.field_name in self.files:
                raise UploadError(400, f"more than one file in the field {part.field_name!r}",
                                  "upload one file per request (several photos: one request each, or a zip)")
            part.family = expected_family(part.file_name, part.field_name)
            place = self.folder / ("input" if part.field_name == "file" else "backdrop")
            place.mkdir(exist_ok=True)
            part.path = place / f"{safe_name(Path(part.file_name).stem)}{Path(part.file_name).suffix.lower()}"
            part.out = self.open_file(part.path)
        elif len(self.fields) >= MAX_FIELDS:
            raise UploadError(400, "too many form fields", f"send at most {MAX_FIELDS}")

    def _data(self, data: bytes, start: int, end: int) -> None:
        part, chunk = self.part, data[start:end]
        if part.out is None:
            if len(part.value) + len(chunk) > MAX_FIELD_BYTES:
                raise UploadError(400, f"the form field {part.field_name!r} is too long",
                                  f"options are short values (at most {MAX_FIELD_BYTES} bytes)")
            part.value.extend(chunk)
            return
        self.received += len(chunk)
        if self.received > self.limit:
            raise UploadError(413, f"the upload is larger than this service takes ({self.limit / 2**20:g} MB)",
                              "send a smaller file, or restart the service with a larger --max-upload-mb")
        if not part.checked:
            part.head += chunk[:HEAD_BYTES - len(part.head)]
            if len(part.head) >= HEAD_BYTES:
                check_head(part.file_name or "", part.head, part.family)
                part.checked = True
        part.out.write(chunk)
        part.size += len(chunk)

    def _end(self) -> None:
        part = self.part
        if part.out is None:
            self.fields[part.field_name] = part.value.decode("utf-8", "replace")
            return
        part.out.close()
        part.out = None
        if part.size == 0:
            raise UploadError(400, f"{part.file_name!r} is empty", "upload the file again")
        if not part.checked:
            check_head(part.file_name or "", part.head, part.family)
        assert part.path is not None and part.file_name is not None  # set together in _headers_done
        self.files[part.field_name] = Upload(part.path, part.file_name, part.family, KIND_OF_FAMILY[part.family],
                                             part.size)


def unpack_photos(archive: Path, folder: Path, limit: int) -> list[str]:
    """The photos of a zip into `folder` (flat, names made safe and unique), each checked by extension and first
    bytes, the unpacked bytes capped at `limit` (a zip bomb stops there). Other members are left out and named
    in the list returned."""
    skipped: list[str] = []
    total, count = 0, 0
    try:
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if info.is_dir() or "__MACOSX" in info.filename or safe_name(info.filename).startswith("."):
                    continue
                name = safe_name(info.filename)
                family = FAMILY_OF_EXT.get(Path(name).suffix.lower())
                if family not in PHOTO_FAMILIES:
                    skipped.append(f"{name}: not a photo")
                    continue
                count += 1
                if count > MAX_ZIP_PHOTOS:
                    raise UploadError(413, f"the zip holds more than {MAX_ZIP_PHOTOS} photos",
                                      "split it into several zips")
                target = folder / name
                n = 1
                while target.exists():
                    target = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
                    n += 1
                with z.open(info) as src, target.open("wb") as dst:
                    head = src.read(HEAD_BYTES)
                    if family_of(head) != family:
                        dst.close()
                        target.unlink()
                        skipped.append(f"{name}: its first bytes are not {family}")
                        continue
                    dst.write(head)
                    total += len(head)
                    while chunk := src.read(1 << 20):
                        total += len(chunk)
                        if total > limit:
                            raise UploadError(413, f"the zip unpacks to more than {limit / 2**20:g} MB",
                                              "send fewer photos at a time")
                        dst.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as e:
        raise UploadError(400, f"the zip cannot be read: {e}", "make the zip again (plain or deflate)") from None
    except OSError as e:
        raise disk_full(e) or e from None
    if not any(folder.iterdir()):
        raise UploadError(400, "the zip holds no photos", "zip JPEG, PNG, WebP, TIFF, BMP or HEIC photos")
    return skipped


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
