"""AutoAugment operations, applied per sample on a batch of images already on the device.

Images here are float32 (B, C, H, W) tensors holding integer pixel values 0..255, so every op can
follow PIL's integer semantics (the reference AutoAugment / Fast AutoAugment code is PIL-based):
geometric ops use PIL's affine NEAREST rule (sample the source at floor(M @ (x + .5, y + .5)),
black outside), colour ops PIL's lookup tables and `Image.blend` truncation. No PIL, no per-image
Python loop: one op is a handful of batched tensor calls on the samples that drew it.

Video clips are folded into the batch (frames next to each other); `group` = frames per clip makes
every random draw per clip, so all frames of a clip get the same augmentation.
"""
import math

import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------
# Levels to magnitudes, by AutoAugment's rules as the original AutoCLINT applies them (its
# `autoaug2arsaug`): a level l in 0..9 is on a scale of 10, float(l) = l * maxval / 10 and
# int(l) = int(float(l)). Each value then passes, as in the original, through a fraction of the op's
# range and back (value - low) / (high - low) * (high - low) + low: kept, so magnitudes match it to
# the last bit (PIL truncates, and a 1e-16 can move a pixel). Signed ops flip sign with p = 0.5.
# Ops absent here take no magnitude.

def _float(level, maxval):
    return float(level) * maxval / 10


MAGNITUDES = {  # op: (level -> value, the op's range in the original, signed)
    "ShearX": (lambda l: _float(l, 0.3), (-0.3, 0.3), True),              # shear factor
    "ShearY": (lambda l: _float(l, 0.3), (-0.3, 0.3), True),
    "TranslateX": (lambda l: float(l), (0.0, 10.0), True),                # pixels (absolute)
    "TranslateY": (lambda l: float(l), (0.0, 10.0), True),
    "Rotate": (lambda l: int(_float(l, 30)), (-30.0, 30.0), True),        # degrees, counter-clockwise
    "Solarize": (lambda l: 256 - int(_float(l, 256)), (0.0, 256.0), False),  # pixels >= it are inverted
    "Posterize": (lambda l: 4 - int(_float(l, 4)), (0.0, 4.0), False),     # bits kept
    "Contrast": (lambda l: _float(l, 1.8) + 0.1, (0.1, 1.9), False),       # PIL ImageEnhance factors
    "Color": (lambda l: _float(l, 1.8) + 0.1, (0.1, 1.9), False),          # (1 = unchanged)
    "Brightness": (lambda l: _float(l, 1.8) + 0.1, (0.1, 1.9), False),
    "Sharpness": (lambda l: _float(l, 1.8) + 0.1, (0.1, 1.9), False),
    "Cutout": (lambda l: int(_float(l, 20)), (0.0, 20.0), False),          # square side, pixels (absolute)
}


def magnitude_value(op, level):
    rule, (low, high), _ = MAGNITUDES[op]
    return float(rule(level) - low) / (high - low) * (high - low) + low


# ----------------------------------------------------------------------------------------------
# Helpers

def _per_sample(v, x):
    """(B,) values -> broadcastable against (B, C, H, W)."""
    return v.to(device=x.device, dtype=torch.float64).view(-1, 1, 1, 1)


def _gray(x):
    """PIL's convert("L"): ITU-R 601-2 luma in 16-bit fixed point; other channel counts: rounded mean."""
    c = x.shape[1]
    if c == 1:
        return x
    if c == 3:
        r, g, b = x[:, 0:1].double(), x[:, 1:2].double(), x[:, 2:3].double()
        return torch.floor((r * 19595 + g * 38470 + b * 7471 + 32768) / 65536).float()
    return torch.floor(x.double().mean(1, keepdim=True) + 0.5).float()


def _blend(degenerate, x, factor):
    """PIL Image.blend(degenerate, x, factor): truncated; when extrapolating, via float32 and clipped."""
    a = _per_sample(factor, x)
    out = degenerate.double() + a * (x.double() - degenerate.double())
    extrapolating = (a < 0) | (a > 1)
    out = torch.where(extrapolating, out.float().double(), out)
    return torch.floor(out.clamp(0, 255)).float()


def _lut(x, lut):
    """Per (sample, channel) lookup tables lut (B, C, 256) applied to x."""
    b, c, h, w = x.shape
    idx = x.long().view(b, c, h * w)
    return lut.gather(2, idx).view(b, c, h, w).to(x.dtype)


