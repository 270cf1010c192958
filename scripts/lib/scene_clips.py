"""Scene clips: what a residential camera records, for tests and benchmarks.

Run by scripts/make-scene-clips (which owns the cache and the stamp); see its header for
what the clips are. Every frame is made here as raw YUV 4:2:0 and piped to the ffmpeg CLI,
which encodes and muxes it. numpy is the only Python package used; photos are decoded by
ffmpeg.

A frame is, in this order: the still background (a real street photo); the people in the
scene (each a test face photo cut to head and shoulders, on a simple torso and walking
legs); the light of the moment (a slow gain of a few per cent by day, or the infrared look
at night: grey, darker, flatter, brighter in the middle); sensor noise (per pixel, new
every frame, stronger in brighter pixels and much stronger at night).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

WIDTH, HEIGHT, FPS, GOP = 1920, 1080, 25, 50

# The background: the Groot Begijnhof in Leuven (OpenCV's `leuvenA.jpg`, 751x563), cut to
# 16:9 around the street and scaled to the frame.
BACKGROUND = "leuvenA.jpg"
BACKGROUND_CROP = (0, 130, 751, 422)  # x, y, width, height in the photo

# Each test photo's face box (x, y, width, height) in the photo's pixels, as YuNet finds it
# (`dipper face detect`); the photos are pinned by sha256 in scripts/fetch-models.
PHOTO_FACES = {
    "obama.jpg": (378, 92, 232, 321),
    "obama2.jpg": (202, 230, 275, 404),
    "obama3.jpg": (644, 273, 266, 345),
    "biden.jpg": (437, 186, 276, 381),
    "astronaut.png": (179, 63, 91, 111),
    "newton.png": (331, 90, 110, 145),
    "gauss.png": (381, 206, 280, 363),
}

# A face is listed as visible on a keyframe when its box is this high or more and wholly
# inside the frame.
MIN_VISIBLE_FACE = 40

# Clips. A walk goes from (t0, x0, y0, face height h0) to (t1, x1, y1, h1) in a straight
# line: (x, y) is the face box's centre, h its height, all in frame pixels. `night_from`
# is when the camera switches to infrared (None: day throughout); `light` is the day gain
# as (mean, amplitude, period in seconds, phase).
TEST_CLIPS = [
    {
        "file": "street_day_h264.ps",
        "codec": "h264",
        "seconds": 60,
        "night_from": None,
        "light": (1.0, 0.04, 150.0, 0.3),
        "seed": 1,
        "walks": [
            # Down the street towards the camera.
            ("obama2.jpg", (8.6, 930, 470, 44), (14.8, 1240, 300, 118)),
            # Across the street, left to right, mid-distance.
            ("biden.jpg", (37.3, -120, 420, 72), (42.5, 2040, 440, 72)),
        ],
    },
    {
        "file": "street_day_h265.ps",
        "codec": "h265",
        "seconds": 60,
        "night_from": None,
        "light": (1.02, 0.03, 200.0, 2.1),
        "seed": 2,
        "walks": [
            ("obama3.jpg", (18.3, 760, 480, 40), (24.1, 520, 300, 96)),
            # Close to the camera, right to left: big and quick.
            ("astronaut.png", (45.3, 2080, 230, 150), (49.1, -160, 240, 150)),
        ],
    },
    {
        "file": "street_dusk_night_h264.ps",
        "codec": "h264",
        "seconds": 60,
        "night_from": 20.0,
        "light": (0.86, 0.05, 120.0, 1.2),
        "seed": 3,
        "walks": [
            ("newton.png", (7.4, 2040, 430, 64), (12.2, -110, 420, 64)),
            # Under the infrared light, towards the camera.
            ("gauss.png", (35.5, 880, 480, 50), (41.7, 1120, 330, 112)),
            ("obama.jpg", (50.3, -120, 390, 84), (54.3, 2040, 380, 84)),
        ],
    },
]


def long_clips():
    """The longer set (`--long`) for benchmarks: ten minutes per codec, day then infrared
    night, a person in about 10 % of it (a walk every 35 to 60 s, each photo in turn)."""
    photos = sorted(PHOTO_FACES)
    clips = []
    for n, codec in enumerate(("h264", "h265")):
        rng = np.random.default_rng(100 + n)
        walks, t = [], 11.0
        while t < 585.0:
            photo = photos[len(walks) % len(photos)]
            if len(walks) % 2 == 0:  # towards the camera
                h0 = float(rng.uniform(40, 50))
                h1 = float(rng.uniform(90, 140))
                x0 = float(rng.uniform(700, 1100))
                walk = ((t, x0, 480.0, h0), (t + 6.0, x0 + rng.uniform(-300, 300), 300.0, h1))
            else:  # across
                h = float(rng.uniform(50, 110))
                left = rng.uniform() < 0.5
                y = float(rng.uniform(380, 440) - h)
                x0, x1 = (-150.0, 2070.0) if left else (2070.0, -150.0)
                walk = ((t, x0, y, h), (t + 2200.0 / (6.0 * h), x1, y, h))
            walks.append((photo, walk[0], walk[1]))
            t = walk[1][0] + float(rng.uniform(35, 60))
        clips.append(
            {
                "file": f"street_10min_{codec}.ps",
                "codec": codec,
                "seconds": 600,
                "night_from": 330.0,
                "light": (1.0, 0.05, 240.0, 0.7 * n),
                "seed": 10 + n,
                "walks": walks,
            }
        )
    return clips


def log(message):
    print(f"make-scene-clips: {message}", file=sys.stderr, flush=True)


def load_rgb(path, filters=None):
    """A photo as an RGB uint8 array (height, width, 3), decoded (and filtered) by ffmpeg."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0:s=x", path],
        check=True, capture_output=True, text=True,
    )
    width, height = (int(v) for v in probe.stdout.strip().split("x"))
    args = ["ffmpeg", "-v", "error", "-i", path]
    if filters:
        args += ["-vf", filters[0]]
        width, height = filters[1]
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(args, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


def resize_weights(n_in, n_out):
    """The (n_out, n_in) matrix of a separable triangle filter, widened when shrinking so
    that every source pixel counts (no aliasing)."""
    scale = n_in / n_out
    support = max(1.0, scale)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    taps = np.arange(n_in)
    weights = np.maximum(0.0, 1.0 - np.abs(taps[None, :] - centres[:, None]) / support)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def resize(image, width, height):
    """`image` (h, w, channels) float32, resized to (height, width, channels)."""
    rows = resize_weights(image.shape[0], height)
    cols = resize_weights(image.shape[1], width)
    out = np.einsum("yh,hwc->ywc", rows, image, optimize=True)
    return np.einsum("xw,ywc->yxc", cols, out, optimize=True)


def rgb_to_yuv(rgb):
    """BT.601 limited range, as swscale and the extractor assume for untagged video."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    return y, u, v


def half(plane):
    """A plane's 2x2 means (chroma subsampling); odd edges are dropped."""
    h, w = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    p = plane[:h, :w]
    return 0.25 * (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2])


