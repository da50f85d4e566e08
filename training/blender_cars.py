"""Blender script: render TORCS cars (and FlightGear's road vehicles, Kenney's glTF toy vehicles) as photo-like
RGBA images with a car-only mask.

Run by `training.rendered` (not imported by the package):

    blender -b --factory-startup -P training/blender_cars.py -- --specs specs.json

`specs.json` is a list of {"name", "out", "car", "seed", "width", "height", "samples"}. For each spec
this writes, into `out`:
- `NAME.png`       RGBA: the car and its shadow over transparency (shadow pixels have alpha, they are
                   not car);
- `NAME_mask.png`  the car alone (object-index pass, 0/255, anti-aliased edges grey);
- `NAME.json`      the random choices (view, paint, light, ...); written last, so it marks a finished
                   sample.

Everything random is drawn from `random.Random(seed)`, so a spec renders the same every time.
The .acc reader and the XML reader below need no bpy (they can be tested in plain Python).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import time
from pathlib import Path

try:
    import bpy
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Matrix, Vector
except ImportError:  # plain Python: only the readers are usable
    bpy = None

TORCS_CARS = Path("/usr/share/games/torcs/cars")
FG_MODELS = Path("/usr/share/games/flightgear/Models")  # Debian flightgear-data-models
# the road vehicles among FlightGear's models (its other vehicles are trains, ships and aircraft)
FG_VEHICLES = {"fg-bus": "Transport/110Bus.ac", "fg-firetruck": "Airport/Vehicle/hoskosh-ti-1500.ac",
               "fg-pickup": "Military/humvee-pickup-odrab-low-poly.ac"}
STUDIOLIGHTS = Path("/usr/share/blender/datafiles/studiolights/world")
CAR_INDEX = 1  # object pass index of every part of the car
KENNEY_SCALE = 1.8  # the Kenney kit's sedan is 2.4 units long: about 4.4 m

# ------------------------------------------------------------------------------------------------
# AC3D (.acc: TORCS' variant with triangle strips and several UV sets) reader, no bpy needed


def read_acc(path: Path) -> list[dict]:
    """Objects of an .acc file: [{"name", "texture", "verts": [(x,y,z)], "faces": [(i,j,k)],
    "uvs": [((u,v),(u,v),(u,v))]}], in Blender axes (Z up, car front +X), translations applied."""
    lines = Path(path).read_text(errors="replace").splitlines()
    pos = 0
    objects: list[dict] = []
    # MATERIAL "name" rgb r g b ...: the colour of untextured surfaces (FlightGear models use them)
    colours = [tuple(float(v) for v in ln.split("rgb", 1)[1].split()[:3]) for ln in lines if ln.startswith("MATERIAL")]

    def parse_object(offset: tuple[float, float, float]) -> None:
        nonlocal pos
        obj = {"name": "", "texture": None, "verts": [], "faces": [], "uvs": [], "mats": []}
        loc = (0.0, 0.0, 0.0)
        kids = 0
        while pos < len(lines):
            tok = lines[pos].split()
            pos += 1
            if not tok:
                continue
            key = tok[0]
            if key == "name":
                obj["name"] = " ".join(tok[1:]).strip('"')
            elif key == "texture" and obj["texture"] is None:
                obj["texture"] = tok[1].strip('"')
            elif key == "loc":
                loc = tuple(float(v) for v in tok[1:4])
            elif key == "numvert":
                n = int(tok[1])
                for _ in range(n):
                    v = [float(x) for x in lines[pos].split()[:3]]
                    pos += 1
                    obj["verts"].append(v)
            elif key == "numsurf":
                for _ in range(int(tok[1])):
                    parse_surface(obj)
            elif key == "kids":
                kids = int(tok[1])
                break
        off = (offset[0] + loc[0], offset[1] + loc[1], offset[2] + loc[2])
        if obj["faces"]:
            common = max(set(obj["mats"]), key=obj["mats"].count)
            obj["rgb"] = colours[common] if common < len(colours) else (0.5, 0.5, 0.5)
            # AC3D is Y up; Blender Z up: (x, y, z) -> (x, -z, y)
            obj["verts"] = [(x + off[0], -(z + off[2]), y + off[1]) for x, y, z in obj["verts"]]
            objects.append(obj)
        for _ in range(kids):
            while pos < len(lines) and not lines[pos].startswith("OBJECT"):
                pos += 1
            pos += 1
            parse_object(off)

    def parse_surface(obj: dict) -> None:
        nonlocal pos
        flags = 0
        mat = 0
        refs: list[tuple[int, float, float]] = []
        while pos < len(lines):
            tok = lines[pos].split()
            pos += 1
            if not tok:
                continue
            if tok[0] == "SURF":
                flags = int(tok[1], 16)
            elif tok[0] == "mat":
                mat = int(tok[1])
            elif tok[0] == "refs":
                for _ in range(int(tok[1])):
                    r = lines[pos].split()
                    pos += 1
                    refs.append((int(r[0]), float(r[1]) if len(r) > 2 else 0.0, float(r[2]) if len(r) > 2 else 0.0))
                break
        kind = flags & 0xF
        tris: list[tuple[int, int, int]] = []
        if kind == 4:  # triangle strip
            for k in range(len(refs) - 2):
                tris.append((k, k + 1, k + 2) if k % 2 == 0 else (k + 1, k, k + 2))
        elif kind == 0 and len(refs) >= 3:  # polygon: fan
            tris = [(0, k, k + 1) for k in range(1, len(refs) - 1)]
        for a, b, c in tris:
            ia, ib, ic = refs[a][0], refs[b][0], refs[c][0]
            if ia == ib or ib == ic or ia == ic:
                continue  # degenerate (strip joints)
            obj["faces"].append((ia, ib, ic))
            obj["mats"].append(mat)
            obj["uvs"].append(tuple((refs[k][1], refs[k][2]) for k in (a, b, c)))

    while pos < len(lines):
        if lines[pos].startswith("OBJECT"):
            pos += 1
            parse_object((0.0, 0.0, 0.0))
        else:
            pos += 1
    return objects


def car_params(car: str) -> dict:
    """Wheel geometry from the car's TORCS XML: axle x, wheel y, tyre radius/width, rim radius (m)."""
    text = (TORCS_CARS / car / f"{car}.xml").read_text(errors="replace")

    def section(name: str) -> str:
        m = re.search(r'<section name="' + re.escape(name) + r'">(.*?)</section>', text, re.S)
        return m.group(1) if m else ""

    def num(sec: str, attr: str, default: float) -> float:
        m = re.search(r'<attnum name="' + re.escape(attr) + r'"[^>]*val="([-0-9.eE]+)"', sec)
        return float(m.group(1)) if m else default

    wheels = []
    for axle, wheel_names in (("Front Axle", ("Front Right Wheel", "Front Left Wheel")),
                              ("Rear Axle", ("Rear Right Wheel", "Rear Left Wheel"))):
        x = num(section(axle), "xpos", 1.3 if axle.startswith("Front") else -1.3)
        for wname in wheel_names:
            sec = section(wname)
            y = num(sec, "ypos", -0.8 if "Right" in wname else 0.8)
            rim_in = num(sec, "rim diameter", 16.0)
            width = num(sec, "tire width", 225.0) / 1000.0
            ratio = num(sec, "tire height-width ratio", 0.5)
            rim_r = rim_in * 0.0254 / 2
            wheels.append({"x": x, "y": y, "width": width, "rim_r": rim_r, "radius": rim_r + width * ratio})
    return {"wheels": wheels}