def _affine(x, m):
    """PIL Image.transform(AFFINE, NEAREST): out(x, y) = in(floor(a X + b Y + c), floor(d X + e Y + f))
    with X = x + .5, Y = y + .5, black outside. m: (B, 6) float64."""
    b, c, h, w = x.shape
    m = m.to(x.device)
    ys, xs = torch.meshgrid(
        torch.arange(h, device=x.device, dtype=torch.float64) + 0.5,
        torch.arange(w, device=x.device, dtype=torch.float64) + 0.5, indexing="ij")
    xs, ys = xs.reshape(1, -1), ys.reshape(1, -1)
    xin = torch.floor(m[:, 0:1] * xs + m[:, 1:2] * ys + m[:, 2:3]).long()
    yin = torch.floor(m[:, 3:4] * xs + m[:, 4:5] * ys + m[:, 5:6]).long()
    inside = (xin >= 0) & (xin < w) & (yin >= 0) & (yin < h)
    flat = (yin.clamp(0, h - 1) * w + xin.clamp(0, w - 1)).unsqueeze(1).expand(b, c, h * w)
    out = x.reshape(b, c, h * w).gather(2, flat) * inside.unsqueeze(1)
    return out.view(b, c, h, w)


def _matrix(*rows):
    return torch.stack([torch.as_tensor(r, dtype=torch.float64) for r in rows], 1)


# ----------------------------------------------------------------------------------------------
# The operations: fn(x, v, u) with x (B, C, H, W) float 0..255, v (B,) float64 values from the
# magnitude table (None for ops without one), u (B, 2) uniforms for ops that need randomness.

def shear_x(x, v, u):
    one, zero = torch.ones_like(v), torch.zeros_like(v)
    return _affine(x, _matrix(one, v, zero, zero, one, zero))


def shear_y(x, v, u):
    one, zero = torch.ones_like(v), torch.zeros_like(v)
    return _affine(x, _matrix(one, zero, zero, v, one, zero))


def translate_x(x, v, u):
    one, zero = torch.ones_like(v), torch.zeros_like(v)
    return _affine(x, _matrix(one, zero, v, zero, one, zero))


def translate_y(x, v, u):
    one, zero = torch.ones_like(v), torch.zeros_like(v)
    return _affine(x, _matrix(one, zero, zero, zero, one, v))


def rotate(x, v, u):
    """PIL Image.rotate(v): counter-clockwise about the image centre (w/2, h/2). The matrix is built
    exactly as PIL builds it (Python floats, cos/sin rounded to 15 places): ties fall the same way."""
    cx, cy = x.shape[3] / 2.0, x.shape[2] / 2.0
    rows = []
    for degrees in v.tolist():
        a = -math.radians(degrees % 360.0)
        cos, sin = round(math.cos(a), 15), round(math.sin(a), 15)
        rows.append([cos, sin, cos * -cx + sin * -cy + cx, -sin, cos, -sin * -cx + cos * -cy + cy])
    return _affine(x, torch.tensor(rows, dtype=torch.float64))


def auto_contrast(x, v, u):
    """PIL ImageOps.autocontrast: per channel, stretch [min, max] to [0, 255] (float LUT, truncated)."""
    lo = x.amin((2, 3), keepdim=True).double().squeeze(-1)   # (B, C, 1)
    hi = x.amax((2, 3), keepdim=True).double().squeeze(-1)
    ramp = torch.arange(256, device=x.device, dtype=torch.float64).view(1, 1, 256)
    # tensor / tensor: `scalar / tensor` goes through a reciprocal and can differ from PIL in the last bit
    scale = torch.full_like(hi, 255.0) / torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    lut = torch.trunc(ramp * scale + (-lo * scale)).clamp(0, 255)
    lut = torch.where(hi > lo, lut, ramp.expand_as(lut))
    return _lut(x, lut)


def invert(x, v, u):
    return 255.0 - x


