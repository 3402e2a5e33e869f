"""AutoCLINT torch engine worker: ResNet18 training and prediction driven over stdio.

The TypeScript trainer (trainer/src/engines/torch.ts) spawns it at start-up, so that `import torch`
overlaps the trainer's data loading:

    python3 -u trainer/engines/torch/worker.py

and by hand, for a quick look (Debian's torch 1.13 CPU lives in /usr/bin/python3):

    echo '{"id": 1, "op": "info", "args": {}}' | /usr/bin/python3 trainer/engines/torch/worker.py

Protocol: JSON lines. The worker first prints {"id": null, "ok": true, "event": "ready", "result":
INFO} as soon as torch is imported (or {"id": null, "ok": false, "event": "ready", "error": ...}
and exits with code 3 when it cannot import torch, so the caller can try another interpreter).
Then for each request {"id", "op", "args"} one response {"id", "ok": true, "result"} or
{"id", "ok": false, "error": {"type", "message"}}. Logs go to stderr, never stdout.

Tensors never cross the pipe: the caller writes uint8 images (N, T, H, W, C) and float32 labels
(N, K) to files (under /dev/shm) and sends their paths; predictions come back as float32
(passes, N, K) files at a path the caller chose, which the caller reads and deletes.

Ops: info, probe (prediction speed at a shape), loadSplit, buildModel, train, predict, snapshot,
restore, resetOptimizer, saveWeights, augment and loss (both for tests and previews), shutdown.
"""
import json
import os
import sys
import time

T_START = time.time()
PROTOCOL = sys.stdout
sys.stdout = sys.stderr  # a stray print() from any library must never corrupt the protocol


def send(message):
    PROTOCOL.write(json.dumps(message) + "\n")
    PROTOCOL.flush()


try:
    import torch
except ImportError as e:  # the caller falls back to the next interpreter on exit code 3
    send({"id": None, "ok": False, "event": "ready",
          "error": {"type": "ImportError", "message": f"{sys.executable}: {e}"}})
    sys.exit(3)

# -----------------------------------------------------------------------------------------------
# config

DEVICE = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
CUDA = DEVICE.type == "cuda"
MEAN, STD = 0.5, 0.25                       # input normalization (DESIGN.md), after /255
PREDICT_BATCH = 1024 if CUDA else 256       # images per forward pass when predicting
AMP_DTYPE = torch.bfloat16                  # autocast dtype on CUDA (no loss scaling needed)
# Predictions on a CPU: the tricks measured faster here (trainer/src/engines/measure-torch.ts
# --inference compares them), overridable for another CPU: a comma list of "channels_last" (NHWC
# activations), "bf16" (bfloat16 autocast; the final FC and the division by tau stay fp32) and
# "fold" (BatchNorm folded into the convolutions of a frozen copy of the weights), or "none".
CPU_INFERENCE = {t for t in os.environ.get("AUTOCLINT_TORCH_INFERENCE", "channels_last,fold").split(",") if t not in ("", "none")}
if CUDA:
    torch.backends.cudnn.benchmark = True   # fixed input shapes: let cuDNN pick the fastest kernels
else:
    # torch's CPU default can be 1 thread here; use every core this process may run on
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())

INFO = {
    "device": str(DEVICE),
    "deviceName": torch.cuda.get_device_name(0) if CUDA else (os.uname().machine + " CPU, "
                                                             f"{torch.get_num_threads()} threads"),
    "version": f"torch {torch.__version__}",
    "python": sys.executable,
    "importSeconds": round(time.time() - T_START, 3),
}
send({"id": None, "ok": True, "event": "ready", "result": INFO})

# Only now the rest: none of it may delay the ready line.
import contextlib  # noqa: E402
import copy  # noqa: E402
import struct  # noqa: E402
import traceback  # noqa: E402

import numpy as np  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from augment import apply_policy, apply_subpolicy  # noqa: E402
from resnet import ResNet18, TemporalBlock  # noqa: E402