# ------------------------------------------------------------------------------------------------
# random choices

# paint colours (sRGB), weights roughly as on real roads; metallic ranges
PAINTS = [
    ("white", (0.93, 0.93, 0.92), 22, (0.0, 0.2)),
    ("pearl", (0.88, 0.87, 0.83), 4, (0.3, 0.6)),
    ("black", (0.03, 0.03, 0.035), 18, (0.0, 0.6)),
    ("grey", (0.33, 0.34, 0.36), 13, (0.4, 0.9)),
    ("silver", (0.68, 0.69, 0.70), 13, (0.6, 1.0)),
    ("dark-blue", (0.06, 0.10, 0.25), 6, (0.3, 0.8)),
    ("blue", (0.12, 0.28, 0.62), 3, (0.2, 0.7)),
    ("red", (0.62, 0.05, 0.05), 7, (0.0, 0.5)),
    ("dark-red", (0.32, 0.03, 0.05), 3, (0.3, 0.7)),
    ("green", (0.12, 0.30, 0.18), 2, (0.2, 0.7)),
    ("beige", (0.62, 0.55, 0.43), 2, (0.2, 0.6)),
    ("brown", (0.28, 0.18, 0.11), 2, (0.3, 0.7)),
    ("yellow", (0.90, 0.72, 0.08), 1, (0.0, 0.3)),
    ("orange", (0.88, 0.35, 0.06), 1, (0.0, 0.4)),
    ("light-blue", (0.50, 0.66, 0.80), 1, (0.3, 0.7)),
]

VIEWS = [("side", 90, 14, 3), ("front", 0, 20, 1.5), ("rear", 180, 20, 1.5),
         ("front-3/4", 40, 18, 2.5), ("rear-3/4", 140, 18, 2)]

GLASS_IN_TEXTURE = {"p406", "acura-nsx-sz", "155-DTM", "baja-bug"}

HDRIS = ["city", "courtyard", "forest", "sunset", "sunrise", "interior", "studio", "night"]

INTERIOR = re.compile(r"DRIVER|SEAT|STEER|VOLANT|CONSOLE|ROLLBAR|GIRTH|INSIDE|HELMET|CABIN|DASH", re.I)
DARK_PARTS = re.compile(r"WHEELFRAME|UNDER|CHASSIS|EXHAUST|CYLINDER|GRILL|MIRRORIN", re.I)


def srgb_to_linear(c: tuple[float, float, float]) -> tuple[float, float, float]:
    return tuple(x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c)


