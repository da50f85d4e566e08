"""Colour knowledge in one place: FFmpeg's codes for a video's matrix, primaries and transfer, the rule
players apply when a video names none (BT.709 for HD, BT.601 below), the HDR constants of BT.2408, and
`Colour`, the input's description that the output keeps so the car looks the same.

The reader (PyAV and NVDEC), the writers, the HDR mapping of backdrops and the tests all take these
names from here instead of spelling the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import av

# FFmpeg's codes. "Unspecified" is 2 in all three tables; 0 is RGB for matrices and reserved for the others.
UNSPECIFIED = 2
# AVColorSpace: the matrix between YUV and RGB
MATRIX_BT709 = 1
MATRIX_FCC = 4
MATRIX_BT470BG = 5  # BT.601 625 lines (PAL)
MATRIX_SMPTE170M = 6  # BT.601 525 lines (NTSC)
MATRIX_SMPTE240M = 7
MATRIX_BT2020_NCL = 9
MATRIX_BT2020_CL = 10
# AVColorPrimaries: the RGB the picture is meant for
PRIMARIES_BT709 = 1
PRIMARIES_BT470BG = 5
PRIMARIES_SMPTE170M = 6
PRIMARIES_BT2020 = 9
# AVColorTransferCharacteristic
TRC_BT709 = 1
TRC_SMPTE170M = 6  # BT.601's, the same curve as BT.709's
TRC_PQ = 16  # SMPTE ST 2084
TRC_HLG = 18  # ARIB STD-B67
# AVColorRange
RANGE_LIMITED = 1  # "MPEG" (16-235), what streamseg writes

# the matrices swscale converts with, by code (what PyAV's reformat and to_ndarray take)
MATRIX_NAMES = {MATRIX_BT709: "itu709", MATRIX_FCC: "fcc", MATRIX_BT470BG: "itu601", MATRIX_SMPTE170M: "smpte170m",
                MATRIX_SMPTE240M: "smpte240m", MATRIX_BT2020_NCL: "bt2020", MATRIX_BT2020_CL: "bt2020"}

# BT.2408: SDR reference white in an HDR picture, and the nominal HLG display the inverse OOTF assumes
REFERENCE_WHITE_NITS = 203.0
HLG_PEAK_NITS = 1000.0
PQ_PEAK_NITS = 10000.0  # PQ's signal 1.0
# BT.2087: linear BT.709 RGB -> linear BT.2020 RGB
BT709_TO_BT2020 = ((0.6274, 0.3293, 0.0433),
                   (0.0691, 0.9195, 0.0114),
                   (0.0164, 0.0880, 0.8956))


def is_hd(width: int, height: int) -> bool:
    """The size from which players and FFmpeg's tools take an untagged video as BT.709 (below it: BT.601)."""
    return width >= 1280 or height > 576


@dataclass(frozen=True)
class Colour:
    """The input's colour description (FFmpeg's codes, above), kept by the output so the car looks the
    same: the matrix between YUV and RGB, and the primaries and transfer the RGB is meant for (BT.709 for
    HD video, BT.601 for SD, BT.2020 with HLG or PQ for a phone's HDR)."""

    matrix: int  # AVColorSpace
    primaries: int  # AVColorPrimaries
    trc: int  # AVColorTransferCharacteristic

    @staticmethod
    def untagged(width: int, height: int) -> Colour:
        """What a video that names no colour is taken to be, as players take it."""
        return BT709 if is_hd(width, height) else BT601

    @staticmethod
    def of(frame: av.VideoFrame) -> Colour:
        """What the frame is tagged with; where it names none, BT.709 for HD and BT.601 below, as players
        and FFmpeg's tools assume (swscale alone takes BT.601 for all: an untagged HD clip's reds would
        be 16 levels off)."""
        default = Colour.untagged(frame.width, frame.height)
        matrix = frame.colorspace if frame.colorspace in MATRIX_NAMES else default.matrix
        primaries = frame.color_primaries if frame.color_primaries not in (0, UNSPECIFIED) else default.primaries
        trc = frame.color_trc if frame.color_trc not in (0, UNSPECIFIED) else default.trc
        return Colour(matrix, primaries, trc)

    @property
    def matrix_name(self) -> str:
        return MATRIX_NAMES[self.matrix]

    @property
    def is_hdr(self) -> bool:
        return self.trc in (TRC_PQ, TRC_HLG)

    def tag(self, ctx: av.video.codeccontext.VideoCodecContext) -> None:
        """Describe an encoder's output with this colour (limited range, as from_rgb converts)."""
        ctx.colorspace, ctx.color_primaries, ctx.color_trc = self.matrix, self.primaries, self.trc
        ctx.color_range = RANGE_LIMITED

    def from_rgb(self, frame: av.VideoFrame, pix_fmt: str) -> av.VideoFrame:
        """An RGB(A) frame to `pix_fmt` with this matrix, limited range (the encoder's own conversion
        would use BT.601 whatever the tag says). The frame is tagged as well: some encoders (ProRes) write
        each frame's own primaries and transfer into its header, not the stream's."""
        out = frame.reformat(format=pix_fmt, dst_colorspace=self.matrix_name, dst_color_range="MPEG")
        out.colorspace, out.color_primaries, out.color_trc = self.matrix, self.primaries, self.trc
        return out


BT709 = Colour(MATRIX_BT709, PRIMARIES_BT709, TRC_BT709)  # HD video's, and what streamseg's samples are made in
BT601 = Colour(MATRIX_SMPTE170M, PRIMARIES_SMPTE170M, TRC_SMPTE170M)  # SD video's (NTSC's codes, as FFmpeg's tools)
BT2020_HLG = Colour(MATRIX_BT2020_NCL, PRIMARIES_BT2020, TRC_HLG)  # a phone's HDR
BT2020_PQ = Colour(MATRIX_BT2020_NCL, PRIMARIES_BT2020, TRC_PQ)