def equalize(x, v, u):
    """PIL ImageOps.equalize, per channel: lut[i] = (step // 2 + sum(h[:i])) // step with
    step = (N - count of the last non-empty bin) // 255; identity when step is 0."""
    b, c, h, w = x.shape
    idx = x.long().view(b * c, h * w)
    hist = torch.zeros(b * c, 256, device=x.device, dtype=torch.long).scatter_add_(
        1, idx, torch.ones_like(idx))
    bins = torch.arange(256, device=x.device)
    last = torch.where(hist > 0, bins, torch.zeros_like(bins)).argmax(1, keepdim=True)
    step = (hist.sum(1, keepdim=True) - hist.gather(1, last)) // 255
    before = torch.cumsum(hist, 1) - hist
    lut = ((step // 2 + before) // step.clamp(min=1)).clamp(0, 255)
    lut = torch.where(step > 0, lut, bins.expand_as(lut))
    return _lut(x, lut.view(b, c, 256).to(x.dtype))


def solarize(x, v, u):
    return torch.where(x < _per_sample(v, x).float(), x, 255.0 - x)


def posterize(x, v, u):
    bits = torch.floor(v).clamp(0, 8)
    div = _per_sample(2.0 ** (8 - bits), x).float()
    return torch.floor(x / div) * div


def contrast(x, v, u):
    """PIL ImageEnhance.Contrast: blend with the image's mean grey level, int(mean + .5)."""
    mean = torch.floor(_gray(x).double().mean((1, 2, 3), keepdim=True) + 0.5).float()
    return _blend(mean.expand_as(x), x, v)


def color(x, v, u):
    """PIL ImageEnhance.Color: blend with the image's own greyscale."""
    return _blend(_gray(x).expand_as(x), x, v)


def brightness(x, v, u):
    return _blend(torch.zeros_like(x), x, v)


def sharpness(x, v, u):
    """PIL ImageEnhance.Sharpness: blend with ImageFilter.SMOOTH (kernel 1 1 1 / 1 5 1 / 1 1 1, /13,
    rounded), whose one-pixel border is the image itself."""
    b, c, h, w = x.shape
    kernel = torch.ones(3, 3, device=x.device, dtype=torch.float32)
    kernel[1, 1] = 5.0
    weighted = F.conv2d(x, kernel.expand(c, 1, 3, 3), groups=c)   # integer sums: exact in float32
    smooth = torch.div(weighted + 6.0, 13.0, rounding_mode="floor")  # = round(sum / 13), never a tie
    degenerate = x.clone()
    if h > 2 and w > 2:
        degenerate[:, :, 1:-1, 1:-1] = smooth
    return _blend(degenerate, x, v)


CUTOUT_RGB = (125, 123, 114)  # the original's fill colour
CUTOUT_GREY = 123            # its luma (PIL's convert("L")), for other channel counts


def cutout(x, v, u):
    """The original's CutoutAbs: a square of side v pixels about a uniformly drawn point, corner
    x0 = int(max(0, point - v / 2)), filled as PIL's rectangle fills it, both ends included (so
    v + 1 pixels a side), clipped at the image's edges."""
    b, c, h, w = x.shape
    side = v.to(x.device).view(-1, 1, 1)
    u = u.to(device=x.device, dtype=torch.float64)
    x0 = torch.floor(((u[:, 0] * w).view(-1, 1, 1) - side / 2).clamp(min=0))
    y0 = torch.floor(((u[:, 1] * h).view(-1, 1, 1) - side / 2).clamp(min=0))
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    hole = ((xs >= x0) & (xs <= x0 + side) & (ys >= y0) & (ys <= y0 + side)).unsqueeze(1)
    fill = torch.tensor(CUTOUT_RGB if c == 3 else (CUTOUT_GREY,) * c, device=x.device, dtype=x.dtype)
    return torch.where(hole, fill.view(1, c, 1, 1), x)


def flip_lr(x, v, u):
    return x.flip(3)


OPS = {
    "ShearX": shear_x, "ShearY": shear_y, "TranslateX": translate_x, "TranslateY": translate_y,
    "Rotate": rotate, "AutoContrast": auto_contrast, "Invert": invert, "Equalize": equalize,
    "Solarize": solarize, "Posterize": posterize, "Contrast": contrast, "Color": color,
    "Brightness": brightness, "Sharpness": sharpness, "Cutout": cutout, "FlipLR": flip_lr,
}


# ----------------------------------------------------------------------------------------------
# Policies: a sub-policy is [(op, probability, magnitude), ...] applied in order; a policy is a
# list of sub-policies, one drawn uniformly per sample (per clip). Draws come from a CPU generator,
# so a seed gives the same augmentation on every device.

def _expand(idx, group):
    """Clip indices -> indices of their frames."""
    if group == 1:
        return idx
    return (idx.view(-1, 1) * group + torch.arange(group).view(1, -1)).reshape(-1)


def apply_subpolicy(x, steps, gen, group=1):
    n = x.shape[0] // group
    for op, probability, magnitude in steps:
        if op not in OPS:
            raise ValueError(f"unknown augmentation op {op!r}; known: {', '.join(OPS)}")
        fire = torch.rand(n, generator=gen) < float(probability)
        sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).double()
        u = torch.rand(n, 2, generator=gen, dtype=torch.float64)
        chosen = fire.nonzero().view(-1)
        if chosen.numel() == 0:
            continue
        v = None
        if op in MAGNITUDES:
            v = torch.full((n,), magnitude_value(op, magnitude), dtype=torch.float64)
            if MAGNITUDES[op][2]:
                v = v * sign
            v = v[chosen].repeat_interleave(group)
        frames = _expand(chosen, group).to(x.device)
        x[frames] = OPS[op](x[frames], v, u[chosen].repeat_interleave(group, 0))
    return x


def apply_policy(x, policy, gen, group=1):
    if not policy:
        return x
    n = x.shape[0] // group
    choice = torch.randint(len(policy), (n,), generator=gen)
    for s, steps in enumerate(policy):
        chosen = (choice == s).nonzero().view(-1)
        if chosen.numel() == 0:
            continue
        frames = _expand(chosen, group).to(x.device)
        x[frames] = apply_subpolicy(x[frames], steps, gen, group)
    return x