def choose(rng: random.Random) -> dict:
    """All the random choices of one sample, except the car (given by the spec)."""
    name, rgb, _, metal = rng.choices(PAINTS, weights=[p[2] for p in PAINTS])[0]
    jit = [min(1.0, max(0.0, c * rng.uniform(0.9, 1.1) + rng.uniform(-0.02, 0.02))) for c in rgb]
    paint = {"name": name, "srgb": [round(c, 3) for c in jit], "metallic": round(rng.uniform(*metal), 2),
             "roughness": round(rng.uniform(0.15, 0.45), 2), "clearcoat": round(rng.uniform(0.5, 1.0), 2),
             # 0: plain paint; >0: how much of the game livery shows through
             "livery": 1.0 if rng.random() < 0.12 else
             (0.0 if rng.random() < 0.6 else round(rng.uniform(0.1, 0.35), 2))}
    vname, az0, spread, _ = rng.choices(VIEWS, weights=[v[3] for v in VIEWS])[0]
    az = az0 + rng.uniform(-spread, spread)
    if rng.random() < 0.5:
        az = -az  # the other side
    cut = rng.random() < 0.2
    view = {"name": vname, "azimuth": round(az % 360, 1),
            "elevation": round(rng.choice([rng.uniform(1, 10), rng.uniform(3, 18), rng.uniform(10, 35)]), 1),
            "focal_mm": round(rng.choice([rng.uniform(22, 35), rng.uniform(28, 55), rng.uniform(50, 110)]), 1),
            "fill": round(rng.uniform(0.8, 1.3) if cut else rng.uniform(0.3, 0.9), 2), "cut": cut,
            "cx": round(rng.uniform(0.35, 0.65), 3), "cy": round(rng.uniform(0.38, 0.62), 3),
            "roll": round(rng.gauss(0, 1.5), 2)}
    if cut:  # push the car over the left or right edge
        view["cx"] = round(rng.choice([-1, 1]) * rng.uniform(0.15, 0.45) + 0.5, 3)
    mode = rng.choices(["sky", "hdri", "overcast"], weights=[4, 4, 1.5])[0]
    light = {"mode": mode, "sun_elevation": round(rng.uniform(15, 70), 1), "sun_azimuth": round(rng.uniform(0, 360), 1),
             "sun_angle": round(rng.uniform(0.5, 3.0), 2), "sun_strength": round(rng.uniform(2.5, 5.0), 2),
             "sky_strength": round(rng.uniform(0.15, 0.4), 3), "exposure": round(rng.gauss(0.0, 0.35), 2),
             "air": round(rng.uniform(0.5, 2.5), 2), "dust": round(rng.uniform(0.0, 3.0), 2)}
    if mode == "hdri":
        light["hdri"] = rng.choice(HDRIS)
        light["hdri_rotation"] = round(rng.uniform(0, 360), 1)
        light["hdri_strength"] = round(rng.uniform(0.5, 1.6), 2)
        light["sun"] = rng.random() < 0.65
        light["sun_strength"] = round(light["sun_strength"] * 0.8, 2)
    elif mode == "overcast":
        light["sun"] = False
        light["sky_strength"] = round(rng.uniform(0.6, 1.6), 2)
    else:
        light["sun"] = True
    trims = {"tyre": round(rng.uniform(0.015, 0.045), 3),
             "rim": rng.choice(["silver", "silver", "dark", "black", "gold"]),
             "spokes": rng.choice([5, 5, 6, 7, 10]), "glass": round(rng.uniform(0.005, 0.04), 3),
             "look": rng.choice(["None", "None", "Medium High Contrast", "Medium Low Contrast", "High Contrast"])}
    return {"paint": paint, "view": view, "light": light, "trims": trims}


# ------------------------------------------------------------------------------------------------
# Blender scene


def new_material(name: str) -> tuple:
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nt = mat.node_tree
    return mat, nt, nt.nodes["Principled BSDF"]