class Person:
    """One test photo as a person: the head and shoulders cut from the photo (an oval and
    a shoulder block, soft edges), a torso in the colour of the photo's clothes, legs."""

    def __init__(self, photo_dir, photo, rng):
        self.photo = photo
        rgb = load_rgb(os.path.join(photo_dir, photo)).astype(np.float32)
        fx, fy, fw, fh = PHOTO_FACES[photo]
        # The cut: 2.6 face widths wide, from 0.5 face heights above the face box to 0.55
        # below it, clamped to the photo.
        left = max(0, int(fx + fw / 2 - 1.3 * fw))
        right = min(rgb.shape[1], int(fx + fw / 2 + 1.3 * fw))
        top = max(0, int(fy - 0.5 * fh))
        bottom = min(rgb.shape[0], int(fy + 1.55 * fh))
        self.cut = rgb[top:bottom, left:right]
        # The face box relative to the cut, in face heights.
        self.face = ((fx - left) / fh, (fy - top) / fh, fw / fh)
        # A coat and trousers of everyday colours.
        self.clothes = np.array(
            [(38, 44, 62), (58, 58, 60), (92, 70, 52), (44, 60, 48), (150, 140, 120)][
                int(rng.integers(5))
            ],
            np.float32,
        )
        self.trousers = np.array(
            [(40, 42, 50), (60, 55, 48), (30, 34, 60), (80, 80, 84)][int(rng.integers(4))],
            np.float32,
        )
        self.sprites = {}

    def head(self, face_height):
        """The head and shoulders for a face `face_height` pixels high: Y, U, V planes (U, V
        at half resolution) and the alpha of both, and the face box's offset in it. Cached
        per height."""
        if face_height in self.sprites:
            return self.sprites[face_height]
        scale = face_height / (PHOTO_FACES[self.photo][3])
        h = max(2, int(round(self.cut.shape[0] * scale / 2)) * 2)
        w = max(2, int(round(self.cut.shape[1] * scale / 2)) * 2)
        rgb = resize(self.cut, w, h)
        fx, fy, fw = (v * face_height for v in self.face)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        # Head: an oval around the face box, a little taller (hair, chin).
        cx, cy = fx + fw / 2, fy + 0.45 * face_height
        rx, ry = 0.62 * fw, 0.78 * face_height
        r = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
        edge = max(1.0, 0.04 * face_height)
        head = np.clip((1.0 - r) * min(rx, ry) / edge, 0.0, 1.0)
        # Neck and shoulders: a block below the chin with rounded upper corners.
        shoulders_top = fy + 1.1 * face_height
        sx = np.abs(xx - cx) / (1.25 * fw)
        corner = np.clip(sx - 0.6, 0.0, None) * face_height * 0.9
        block = np.clip((yy - shoulders_top - corner) / edge, 0.0, 1.0)
        block *= np.clip((1.0 - sx) * fw / edge, 0.0, 1.0)
        neck = np.clip((0.22 * fw - np.abs(xx - cx)) / edge, 0.0, 1.0)
        neck *= (yy > fy + 0.8 * face_height).astype(np.float32)
        alpha = np.maximum(np.maximum(head, block), neck)
        y, u, v = rgb_to_yuv(rgb)
        sprite = (y, half(u), half(v), alpha, half(alpha), (fx, fy, fw))
        self.sprites[face_height] = sprite
        return sprite