def log(*parts):
    print("[torch-worker]", *parts, file=sys.stderr, flush=True)


class WorkerError(Exception):
    """An error with a type the caller can act on (BadRequest, ShapeMismatch, WeightsError, ...)."""

    def __init__(self, type_, message):
        super().__init__(message)
        self.type = type_


# -----------------------------------------------------------------------------------------------
# state: the splits, the model and its optimizer, named snapshots

SPLITS = {}        # name -> (uint8 images (N, T, H, W, C) on DEVICE, float32 labels (N, K) or None)
MODEL = None       # the live model
OPTIMIZER = None
CONFIG = None      # the buildModel config
SNAPSHOTS = {}     # name -> (version, state_dict copy on DEVICE)
SHADOW = None      # a second model that predicts with a snapshot, so the live weights stay put
SHADOW_LOADED = None
SAMPLER = {"gen": None, "perm": None, "cursor": 0}


def autocast(predicting=False):
    if CUDA:
        return torch.autocast(device_type="cuda", dtype=AMP_DTYPE)
    if predicting and "bf16" in CPU_INFERENCE:
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def channels_last(predicting=False):
    return CUDA or (predicting and "channels_last" in CPU_INFERENCE)


def require_model():
    if MODEL is None:
        raise WorkerError("NoModel", "no model yet: call buildModel first")


def require_split(name, labelled=False):
    if name not in SPLITS:
        raise WorkerError("NotFound", f"split {name!r} is not loaded (loaded: {sorted(SPLITS) or 'none'})")
    images, labels = SPLITS[name]
    if labelled and labels is None:
        raise WorkerError("BadRequest", f"split {name!r} has no labels")
    return images, labels


# -----------------------------------------------------------------------------------------------
# data: uint8 on the device; converted, augmented and normalized one batch at a time

def read_file(path, dtype, count, what):
    try:
        data = np.fromfile(path, dtype=dtype)
    except OSError as e:
        raise WorkerError("BadRequest", f"cannot read {what} file {path}: {e}") from e
    if data.size != count:
        raise WorkerError("ShapeMismatch", f"{what} file {path} holds {data.size} values, the shape says {count}")
    return data


def prepare(batch, policy=None, gen=None, predicting=False):
    """uint8 (B, T, H, W, C) -> normalized float (B*T, C, H, W), frames folded into the batch."""
    b, t, h, w, c = batch.shape
    x = batch.reshape(b * t, h, w, c).permute(0, 3, 1, 2).float()
    if policy:
        x = apply_policy(x.contiguous(), policy, gen, group=t)
    x = (x / 255.0 - MEAN) / STD
    return x.contiguous(memory_format=torch.channels_last) if channels_last(predicting) else x.contiguous()


def next_batch(size):
    """Indices of the next training batch: shuffled epochs, a fresh permutation when one runs out."""
    n = SPLITS["train"][0].shape[0]
    parts, need = [], size
    while need > 0:
        if SAMPLER["perm"] is None or SAMPLER["cursor"] >= n:
            SAMPLER["perm"], SAMPLER["cursor"] = torch.randperm(n, generator=SAMPLER["gen"]), 0
        take = SAMPLER["perm"][SAMPLER["cursor"]:SAMPLER["cursor"] + need]
        SAMPLER["cursor"] += take.numel()
        parts.append(take)
        need -= take.numel()
    return torch.cat(parts).to(DEVICE)