def paint_material(tex_path: Path | None, paint: dict, kind: str, glass_rgb: float = 0.02,
                   glass_in_texture: bool = False, texture_alpha: bool = False) -> object:
    """kind: "body" (repainted), "keep" (texture as is), "interior" (texture darkened). `texture_alpha`:
    the texture's transparent texels cut the surface away (FlightGear maps some faces onto them); the
    object-index pass skips them too (its alpha threshold), so the mask does not have them."""
    mat, nt, bsdf = new_material(f"{kind}-{tex_path.name if tex_path else 'plain'}")
    nodes, links = nt.nodes, nt.links
    color = (*srgb_to_linear(paint["srgb"]), 1.0)
    tex = None
    if tex_path is not None and tex_path.exists():
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = bpy.data.images.load(str(tex_path), check_existing=True)
        if texture_alpha:
            links.new(tex.outputs["Alpha"], bsdf.inputs["Alpha"])
    if kind == "body" and tex is not None:
        # dark parts of the texture (windows, grilles, tyres painted in) stay dark; the rest gets the paint,
        # with `livery` of the original texture showing through
        bw = nodes.new("ShaderNodeRGBToBW")
        links.new(tex.outputs["Color"], bw.inputs["Color"])
        ramp = nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].position = 0.06
        ramp.color_ramp.elements[1].position = 0.16
        links.new(bw.outputs["Val"], ramp.inputs["Fac"])
        dark = nodes.new("ShaderNodeMixRGB")
        dark.blend_type = "MULTIPLY"
        dark.inputs["Fac"].default_value = 1.0
        dark.inputs["Color2"].default_value = (0.35, 0.35, 0.35, 1)
        links.new(tex.outputs["Color"], dark.inputs["Color1"])
        mix = nodes.new("ShaderNodeMixRGB")
        links.new(ramp.outputs["Color"], mix.inputs["Fac"])
        links.new(dark.outputs["Color"], mix.inputs["Color1"])
        mix.inputs["Color2"].default_value = color
        liv = nodes.new("ShaderNodeMixRGB")
        liv.inputs["Fac"].default_value = paint["livery"]
        links.new(mix.outputs["Color"], liv.inputs["Color1"])
        links.new(tex.outputs["Color"], liv.inputs["Color2"])
        # windows painted into the texture (p406, acura, 155): unsaturated mid greys -> dark glass
        hsv = nodes.new("ShaderNodeSeparateHSV")
        links.new(tex.outputs["Color"], hsv.inputs["Color"])
        grey = nodes.new("ShaderNodeMath")
        grey.operation = "LESS_THAN"
        grey.inputs[1].default_value = 0.12
        links.new(hsv.outputs["S"], grey.inputs[0])
        mid = nodes.new("ShaderNodeMapRange")  # 1 for 0.15 < V < 0.85
        mid.interpolation_type = "LINEAR"
        mid.inputs["From Min"].default_value = 0.03  # linear: sRGB ~0.19..0.83
        mid.inputs["From Max"].default_value = 0.65
        links.new(hsv.outputs["V"], mid.inputs["Value"])
        band = nodes.new("ShaderNodeMath")
        band.operation = "COMPARE"
        band.inputs[1].default_value = 0.5
        band.inputs[2].default_value = 0.499
        links.new(mid.outputs["Result"], band.inputs[0])
        is_glass = nodes.new("ShaderNodeMath")
        is_glass.operation = "MULTIPLY"
        links.new(grey.outputs["Value"], is_glass.inputs[0])
        if glass_in_texture:
            links.new(band.outputs["Value"], is_glass.inputs[1])
        else:
            is_glass.inputs[1].default_value = 0.0
        gl = nodes.new("ShaderNodeMixRGB")
        links.new(is_glass.outputs["Value"], gl.inputs["Fac"])
        links.new(liv.outputs["Color"], gl.inputs["Color1"])
        gl.inputs["Color2"].default_value = (glass_rgb, glass_rgb, glass_rgb, 1)
        links.new(gl.outputs["Color"], bsdf.inputs["Base Color"])
        # painted areas are glossy paint, dark areas and glass not metallic
        met = nodes.new("ShaderNodeMath")
        met.operation = "MULTIPLY"
        met.inputs[1].default_value = paint["metallic"] * (1 - paint["livery"] * 0.7)
        links.new(ramp.outputs["Color"], met.inputs[0])
        met2 = nodes.new("ShaderNodeMath")
        met2.operation = "SUBTRACT"
        met2.use_clamp = True
        links.new(met.outputs["Value"], met2.inputs[0])
        links.new(is_glass.outputs["Value"], met2.inputs[1])
        links.new(met2.outputs["Value"], bsdf.inputs["Metallic"])
        rough = nodes.new("ShaderNodeMapRange")
        links.new(is_glass.outputs["Value"], rough.inputs["Value"])
        rough.inputs["To Min"].default_value = paint["roughness"]
        rough.inputs["To Max"].default_value = 0.04
        links.new(rough.outputs["Result"], bsdf.inputs["Roughness"])
        bsdf.inputs["Clearcoat"].default_value = paint["clearcoat"]
        bsdf.inputs["Clearcoat Roughness"].default_value = 0.03
    elif tex is not None:
        if kind == "interior":
            dark = nodes.new("ShaderNodeMixRGB")
            dark.blend_type = "MULTIPLY"
            dark.inputs["Fac"].default_value = 1.0
            dark.inputs["Color2"].default_value = (0.3, 0.3, 0.3, 1)
            links.new(tex.outputs["Color"], dark.inputs["Color1"])
            links.new(dark.outputs["Color"], bsdf.inputs["Base Color"])
            bsdf.inputs["Roughness"].default_value = 0.6
        else:
            links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
            bsdf.inputs["Roughness"].default_value = 0.3
    else:
        bsdf.inputs["Base Color"].default_value = color if kind == "body" else (0.02, 0.02, 0.02, 1)
        bsdf.inputs["Roughness"].default_value = 0.4
    return mat


def simple_material(name: str, rgb: tuple, roughness: float, metallic: float = 0.0, clearcoat: float = 0.0,
                    specular: float = 0.5) -> object:
    mat, _, bsdf = new_material(name)
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Metallic"].default_value = metallic
    bsdf.inputs["Clearcoat"].default_value = clearcoat
    bsdf.inputs["Specular"].default_value = specular
    return mat