def paste(plane, image, alpha, x, y):
    """Blends `image` into `plane` at (x, y) with `alpha`, clipped to the plane."""
    ph, pw = plane.shape
    ih, iw = image.shape
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(pw, x + iw), min(ph, y + ih)
    if x0 >= x1 or y0 >= y1:
        return
    region = plane[y0:y1, x0:x1]
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x]
    region += a * (image[y0 - y:y1 - y, x0 - x:x1 - x] - region)


def fill(planes, colour, x, y, w, h):
    """Fills a rectangle of the frame (x, y, w, h in luma pixels) with an RGB colour."""
    yc, uc, vc = rgb_to_yuv(np.asarray(colour, np.float32))
    Y, U, V = planes
    x0, y0 = max(0, int(x)), max(0, int(y))
    x1, y1 = min(WIDTH, int(x + w)), min(HEIGHT, int(y + h))
    if x0 >= x1 or y0 >= y1:
        return
    Y[y0:y1, x0:x1] = yc
    U[y0 // 2:(y1 + 1) // 2, x0 // 2:(x1 + 1) // 2] = uc
    V[y0 // 2:(y1 + 1) // 2, x0 // 2:(x1 + 1) // 2] = vc


class Walk:
    """A person crossing the scene on a straight line from `start` to `end`, each
    (t, x, y, face height): the face box's centre moves and its height changes linearly."""

    def __init__(self, person, start, end):
        self.person = person
        self.t0, self.x0, self.y0, self.h0 = start
        self.t1, self.x1, self.y1, self.h1 = end

    def shown_at(self, t):
        return self.t0 <= t < self.t1

    def face_box(self, t):
        """Where the face box is at time t: (x, y, width, height), in frame pixels, exactly
        as drawn."""
        k = (t - self.t0) / (self.t1 - self.t0)
        height = int(round(self.h0 + k * (self.h1 - self.h0)))
        cx = self.x0 + k * (self.x1 - self.x0)
        cy = self.y0 + k * (self.y1 - self.y0)
        _, _, _, _, _, (fx, fy, fw) = self.person.head(height)
        # The head's top-left corner, on even pixels (chroma), and the face box from it.
        left = int(round((cx - fw / 2 - fx) / 2)) * 2
        top = int(round((cy - height / 2 - fy) / 2)) * 2
        return (left + fx, top + fy, fw, float(height)), (left, top)

    def draw(self, planes, t):
        (bx, by, bw, bh), (left, top) = self.face_box(t)
        y, u, v, alpha, alpha_half, _ = self.person.head(int(bh))
        Y, U, V = planes
        # Body below the head, about 8.5 face heights tall in all: a torso (3 face heights,
        # under the photo's shoulders) and legs (4), which swing with the distance walked
        # (a stride every 3 face heights), and shoes.
        cx = bx + bw / 2
        torso_top = by + 1.35 * bh
        torso_w = 2.5 * bw
        fill(planes, self.person.clothes, cx - torso_w / 2, torso_top, torso_w, 3.0 * bh)
        walked = abs(cx - self.x0) + abs(by - self.y0)
        swing = math.sin(walked / (3.0 * bh) * 2 * math.pi) * 0.5 * bh
        leg_w, legs_top = 0.85 * bw, torso_top + 2.9 * bh
        for side, sign in ((-1, 1), (1, -1)):
            x = cx + side * 0.55 * bw - leg_w / 2 + sign * swing
            fill(planes, self.person.trousers, x, legs_top, leg_w, 4.0 * bh)
            fill(planes, (28, 26, 24), x - 0.1 * bw, legs_top + 4.0 * bh, leg_w + 0.2 * bw, 0.3 * bh)
        paste(Y, y, alpha, left, top)
        paste(U, u, alpha_half, left // 2, top // 2)
        paste(V, v, alpha_half, left // 2, top // 2)


class Noise:
    """Per-pixel noise drawn once into a bank of frames; each frame takes the next one at a
    random offset, so no two nearby frames share a pattern an encoder could predict."""

    MARGIN = 16

    def __init__(self, rng, sigma, shape, frames=10):
        h, w = shape
        m = self.MARGIN
        self.shape = shape
        self.bank = []
        padded = np.pad(sigma, ((0, m), (0, m)), mode="edge") if np.ndim(sigma) else sigma
        for _ in range(frames):
            n = rng.standard_normal((h + m, w + m), dtype=np.float32) * padded
            self.bank.append(np.clip(np.rint(n), -127, 127).astype(np.int8))
        self.next = 0

    def take(self, rng):
        dy, dx = rng.integers(0, self.MARGIN, size=2)
        frame = self.bank[self.next % len(self.bank)]
        self.next += 1
        return frame[dy:dy + self.shape[0], dx:dx + self.shape[1]]


def encoder_args(codec):
    # A camera's variable bitrate: 4 Mbit/s on average, at most 6, with a buffer of four
    # seconds, so that no frame is starved to make room for the next keyframe. (A starved
    # frame can be a few bytes, and the program stream muxer then puts it in the PES packet
    # of the frame before, without a timestamp of its own; at the end of a clip that makes
    # the clip one frame short for the simulator.)
    rate = ["-b:v", "4000k", "-maxrate", "6000k", "-bufsize", "16000k"]
    if codec == "h264":
        return ["-c:v", "libx264", "-preset", "superfast", "-profile:v", "main",
                "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0", "-bf", "0",
                *rate]
    return ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
            f"log-level=error:keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0", *rate]


class ShortClip(Exception):
    """A clip whose frames or last timestamp are not all there."""


def check_last_timestamp(path, n_frames):
    """Fails unless the clip has `n_frames` frames and the last has its own timestamp (the
    simulator takes a clip's length from its first and last timestamps)."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts",
         "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True,
    )
    pts = probe.stdout.split()
    if len(pts) != n_frames or pts[-1] == "N/A":
        raise ShortClip(
            f"{path}: {len(pts)} frames (expected {n_frames}), "
            f"last timestamp {pts[-1] if pts else None}"
        )


def make_clip(clip, background, people, out_dir):
    """Renders and encodes one clip; returns its manifest entry."""
    walks = [Walk(people[photo], start, end) for photo, start, end in clip["walks"]]
    path = os.path.join(out_dir, clip["file"])
    # The encoder's threads do not always cut the last frames the same way: now and then
    # (seen once in a few dozen runs, on a loaded machine) the muxer leaves the last frame
    # without its own timestamp. The clip is then rendered again, up to three times in all.
    attempts = 3
    for attempt in range(1, attempts + 1):
        if os.path.exists(path):
            break
        try:
            render(clip, walks, background, path)
        except ShortClip as short:
            if attempt == attempts:
                raise SystemExit(f"make-scene-clips: {short} ({attempts} attempts)")
            print(f"make-scene-clips: {short}; rendering it again", file=sys.stderr)
    return manifest_entry(clip, walks)


def render(clip, walks, background, path):
    """Renders the clip's frames and has ffmpeg encode them into `path`."""
    rng = np.random.default_rng(clip["seed"])
    n_frames = clip["seconds"] * FPS
    night_from = clip["night_from"]
    by, bu, bv = background
    # Day noise: sigma^2 = 0.8 + 0.02 Y (shot noise grows with light), chroma weaker.
    day_y = Noise(rng, np.sqrt(0.8 + 0.02 * by).astype(np.float32), by.shape)
    day_uv = Noise(rng, np.float32(1.2), bu.shape)
    # Night (infrared): grey (the blend of the channels an IR-lit sensor sees), contrast cut
    # to 45 %, lifted, a bright middle where the illuminator points; much more noise.
    night_y = None
    if night_from is not None:
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
        r2 = ((xx - WIDTH / 2) / (WIDTH / 2)) ** 2 + ((yy - HEIGHT * 0.55) / (HEIGHT / 2)) ** 2
        night_gain = (0.45 * (1.0 - 0.3 * r2)).astype(np.float32)
        night_offset = (16.5 + 14.0 * (1.0 - 0.5 * r2) - 16.0 * night_gain).astype(np.float32)
        night_sigma = np.sqrt(6.0 + 0.3 * (by * night_gain + night_offset)).astype(np.float32)
        night_y = Noise(rng, night_sigma, by.shape)
        del yy, xx, r2, night_sigma

    # ffmpeg's MPEG-PS muxer reports every keyframe larger than the decoder buffer it
    # models ("buffer underflow"), which noisy 1080p keyframes are, and muxes them all the
    # same; its other messages are kept.
    errors = tempfile.TemporaryFile()
    ffmpeg = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS),
         "-i", "-", *encoder_args(clip["codec"]), "-pix_fmt", "yuv420p",
         "-f", "svcd", path + ".tmp"],
        stdin=subprocess.PIPE,
        stderr=errors,
    )
    Y = np.empty_like(by)
    U = np.empty_like(bu)
    V = np.empty_like(bv)
    out = np.empty(WIDTH * HEIGHT * 3 // 2, np.uint8)
    out_y = out[:WIDTH * HEIGHT].reshape(HEIGHT, WIDTH)
    out_u = out[WIDTH * HEIGHT:WIDTH * HEIGHT * 5 // 4].reshape(HEIGHT // 2, WIDTH // 2)
    out_v = out[WIDTH * HEIGHT * 5 // 4:].reshape(HEIGHT // 2, WIDTH // 2)
    mean, amplitude, period, phase = clip["light"]
    try:
        for n in range(n_frames):
            t = n / FPS
            np.copyto(Y, by)
            np.copyto(U, bu)
            np.copyto(V, bv)
            for walk in walks:
                if walk.shown_at(t):
                    walk.draw((Y, U, V), t)
            night = night_from is not None and t >= night_from
            if night:
                Y *= night_gain
                Y += night_offset
                Y += night_y.take(rng)
                U.fill(128.0)
                V.fill(128.0)
            else:
                gain = mean + amplitude * math.sin(2 * math.pi * t / period + phase)
                if night_from is not None:  # dusk: the light falls towards the switch
                    gain *= 1.0 - 0.2 * t / night_from
                Y -= 16.0
                Y *= gain
                Y += 16.0 + 0.5
                Y += day_y.take(rng)
                for plane in (U, V):
                    plane -= 128.0
                    plane *= min(1.0, gain)
                    plane += 128.5
                    plane += day_uv.take(rng)
            np.clip(Y, 16, 235, out=Y)
            np.clip(U, 16, 240, out=U)
            np.clip(V, 16, 240, out=V)
            out_y[...] = Y
            out_u[...] = U
            out_v[...] = V
            ffmpeg.stdin.write(out.data)
        ffmpeg.stdin.close()
    except BrokenPipeError:
        pass
    status = ffmpeg.wait()
    errors.seek(0)
    for line in errors.read().decode(errors="replace").splitlines():
        if "buffer underflow" not in line:
            print(line, file=sys.stderr)
    if status != 0:
        raise SystemExit(f"make-scene-clips: ffmpeg failed on {path}")
    check_last_timestamp(path + ".tmp", n_frames)
    os.replace(path + ".tmp", path)


def manifest_entry(clip, walks):
    """What `scenes.json` says of a clip: its format, keyframes and every appearance."""
    n_frames = clip["seconds"] * FPS
    keyframe_times = [k * GOP / FPS for k in range(n_frames // GOP)]
    appearances = []
    for walk in walks:
        boxes, visible = [], []
        for k, t in enumerate(keyframe_times):
            if not walk.shown_at(t):
                continue
            (x, y, w, h), _ = walk.face_box(t)
            inside = x >= 0 and y >= 0 and x + w <= WIDTH and y + h <= HEIGHT
            boxes.append({"keyframe": k, "t": t, "x": round(x, 1), "y": round(y, 1),
                          "width": round(w, 1), "height": round(h, 1)})
            if inside and h >= MIN_VISIBLE_FACE:
                visible.append(k)
        appearances.append({
            "photo": walk.person.photo,
            "from_s": walk.t0,
            "to_s": walk.t1,
            "path": {
                "from": {"t": walk.t0, "x": walk.x0, "y": walk.y0, "height": walk.h0},
                "to": {"t": walk.t1, "x": walk.x1, "y": walk.y1, "height": walk.h1},
            },
            "keyframes": boxes,
            "visible_keyframes": visible,
        })
    return {
        "file": clip["file"],
        "codec": clip["codec"],
        "seconds": clip["seconds"],
        "fps": FPS,
        "width": WIDTH,
        "height": HEIGHT,
        "bitrate_kbps": 4000,
        "keyframe_every_s": GOP // FPS,
        "keyframe_times": keyframe_times,
        "night_from_s": clip["night_from"],
        "appearances": appearances,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--photos", required=True, help="the folder of the test face photos")
    parser.add_argument("--background", required=True, help="the background photo")
    parser.add_argument("--long", action="store_true", help="the ten-minute benchmark set")
    args = parser.parse_args()

    clips = long_clips() if args.long else TEST_CLIPS
    crop_x, crop_y, crop_w, crop_h = BACKGROUND_CROP
    rgb = load_rgb(
        args.background,
        (f"crop={crop_w}:{crop_h}:{crop_x}:{crop_y},scale={WIDTH}:{HEIGHT}:flags=lanczos",
         (WIDTH, HEIGHT)),
    ).astype(np.float32)
    y, u, v = rgb_to_yuv(rgb)
    background = (y.astype(np.float32), half(u).astype(np.float32), half(v).astype(np.float32))
    del rgb, y, u, v

    rng = np.random.default_rng(0)
    people = {}
    for clip in clips:
        for photo, _, _ in clip["walks"]:
            if photo not in people:
                people[photo] = Person(args.photos, photo, rng)

    entries = []
    for clip in clips:
        started = time.monotonic()
        entries.append(make_clip(clip, background, people, args.out))
        log(f"made {clip['file']} in {time.monotonic() - started:.0f} s")
    manifest = {
        "background": os.path.basename(args.background),
        "min_visible_face_px": MIN_VISIBLE_FACE,
        "clips": entries,
    }
    with open(os.path.join(args.out, "scenes.json.tmp"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    os.replace(os.path.join(args.out, "scenes.json.tmp"), os.path.join(args.out, "scenes.json"))


if __name__ == "__main__":
    main()