def op_load_split(args):
    n, t, h, w, c = (int(v) for v in args["shape"])
    images = read_file(args["path"], np.uint8, n * t * h * w * c, "images")
    images = torch.from_numpy(images).view(n, t, h, w, c).to(DEVICE)
    labels = None
    if args.get("labelsPath"):
        raw = np.fromfile(args["labelsPath"], dtype=np.float32)
        if n == 0 or raw.size % n:
            raise WorkerError("ShapeMismatch", f"labels file holds {raw.size} values, not a multiple of {n} samples")
        labels = torch.from_numpy(raw).view(n, raw.size // n).to(DEVICE)
    SPLITS[args["name"]] = (images, labels)
    return {"samples": n, "classes": None if labels is None else labels.shape[1]}


# -----------------------------------------------------------------------------------------------
# model: our ResNet18 + channel adapter, logits / tau; pretrained weights from a file

class Classifier(nn.Module):
    """The original's network: channel adapter -> ResNet18 features -> (video: temporal block, mean
    over time) -> FC without bias -> logits / tau."""

    def __init__(self, num_classes, channels, tau, video):
        super().__init__()
        self.channels, self.tau = channels, tau
        # 1 channel is copied to 3; other counts != 3 are mapped to 3 by a 3x3 conv and BatchNorm
        self.adapter = None
        if channels not in (1, 3):
            self.adapter = nn.Sequential(nn.Conv2d(channels, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3))
        self.backbone = ResNet18(num_classes)
        self.temporal = TemporalBlock() if video else None

    def forward(self, x, clips):
        """x: (clips * frames, C, H, W), frames of a clip next to each other -> (clips, classes)."""
        if self.channels == 1:
            x = x.expand(-1, 3, -1, -1)
        elif self.adapter is not None:
            x = self.adapter(x)
        features = self.backbone.features(x).view(clips, x.shape[0] // clips, -1)  # (clips, frames, 512)
        if self.temporal is not None:
            features = self.temporal(features.transpose(1, 2)).transpose(1, 2)
        # the final FC and the division by tau in fp32 also under autocast: bf16 scores tie and blur NAUC
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.backbone.fc(features.mean(1).float()) / self.tau


SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
                      "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BF16": np.int16}


def read_safetensors(path):
    """The safetensors format by hand: u64 header length, JSON header, raw little-endian tensors."""
    try:
        from safetensors.torch import load_file
        return load_file(path)
    except ImportError:
        pass
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > 100_000_000:
            raise WorkerError("WeightsError", f"{path} is not a safetensors file (header length {length})")
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] not in SAFETENSORS_DTYPES:
            raise WorkerError("WeightsError", f"{path}: tensor {name} has unsupported dtype {meta['dtype']}")
        start, end = meta["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=SAFETENSORS_DTYPES[meta["dtype"]]).reshape(meta["shape"])
        tensor = torch.from_numpy(array.copy())
        tensors[name] = tensor.view(torch.bfloat16) if meta["dtype"] == "BF16" else tensor
    return tensors


def read_weights(path):
    if not os.path.isfile(path):
        raise WorkerError("WeightsError", f"weights file not found: {path} (check the run's model weights path)")
    try:
        if path.endswith(".safetensors"):
            state = read_safetensors(path)
        else:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except TypeError:  # torch < 1.13 has no weights_only
                state = torch.load(path, map_location="cpu")
    except WorkerError:
        raise
    except Exception as e:
        raise WorkerError("WeightsError", f"cannot read weights file {path}: {type(e).__name__}: {e}. "
                                          "Expected a torchvision ResNet18 state dict (.pth) or .safetensors") from e
    for key in ("state_dict", "model"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise WorkerError("WeightsError", f"{path} holds a {type(state).__name__}, not a state dict")
    prefixes = ("module.", "backbone.", "model.")
    return {next((k[len(p):] for p in prefixes if k.startswith(p)), k): v for k, v in state.items()}


def load_pretrained(backbone, path):
    """Loads every backbone tensor but the final FC (a new head for our classes). Returns detail."""
    state = {k: v for k, v in read_weights(path).items() if not k.startswith("fc.")}
    own = backbone.state_dict()
    # torchvision's published files predate BatchNorm's num_batches_tracked: not required
    missing = [k for k in own if not k.startswith("fc.") and k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(v.shape)} != {tuple(own[k].shape)}" for k, v in state.items()
             if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise WorkerError("WeightsError", f"{path} is not a torchvision ResNet18 state dict: "
                                          f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected "
                                          f"(e.g. {unexpected[:3]}), {len(wrong)} wrong shapes (e.g. {wrong[:3]})")
    backbone.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=False)
    return f"{len(state)} tensors from {path} (final FC skipped: new head)"


def op_build_model(args):
    global MODEL, OPTIMIZER, CONFIG, SHADOW, SHADOW_LOADED
    cfg = args["config"] if "config" in args else args
    if cfg.get("arch", "resnet18") != "resnet18":
        raise WorkerError("BadRequest", f"unknown arch {cfg['arch']!r}: this worker has resnet18")
    torch.manual_seed(int(cfg["seed"]))
    model = Classifier(int(cfg["numClasses"]), int(cfg["inputChannels"]), float(cfg["tau"]), bool(cfg.get("video")))
    nn.init.xavier_uniform_(model.backbone.fc.weight)
    init, detail = "random", "random init (no weights file given)"
    if cfg.get("weightsPath"):
        init, detail = "pretrained", load_pretrained(model.backbone, cfg["weightsPath"])
    model = model.to(DEVICE)
    if CUDA:
        model = model.to(memory_format=torch.channels_last)
    MODEL, CONFIG, SHADOW, SHADOW_LOADED = model, cfg, None, None
    OPTIMIZER = torch.optim.SGD(model.parameters(), lr=0.0, momentum=float(cfg["momentum"]),
                                nesterov=float(cfg["momentum"]) > 0, weight_decay=float(cfg["weightDecay"]))
    SAMPLER.update(gen=torch.Generator().manual_seed(int(cfg["seed"])), perm=None, cursor=0)
    SNAPSHOTS.clear()
    log(f"model: resnet18, {cfg['numClasses']} classes, {cfg['inputChannels']} channels, {detail}")
    return {"init": init, "detail": detail, "parameters": sum(p.numel() for p in model.parameters())}


def loss_fn(logits, labels, multi_label):
    """Softmax cross-entropy; multi-label: BCE whose positive and negative terms are each divided by
    their share of the batch's labels, both shares clamped to 0.1..0.9 (the original's class
    normalisation, so rare positives are not drowned by the negatives)."""
    if not multi_label:
        return F.cross_entropy(logits, labels.argmax(1))
    loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    positive = (labels == 1).to(loss.dtype)
    negative = (labels < 1).to(loss.dtype)
    total = positive.sum() + negative.sum()
    positive_share = (positive.sum() / total).clamp(0.1, 0.9)
    negative_share = (negative.sum() / total).clamp(0.1, 0.9)
    return (loss * positive / positive_share + loss * negative / negative_share).mean()


def forward(model, x, clips, predicting=False):
    """Video: frames are folded into the batch; the model turns each clip's frames into one row."""
    with autocast(predicting):
        logits = model(x, clips)
    return logits.float()


def fold_batchnorm(model):
    """An eval-only copy of the model with every BatchNorm folded into the convolution before it
    (its scale and shift become the convolution's weights and bias): half the passes over memory."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        children = dict(module.named_children())
        for name, child in children.items():  # conv1/bn1, conv2/bn2, conv/bn pairs
            if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
                conv_name = "conv" + name[2:]
                if isinstance(children.get(conv_name), (nn.Conv1d, nn.Conv2d)):
                    setattr(module, conv_name, fuse_conv_bn_eval(children[conv_name], child))
                    setattr(module, name, nn.Identity())
        if isinstance(module, nn.Sequential) and len(module) == 2 and isinstance(module[0], nn.Conv2d) \
                and isinstance(module[1], nn.BatchNorm2d):  # downsample paths and the channel adapter
            module[0], module[1] = fuse_conv_bn_eval(module[0], module[1]), nn.Identity()
    return folded


INFERENCE_COPY = {"key": None, "model": None}  # the folded / NHWC copy of the last checkpoint predicted with


def inference_model(checkpoint, rows):
    """The model a prediction runs: the checkpoint's (or the live) weights, with the CPU tricks. A
    copy of the live weights is made anew each time, so a small split (a valid pass) skips it."""
    model = model_for(checkpoint)
    if CUDA or not ({"fold", "channels_last"} & CPU_INFERENCE) or (not checkpoint and rows < 4 * PREDICT_BATCH):
        return model
    key = (checkpoint, SNAPSHOTS[checkpoint][0]) if checkpoint else None
    if key is not None and INFERENCE_COPY["key"] == key:
        return INFERENCE_COPY["model"]
    fast = fold_batchnorm(model) if "fold" in CPU_INFERENCE else copy.deepcopy(model).eval()
    if "channels_last" in CPU_INFERENCE:
        fast = fast.to(memory_format=torch.channels_last)
    INFERENCE_COPY.update(key=key, model=fast)
    return fast


# -----------------------------------------------------------------------------------------------
# train: k steps of SGD on shuffled batches of the train split

def op_train(args):
    require_model()
    images, labels = require_split("train", labelled=True)
    steps, batch_size = int(args["steps"]), int(args["batchSize"])
    lrs = args["lr"] if isinstance(args["lr"], list) else [args["lr"]] * steps  # one per step, or one for all
    if len(lrs) != steps:
        raise WorkerError("BadRequest", f"train: {len(lrs)} learning rates for {steps} steps")
    policy = args.get("policy") or None
    # a time cap: the steps end once this many seconds have passed (at least one step runs)
    max_seconds = float(args["maxSeconds"]) if args.get("maxSeconds") is not None else None
    score_out = args.get("scoreOut")  # where the scores of the chunk's last batches go, if asked
    MODEL.train()
    t0 = time.time()
    total = torch.zeros((), device=DEVICE)
    scored = []  # (indices, class scores) of each batch, from the forward pass before its step
    done = 0
    for lr in lrs:
        if done and max_seconds is not None and time.time() - t0 >= max_seconds:
            break
        for group in OPTIMIZER.param_groups:
            group["lr"] = float(lr)
        idx = next_batch(batch_size)
        x = prepare(images[idx], policy, SAMPLER["gen"])
        logits = forward(MODEL, x, idx.numel())
        loss = loss_fn(logits, labels[idx], CONFIG["multiLabel"])
        if score_out:
            # free held-out-like scores: the batch is scored by the weights before they learn from it
            with torch.no_grad():
                scored.append((idx, torch.sigmoid(logits) if CONFIG["multiLabel"] else torch.softmax(logits, 1)))
        OPTIMIZER.zero_grad(set_to_none=True)
        loss.backward()
        OPTIMIZER.step()
        total += loss.detach()
        done += 1
    mean_loss = (total / max(done, 1)).item()  # the one CPU-GPU sync point of the call
    seconds = time.time() - t0
    if not np.isfinite(mean_loss):
        raise WorkerError("Diverged", f"training loss is {mean_loss} at lr {max(lrs)}: lower the learning rate")
    images_seen = done * batch_size
    report = {"loss": mean_loss, "images": images_seen, "seconds": seconds,
              "imagesPerSecond": images_seen / seconds if seconds > 0 else 0.0}
    if score_out:
        last = scored[len(scored) // 2:]  # the later half: closest to the weights that now stand
        torch.cat([s for _, s in last]).float().cpu().numpy().tofile(score_out)
        report["scoredIndices"] = torch.cat([i for i, _ in last]).cpu().tolist()
    return report


# -----------------------------------------------------------------------------------------------
# predict: class scores for a whole split, optionally with a snapshot and augmentation passes

def model_for(checkpoint):
    global SHADOW, SHADOW_LOADED
    if not checkpoint:
        return MODEL
    if checkpoint not in SNAPSHOTS:
        raise WorkerError("NotFound", f"no snapshot named {checkpoint!r} (have: {sorted(SNAPSHOTS) or 'none'})")
    version, state = SNAPSHOTS[checkpoint]
    if SHADOW is None:
        SHADOW = copy.deepcopy(MODEL)
    if SHADOW_LOADED != (checkpoint, version):
        SHADOW.load_state_dict(state)
        SHADOW_LOADED = (checkpoint, version)
    return SHADOW


def op_predict(args):
    require_model()
    images, _ = require_split(args["split"])
    model = inference_model(args.get("checkpoint"), images.shape[0])
    policy, passes = args.get("policy") or None, int(args.get("passes") or 1)
    seed, flip = int(args.get("seed") or 0), bool(args.get("flip"))
    n = images.shape[0]
    t0 = time.time()
    model.eval()
    scores = torch.empty(passes, n, CONFIG["numClasses"], dtype=torch.float32, device=DEVICE)
    with torch.inference_mode():
        for p in range(passes):
            gen = torch.Generator().manual_seed(seed + p)
            for start in range(0, n, PREDICT_BATCH):
                batch = images[start:start + PREDICT_BATCH]
                x = prepare(batch, policy, gen, predicting=True)
                logits = forward(model, x, batch.shape[0], predicting=True)
                if flip:  # test-time augmentation: the mean of the image's and its mirror's logits
                    logits = (logits + forward(model, x.flip(3), batch.shape[0], predicting=True)) / 2
                probs = torch.sigmoid(logits) if CONFIG["multiLabel"] else torch.softmax(logits, 1)
                scores[p, start:start + batch.shape[0]] = probs
    scores.cpu().numpy().tofile(args["out"])
    return {"path": args["out"], "passes": passes, "rows": n, "classes": CONFIG["numClasses"],
            "seconds": time.time() - t0}


def op_probe(args):
    """Prediction speed at a sample shape, before any data or model: a throwaway ResNet18 of the
    same kind predicts random pixels, once to warm up, then timed. The trainer picks its input
    size from this (a test prediction must cost a small share of the budget)."""
    t, h, w, c = (int(v) for v in args["shape"])
    min_seconds = float(args.get("minSeconds") or 0.2)
    model = Classifier(int(args.get("classes") or 10), c, 1.0, t > 1).to(DEVICE).eval()
    if not CUDA and "fold" in CPU_INFERENCE:
        model = fold_batchnorm(model)
    if channels_last(predicting=True):
        model = model.to(memory_format=torch.channels_last)
    clips = max(1, 64 // t)
    batch = torch.randint(0, 256, (clips, t, h, w, c), dtype=torch.uint8, device=DEVICE)
    with torch.inference_mode():
        forward(model, prepare(batch, predicting=True), clips, predicting=True)  # warm-up: allocator, kernels
        if CUDA:
            torch.cuda.synchronize()
        t0, done = time.time(), 0
        while done < 3 or time.time() - t0 < min_seconds:
            forward(model, prepare(batch, predicting=True), clips, predicting=True)
            done += 1
        if CUDA:
            torch.cuda.synchronize()
        seconds = time.time() - t0
    return {"samplesPerSecond": clips * done / seconds, "seconds": seconds}


# -----------------------------------------------------------------------------------------------
# snapshots (in memory, on the device), weights export, one-off augmentation

def op_snapshot(args):
    require_model()
    version = SNAPSHOTS.get(args["name"], (0, None))[0] + 1
    SNAPSHOTS[args["name"]] = (version, {k: v.detach().clone() for k, v in MODEL.state_dict().items()})
    return {}


def op_restore(args):
    require_model()
    if args["name"] not in SNAPSHOTS:
        raise WorkerError("NotFound", f"no snapshot named {args['name']!r} (have: {sorted(SNAPSHOTS) or 'none'})")
    MODEL.load_state_dict(SNAPSHOTS[args["name"]][1])
    OPTIMIZER.state.clear()  # momentum belongs to the abandoned trajectory
    return {}


def op_reset_optimizer(args):
    """A fresh optimizer, as the original builds one for the retraining after the policy search."""
    require_model()
    OPTIMIZER.state.clear()  # SGD's only state is the momentum buffers
    return {}


def op_save_weights(args):
    """The backbone as a torchvision-format ResNet18 state dict: .safetensors or torch.save (.pth)."""
    require_model()
    state = {k: v.detach().cpu().contiguous() for k, v in MODEL.backbone.state_dict().items()}
    path = args["path"]
    if not path.endswith(".safetensors"):
        torch.save(state, path)
        return {"path": path, "tensors": len(state)}
    names = {np.dtype(v): k for k, v in SAFETENSORS_DTYPES.items() if k != "BF16"}
    header, blobs, offset = {}, [], 0
    for k, v in state.items():
        blob = v.numpy().tobytes()
        header[k] = {"dtype": names[v.numpy().dtype], "shape": list(v.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
    return {"path": path, "tensors": len(state)}


def op_loss(args):
    """The training loss of given logits (N, K) against labels (N, K): for tests."""
    n, k = int(args["rows"]), int(args["classes"])
    logits = torch.from_numpy(read_file(args["logitsPath"], np.float32, n * k, "logits")).view(n, k)
    labels = torch.from_numpy(read_file(args["labelsPath"], np.float32, n * k, "labels")).view(n, k)
    return {"loss": loss_fn(logits, labels, bool(args["multiLabel"])).item()}


def op_augment(args):
    """One sub-policy with its probabilities on uint8 (N, T, H, W, C) images: for tests and previews."""
    n, t, h, w, c = (int(v) for v in args["shape"])
    images = torch.from_numpy(read_file(args["path"], np.uint8, n * t * h * w * c, "images")).to(DEVICE)
    x = images.view(n * t, h, w, c).permute(0, 3, 1, 2).float().contiguous()
    x = apply_subpolicy(x, args["subPolicy"], torch.Generator().manual_seed(int(args.get("seed") or 0)), group=t)
    out = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    out.cpu().numpy().tofile(args["out"])
    return {"path": args["out"]}


# -----------------------------------------------------------------------------------------------
# the request loop

OPS = {
    "info": lambda args: INFO, "loadSplit": op_load_split, "buildModel": op_build_model,
    "train": op_train, "predict": op_predict, "snapshot": op_snapshot, "restore": op_restore,
    "resetOptimizer": op_reset_optimizer, "saveWeights": op_save_weights, "augment": op_augment,
    "loss": op_loss, "probe": op_probe,
}


def describe(op, args, e):
    """An exception -> {type, message}, with advice where there is some."""
    if isinstance(e, WorkerError):
        return {"type": e.type, "message": str(e)}
    text = str(e)
    if "out of memory" in text.lower() or type(e).__name__ == "OutOfMemoryError":
        if CUDA:
            torch.cuda.empty_cache()
        return {"type": "OutOfMemory",
                "message": f"{DEVICE} out of memory in {op} (batchSize {args.get('batchSize', PREDICT_BATCH)}): "
                           f"lower the batch size or the input size. {text.splitlines()[0] if text else ''}"}
    if isinstance(e, ValueError):
        return {"type": "BadRequest", "message": f"{op}: {text}"}
    if isinstance(e, KeyError):
        return {"type": "BadRequest", "message": f"{op}: missing argument {e}"}
    if isinstance(e, RuntimeError) and ("shape" in text or "size" in text):
        return {"type": "ShapeMismatch", "message": f"{op}: {text.splitlines()[0]}"}
    return {"type": type(e).__name__, "message": f"{op}: {text}"}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        request_id, op, args = None, "?", {}
        try:
            request = json.loads(line)
            request_id, op, args = request.get("id"), request.get("op"), request.get("args") or {}
            if op == "shutdown":
                send({"id": request_id, "ok": True, "result": {}})
                return
            if op not in OPS:
                raise WorkerError("BadRequest", f"unknown op {op!r}; known: {', '.join(OPS)}, shutdown")
            send({"id": request_id, "ok": True, "result": OPS[op](args)})
        except Exception as e:  # one failed request never takes the worker down
            if not isinstance(e, WorkerError):
                log(f"{op} failed:\n{traceback.format_exc()}")
            send({"id": request_id, "ok": False, "error": describe(op, args, e)})


if __name__ == "__main__":
    main()