def rim_material(trims: dict) -> object:
    """Grey rim with `spokes` dark openings, from the angle around the wheel axis (object Y)."""
    base = {"silver": (0.6, 0.6, 0.62), "dark": (0.12, 0.12, 0.13), "black": (0.02, 0.02, 0.02),
            "gold": (0.5, 0.38, 0.15)}[trims["rim"]]
    mat, nt, bsdf = new_material("rim")
    nodes, links = nt.nodes, nt.links
    coord = nodes.new("ShaderNodeTexCoord")
    sep = nodes.new("ShaderNodeSeparateXYZ")
    links.new(coord.outputs["Object"], sep.inputs["Vector"])
    ang = nodes.new("ShaderNodeMath")
    ang.operation = "ARCTAN2"
    links.new(sep.outputs["Z"], ang.inputs[0])
    links.new(sep.outputs["X"], ang.inputs[1])
    mul = nodes.new("ShaderNodeMath")
    mul.operation = "MULTIPLY"
    mul.inputs[1].default_value = trims["spokes"]
    links.new(ang.outputs["Value"], mul.inputs[0])
    sin = nodes.new("ShaderNodeMath")
    sin.operation = "SINE"
    links.new(mul.outputs["Value"], sin.inputs[0])
    # radius: hub (inner) and outer ring are solid
    rad = nodes.new("ShaderNodeVectorMath")
    rad.operation = "LENGTH"
    comb = nodes.new("ShaderNodeCombineXYZ")
    links.new(sep.outputs["X"], comb.inputs["X"])
    links.new(sep.outputs["Z"], comb.inputs["Z"])
    links.new(comb.outputs["Vector"], rad.inputs[0])
    ring = nodes.new("ShaderNodeMapRange")  # 1 at hub/outer ring, 0 in between
    ring.inputs["From Min"].default_value = 0.3
    ring.inputs["From Max"].default_value = 0.85
    links.new(rad.outputs["Value"], ring.inputs["Value"])
    tri = nodes.new("ShaderNodeMath")
    tri.operation = "PINGPONG"
    tri.inputs[1].default_value = 0.5
    links.new(ring.outputs["Result"], tri.inputs[0])
    hole = nodes.new("ShaderNodeMath")  # hole where sin < -0.2 and between hub and ring
    hole.operation = "LESS_THAN"
    hole.inputs[1].default_value = -0.25
    links.new(sin.outputs["Value"], hole.inputs[0])
    inner = nodes.new("ShaderNodeMath")
    inner.operation = "GREATER_THAN"
    inner.inputs[1].default_value = 0.12
    links.new(tri.outputs["Value"], inner.inputs[0])
    both = nodes.new("ShaderNodeMath")
    both.operation = "MULTIPLY"
    links.new(hole.outputs["Value"], both.inputs[0])
    links.new(inner.outputs["Value"], both.inputs[1])
    mix = nodes.new("ShaderNodeMixRGB")
    mix.inputs["Color1"].default_value = (*base, 1)
    mix.inputs["Color2"].default_value = (0.01, 0.01, 0.01, 1)
    links.new(both.outputs["Value"], mix.inputs["Fac"])
    links.new(mix.outputs["Color"], bsdf.inputs["Base Color"])
    links.new(both.outputs["Value"], bsdf.inputs["Roughness"])
    inv = nodes.new("ShaderNodeMath")
    inv.operation = "SUBTRACT"
    inv.inputs[0].default_value = 0.9
    links.new(both.outputs["Value"], inv.inputs[1])
    links.new(inv.outputs["Value"], bsdf.inputs["Metallic"])
    return mat


def add_mesh(o: dict, mat) -> object:
    """One object of read_acc as a Blender mesh with its UVs and material, smooth-shaded."""
    name = o["name"]
    mesh = bpy.data.meshes.new(name or "part")
    mesh.from_pydata(o["verts"], [], o["faces"])
    uv = mesh.uv_layers.new(name="UVMap")
    flat = [c for tri in o["uvs"] for uvp in tri for c in uvp]
    if len(mesh.loops) == len(flat) // 2:
        uv.data.foreach_set("uv", flat)
    mesh.materials.append(mat)
    mesh.validate()
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
    mesh.use_auto_smooth = True
    mesh.auto_smooth_angle = math.radians(40)
    ob = bpy.data.objects.new(name or "part", mesh)
    bpy.context.scene.collection.objects.link(ob)
    return ob


def centred_car(made: list) -> list:
    """The parts of a model, centred over the origin (as the TORCS cars are) and marked as car."""
    pts = [ob.matrix_world @ Vector(c) for ob in made for c in ob.bound_box]
    cx = (min(p.x for p in pts) + max(p.x for p in pts)) / 2
    cy = (min(p.y for p in pts) + max(p.y for p in pts)) / 2
    for ob in made:
        ob.location.x -= cx
        ob.location.y -= cy
        ob.pass_index = CAR_INDEX
    return made


def build_flightgear(vehicle: str, choice: dict, path: Path | None = None, keep: bool = False) -> list:
    """A FlightGear road vehicle (FG_VEHICLES, or the .ac at `path`): wheels and windows are in the model;
    its textured body is repainted like a TORCS car's (or, with `keep`, shown in its own photo texture),
    untextured parts keep their AC3D material colour."""
    traffic = path is not None  # flightgear-data-base's models: some faces lie on transparent texels
    path = path or FG_MODELS / FG_VEHICLES[vehicle]
    paint, trims = choice["paint"], choice["trims"]
    mats: dict = {}
    made = []
    for o in read_acc(path):
        tex = o["texture"]
        if tex:
            mat = mats.get(tex)
            if mat is None:
                mat = mats[tex] = paint_material(path.parent / tex, paint, "keep" if keep else "body",
                                                 trims["glass"], glass_in_texture=True, texture_alpha=traffic)
        else:
            rgb = tuple(o["rgb"])
            mat = mats.get(rgb)
            if mat is None:
                mat = mats[rgb] = simple_material("fg-plain", srgb_to_linear(rgb), 0.45, specular=0.5)
        made.append(add_mesh(o, mat))
    return centred_car(made)


def build_gltf(path: Path, choice: dict, keep: bool = False) -> list:
    """A Kenney Car Kit vehicle (.glb): flat-coloured parts, named by material. Its `paint*` materials take the
    sample's paint (with `keep`, they stay in the kit's own colours), `window` the tinted glass, `carTire` the
    tyre rubber. Turned to lie along X like the TORCS cars, scaled to metres, centred over the origin."""
    import numpy  # Blender's glTF importer needs Debian's python3-numpy

    if not hasattr(numpy, "bool"):  # gone since numpy 1.24; Blender 3.4's importer still names it
        numpy.bool = bool
    bpy.ops.import_scene.gltf(filepath=str(path))
    made = [ob for ob in bpy.context.scene.objects if ob.type == "MESH"]
    for ob in made:  # bake the node hierarchy into each part, then drop the empties
        world = ob.matrix_world.copy()
        ob.parent = None
        ob.matrix_world = world
    for ob in [ob for ob in bpy.context.scene.objects if ob.type != "MESH"]:
        bpy.data.objects.remove(ob)
    paint, trims = choice["paint"], choice["trims"]
    swap = {"window": simple_material("glass", (trims["glass"],) * 3, 0.03, specular=0.7, clearcoat=1.0),
            "carTire": simple_material("tyre", (trims["tyre"],) * 3, 0.75, specular=0.3)}
    if not keep:
        swap["paint"] = paint_material(None, paint, "body")
    for ob in made:
        for slot in ob.material_slots:  # (a wheel's paint is its rim: kept)
            key = next((k for k in swap if slot.material and slot.material.name.startswith(k)
                        and not (k == "paint" and ob.name.startswith("wheel"))), None)
            if key:
                slot.material = swap[key]
    turn = Matrix.Rotation(math.pi / 2, 4, "Z") @ Matrix.Scale(KENNEY_SCALE, 4)
    for ob in made:
        ob.matrix_world = turn @ ob.matrix_world
    bpy.context.view_layer.update()
    return centred_car(made)


def build_car(car: str, choice: dict) -> list:
    car_dir = TORCS_CARS / car
    objs = read_acc(car_dir / f"{car}.acc")
    paint, trims = choice["paint"], choice["trims"]
    main_tex = f"{car}.rgb"
    glass = simple_material("glass", (trims["glass"],) * 3, 0.03, specular=0.7, clearcoat=1.0)
    mats: dict = {}
    made = []
    for o in objs:
        name = o["name"]
        if name.upper().startswith("WI"):
            mat = glass
            key = "glass"
        else:
            kind = "interior" if INTERIOR.search(name) else ("keep" if DARK_PARTS.search(name) else "body")
            tex = o["texture"]
            if tex != main_tex and kind == "body":
                kind = "keep"
            key = (kind, tex)
            mat = mats.get(key)
            if mat is None:
                mat = mats[key] = paint_material(car_dir / tex if tex else None, paint, kind, trims["glass"],
                                                       glass_in_texture=car in GLASS_IN_TEXTURE)
        made.append(add_mesh(o, mat))
    # wheels
    params = car_params(car)
    zmin = min(v[2] for ob in made for v in [ob.matrix_world @ Vector(c) for c in ob.bound_box])
    tyre = simple_material("tyre", (trims["tyre"],) * 3, 0.75, specular=0.3)
    rim = rim_material(trims)
    for w in params["wheels"]:
        r, width = w["radius"], w["width"]
        ground = zmin - 0.08
        z = ground + r
        bpy.ops.mesh.primitive_cylinder_add(vertices=40, radius=r, depth=width, location=(w["x"], w["y"], z),
                                            rotation=(math.pi / 2, 0, 0))
        t = bpy.context.object
        t.data.materials.append(tyre)
        bev = t.modifiers.new("bevel", "BEVEL")
        bev.width = min(width, r - w["rim_r"]) * 0.35
        bev.segments = 3
        t.data.polygons.foreach_set("use_smooth", [True] * len(t.data.polygons))
        t.data.use_auto_smooth = True
        made.append(t)
        side = 1 if w["y"] > 0 else -1
        bpy.ops.mesh.primitive_cylinder_add(vertices=40, radius=w["rim_r"] * 0.98, depth=0.02,
                                            location=(w["x"], w["y"] + side * (width / 2 - 0.02), z),
                                            rotation=(math.pi / 2, 0, 0))
        rm = bpy.context.object
        rm.data.materials.append(rim)
        made.append(rm)
    for ob in made:
        ob.pass_index = CAR_INDEX
    return made


def setup_world(light: dict) -> None:
    scene = bpy.context.scene
    world = bpy.data.worlds.new("world")
    scene.world = world
    world.use_nodes = True
    world.cycles.sampling_method = "MANUAL"
    world.cycles.sample_map_resolution = 256  # the 1024 default costs ~2 s per render
    nt = world.node_tree
    nodes, links = nt.nodes, nt.links
    bg = nodes["Background"]
    if light["mode"] == "hdri":
        env = nodes.new("ShaderNodeTexEnvironment")
        env.image = bpy.data.images.load(str(STUDIOLIGHTS / f"{light['hdri']}.exr"), check_existing=True)
        coord = nodes.new("ShaderNodeTexCoord")
        mapping = nodes.new("ShaderNodeMapping")
        mapping.inputs["Rotation"].default_value = (0, 0, math.radians(light["hdri_rotation"]))
        links.new(coord.outputs["Generated"], mapping.inputs["Vector"])
        links.new(mapping.outputs["Vector"], env.inputs["Vector"])
        links.new(env.outputs["Color"], bg.inputs["Color"])
        bg.inputs["Strength"].default_value = light["hdri_strength"]
    elif light["mode"] == "sky":
        sky = nodes.new("ShaderNodeTexSky")
        sky.sky_type = "NISHITA"
        sky.sun_disc = False
        sky.sun_elevation = math.radians(light["sun_elevation"])
        sky.sun_rotation = math.radians(light["sun_azimuth"])
        sky.air_density = light["air"]
        sky.dust_density = light["dust"]
        links.new(sky.outputs["Color"], bg.inputs["Color"])
        bg.inputs["Strength"].default_value = light["sky_strength"]
    else:  # overcast: bright grey, lighter above
        coord = nodes.new("ShaderNodeTexCoord")
        sep = nodes.new("ShaderNodeSeparateXYZ")
        links.new(coord.outputs["Generated"], sep.inputs["Vector"])
        ramp = nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].position = 0.0
        ramp.color_ramp.elements[0].color = (0.15, 0.15, 0.15, 1)
        ramp.color_ramp.elements[1].position = 0.7
        ramp.color_ramp.elements[1].color = (0.9, 0.92, 1.0, 1)
        mr = nodes.new("ShaderNodeMapRange")
        mr.inputs["From Min"].default_value = -1.0
        links.new(sep.outputs["Z"], mr.inputs["Value"])
        links.new(mr.outputs["Result"], ramp.inputs["Fac"])
        links.new(ramp.outputs["Color"], bg.inputs["Color"])
        bg.inputs["Strength"].default_value = light["sky_strength"]
    if light.get("sun"):
        sun_data = bpy.data.lights.new("sun", "SUN")
        sun_data.energy = light["sun_strength"]
        sun_data.angle = math.radians(light["sun_angle"])
        el, az = math.radians(light["sun_elevation"]), math.radians(light["sun_azimuth"])
        if light["mode"] == "sky":
            sun_data.color = (1.0, 0.93 + 0.07 * min(1, el / 0.6), 0.8 + 0.2 * min(1, el / 0.8))
        sun = bpy.data.objects.new("sun", sun_data)
        # the light shines along its -Z: point it from (el, az) towards the origin
        sun.rotation_euler = (0.0, math.pi / 2 - el, az)
        scene.collection.objects.link(sun)


def place_camera(made: list, view: dict, width: int, height: int) -> dict:
    scene = bpy.context.scene
    cam_data = bpy.data.cameras.new("cam")
    cam_data.lens = view["focal_mm"]
    cam_data.sensor_fit = "HORIZONTAL" if width >= height else "VERTICAL"
    cam_data.sensor_width = 36
    cam_data.sensor_height = 36
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    pts = [ob.matrix_world @ Vector(c) for ob in made for c in ob.bound_box]
    lo = Vector([min(p[i] for p in pts) for i in range(3)])
    hi = Vector([max(p[i] for p in pts) for i in range(3)])
    center = (lo + hi) / 2
    az, el = math.radians(view["azimuth"]), math.radians(view["elevation"])
    direction = Vector((math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)))
    radius = (hi - lo).length / 2

    def frac_at(d: float) -> float:
        cam.location = center + direction * d
        cam.rotation_euler = (-direction).to_track_quat("-Z", "Y").to_euler()
        cam.rotation_euler.rotate_axis("Z", math.radians(view["roll"]))
        bpy.context.view_layer.update()
        proj = [world_to_camera_view(scene, cam, p) for p in pts]
        xs = [p.x for p in proj]
        ys = [p.y for p in proj]
        return max(max(xs) - min(xs), (max(ys) - min(ys)) * height / width * 0.75)

    # the projected size falls with the distance: bisect (never closer than the car's bounding sphere + 1 m)
    near, far = radius + 1.0, 300.0
    for _ in range(18):
        mid = math.sqrt(near * far)
        if frac_at(mid) > view["fill"]:
            near = mid
        else:
            far = mid
    dist = math.sqrt(near * far)
    frac_at(dist)
    # keep the camera above the ground
    if cam.location.z < 0.3:
        cam.location.z = 0.3
    bpy.context.view_layer.update()
    proj = [world_to_camera_view(scene, cam, p) for p in pts]
    xs = [p.x for p in proj]
    ys = [p.y for p in proj]
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    big = max(width, height)
    cam_data.shift_x = max(-1.0, min(1.0, (cx - view["cx"]) * width / big))
    cam_data.shift_y = max(-1.0, min(1.0, (cy - view["cy"]) * height / big))
    return {"distance": round(dist, 2), "frac": round(max(xs) - min(xs), 3)}


def setup_render(spec: dict, choice: dict, out: Path, name: str) -> None:
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = spec.get("samples", 20)
    scene.cycles.use_adaptive_sampling = True
    scene.cycles.adaptive_threshold = 0.04
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 4
    scene.cycles.glossy_bounces = 2
    scene.cycles.transmission_bounces = 2
    scene.cycles.transparent_max_bounces = 4
    scene.cycles.diffuse_bounces = 1
    scene.cycles.sample_clamp_indirect = 5.0
    scene.cycles.blur_glossy = 1.0
    scene.cycles.seed = spec["seed"] % 100000
    scene.render.threads_mode = "FIXED"
    scene.render.threads = int(os.environ.get("BLENDER_THREADS", "2"))
    scene.render.resolution_x = spec.get("width", 512)
    scene.render.resolution_y = spec.get("height", 320)
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    scene.render.filter_size = 1.2
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.image_settings.color_depth = "8"
    scene.view_settings.view_transform = "Filmic"
    scene.view_settings.look = choice["trims"]["look"]
    scene.view_settings.exposure = choice["light"]["exposure"]
    scene.render.filepath = str(out / f"{name}.png")
    # mask: object index -> ID mask -> file output
    vl = bpy.context.view_layer
    vl.use_pass_object_index = True
    scene.use_nodes = True
    nt = scene.node_tree
    for n in list(nt.nodes):
        nt.nodes.remove(n)
    rl = nt.nodes.new("CompositorNodeRLayers")
    comp = nt.nodes.new("CompositorNodeComposite")
    nt.links.new(rl.outputs["Image"], comp.inputs["Image"])
    nt.links.new(rl.outputs["Alpha"], comp.inputs["Alpha"])
    idm = nt.nodes.new("CompositorNodeIDMask")
    idm.index = CAR_INDEX
    idm.use_antialiasing = True
    nt.links.new(rl.outputs["IndexOB"], idm.inputs["ID value"])
    fo = nt.nodes.new("CompositorNodeOutputFile")
    fo.base_path = str(out)
    fo.format.file_format = "PNG"
    fo.format.color_mode = "BW"
    fo.format.color_depth = "8"
    fo.file_slots[0].path = f"{name}_mask_tmp"
    fo.file_slots[0].use_node_format = True
    nt.links.new(idm.outputs["Alpha"], fo.inputs[0])
    scene.frame_current = 1


def add_ground(made: list) -> None:
    length = max(abs((ob.matrix_world @ Vector(c)).x) for ob in made for c in ob.bound_box)
    bpy.ops.mesh.primitive_plane_add(size=max(14.0, 3 * length), location=(0, 0, 0))  # a bus is 11 m long
    plane = bpy.context.object
    plane.is_shadow_catcher = True
    plane.data.materials.append(simple_material("ground", (0.25, 0.25, 0.25), 0.9))


def render_one(spec: dict) -> dict:
    t0 = time.time()
    out = Path(spec["out"])
    name = spec["name"]
    rng = random.Random(spec["seed"])
    choice = choose(rng)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if "model" in spec or "gltf" in spec:  # FlightGear traffic, Kenney: half of them in their own paint
        keep = random.Random(f"keep:{spec['seed']}").random() < 0.5
        made = (build_flightgear(spec["car"], choice, Path(spec["model"]), keep) if "model" in spec
                else build_gltf(Path(spec["gltf"]), choice, keep))
        choice["paint"]["kept"] = keep
    elif spec["car"] in FG_VEHICLES:
        made = build_flightgear(spec["car"], choice)
    else:
        made = build_car(spec["car"], choice)
    # ground at the lowest wheel point
    ground = min((ob.matrix_world @ Vector(c)).z for ob in made for c in ob.bound_box)
    for ob in made:
        ob.location.z -= ground
    bpy.context.view_layer.update()
    add_ground(made)
    setup_world(choice["light"])
    cam = place_camera(made, choice["view"], spec.get("width", 512), spec.get("height", 320))
    setup_render(spec, choice, out, name)
    bpy.ops.render.render(write_still=True)
    tmp = out / f"{name}_mask_tmp0001.png"
    tmp.replace(out / f"{name}_mask.png")
    meta = {"name": name, "car": spec["car"], "seed": spec["seed"], "width": spec.get("width", 512),
            "height": spec.get("height", 320), **choice, "camera": cam, "seconds": round(time.time() - t0, 2)}
    (out / f"{name}.json.tmp").write_text(json.dumps(meta))
    (out / f"{name}.json.tmp").replace(out / f"{name}.json")
    return meta


def main() -> None:
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    ap = argparse.ArgumentParser()
    ap.add_argument("--specs", required=True)
    args = ap.parse_args(argv)
    specs = json.loads(Path(args.specs).read_text())
    for spec in specs:
        Path(spec["out"]).mkdir(parents=True, exist_ok=True)
        meta = render_one(spec)
        print(f"RENDERED {meta['name']} {meta['car']} {meta['seconds']}s", flush=True)


if __name__ == "__main__" and bpy is not None:
    main()
