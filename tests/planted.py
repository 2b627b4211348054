"""The reference solutions of the coding exercises, as the master notebooks write them; one planted bug per
exercise (a source edit of its solution); planted edge bugs, which only an edge case finds (the old single hidden
input passed them for most students); and correct solutions written in another style (float64 for float32, a
loop for a gather, a batch for a loop): what the exercise and grading tests run."""

from __future__ import annotations

from functools import cache
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SETUP = ("import numpy as np\nimport tensorflow as tf\n"
         "from labkit import attacks, attribution, images, masks, models, modifiers\n")

# exercise -> (solution text, its buggy replacement): the mistakes students make
BUGS = {
    "1.1": ("output[i][t] for i, t in enumerate(targets)", "output[i][targets[0]] for i, t in enumerate(targets)"),
    "1.2": ("return tf.cast(dy > 0, dy.dtype) * dy",
            "return tf.cast(dy > 0, dy.dtype) * tf.cast(x > 0, dy.dtype) * dy"),  # the guided rule
    "1.3": ("return np.maximum(np.sum(activations * weights, axis=-1), 0)",
            "return np.sum(activations * weights, axis=-1)"),  # no ReLU
    "2.1": ("return np.abs(tape.gradient(scores, x).numpy()).max(axis=-1)",
            "return tape.gradient(scores, x).numpy().max(axis=-1)"),  # no absolute value
    "2.2": ("x + lr * g / tf.norm(g) * scale", "x + lr * g * scale"),  # no normalisation
    "2.3": ("z = np.roll((zj + lr * g / tf.norm(g)).numpy()[0], (-shift[0], -shift[1]), axis=(0, 1))",
            "z = (zj + lr * g / tf.norm(g)).numpy()[0]"),  # never rolled back
    "3.1": ("np.trunc(np.random.standard_normal([size, size, 3]) * 255).astype(np.int64) % 256",
            "np.clip(np.random.standard_normal([size, size, 3]) * 255, 0, 255)"),  # clipped, not wrapped
    "3.2": ('"std": c.std(ddof=1)', '"std": c.std()'),  # the population std, not describe()'s
    "3.3": ("+= base - float(", "+= -base + 2 * base - 2 * base + float("),  # the sign flipped
    "4.1": ("m[i, edges[i]:edges[i + 1]] = 1", "m[i, edges[i]:edges[i + 1] + 1] = 1"),  # overlapping stripes
    "4.2": ("rows = max(1, round(np.sqrt(k)))", "rows = 1"),  # one row of long rectangles
    "4.3": ("return float(tf.reduce_mean(ce))", "return float(tf.reduce_mean(tf.nn.softmax(ce)))"),
}


# exercise -> [(what the bug is, [(solution text, its buggy replacement), ...])]: the edges students miss
EDGE_BUGS = {
    "1.1": [("a 0-d score for one image", [("return [output[i][t] for i, t in enumerate(targets)]",
                                            "return np.squeeze([output[i][t] for i, t in enumerate(targets)])")])],
    "1.2": [("dense layers left unpatched", [("for layer in modifiers.relu_layers(model):",
                                              "for layer in [la for la in modifiers.relu_layers(model) "
                                              "if type(la).__name__ != 'Dense']:")])],
    "1.3": [("assumes a square layer", [("weights = np.mean(gradients, axis=(1, 2), keepdims=True)",
                                         "weights = gradients.reshape(len(gradients), gradients.shape[1] ** 2, -1)"
                                         ".mean(axis=1)[:, None, None, :]")])],
    "2.1": [("a squeezed batch of one", [("return np.abs(tape.gradient(scores, x).numpy()).max(axis=-1)",
                                          "return np.abs(tape.gradient(scores, x).numpy()).max(axis=-1).squeeze()")])],
    "2.2": [("one step even when the target is already predicted", [(
        "        if int(tf.argmax(out[0])) == target:\n            return x.numpy()[0], step\n"
        "        g = tape.gradient(score, x) * scale  # the gradient in z\n"
        "        x.assign(tf.clip_by_value(x + lr * g / tf.norm(g) * scale, 0.0, 255.0))\n",
        "        g = tape.gradient(score, x) * scale  # the gradient in z\n"
        "        x.assign(tf.clip_by_value(x + lr * g / tf.norm(g) * scale, 0.0, 255.0))\n"
        "        if int(tf.argmax(logits(x, training=False)[0])) == target:\n"
        "            return x.numpy()[0], step + 1\n")])],
    "2.3": [("roll axes swapped", [("np.roll(z, shift, axis=(0, 1))", "np.roll(z, shift, axis=(1, 0))"),
                                   ("(-shift[0], -shift[1]), axis=(0, 1))", "(-shift[0], -shift[1]), axis=(1, 0))")]),
            ("a bug in the blur branch only", [("attacks.blur(z[None], 0.5)", "attacks.blur(z[None], 1.0)")])],
    "3.1": [("seed 0 taken as no seed", [("np.random.seed(seed)", "np.random.seed(seed or None)")])],
    "3.2": [("quartiles without interpolation", [("q = np.quantile(c, [0.25, 0.5, 0.75])",
                                                  "q = np.quantile(c, [0.25, 0.5, 0.75], method='lower')")])],
    "3.3": [("the last window, cut by the border, left out", [
        ("tops = [r * stride for r in range(-(-(h - window) // stride) + 1)]",
         "tops = list(range(0, h - window + 1, stride))"),
        ("lefts = [c * stride for c in range(-(-(w - window) // stride) + 1)]",
         "lefts = list(range(0, w - window + 1, stride))")]),
            ("windows summed, not averaged", [("return np.where(count > 0, total / np.maximum(count, 1), 0.0)",
                                               "return total")])],
    "4.1": [("the last stripe takes the rows left over", [
        ("edges = np.rint(np.linspace(0, size, k + 1)).astype(int)",
         "edges = np.minimum(np.arange(k + 1) * (size // k), size)\n    edges[-1] = size")])],
    "4.2": [("rows rounded down (three parts in one row)", [("rows = max(1, round(np.sqrt(k)))",
                                                             "rows = max(1, int(np.sqrt(k)))")])],
    "4.3": [("whole rows hidden (stripes assumed)", [
        ("(1 - np.asarray(masks, np.float32))[..., None]",
         "(1 - np.asarray(masks, np.float32).max(axis=2, keepdims=True))[..., None]")])],
}

# exercise -> a correct solution in another style (float64 where the reference has float32, another op order)
STYLES = {
    "1.1": '''def score_function(targets):
    def score(output):
        return tf.gather(output, list(targets), axis=1, batch_dims=1)

    return score''',
    "1.2": '''import keras
from tf_keras_vis.utils.model_modifiers import ModelModifier


class RectifiedBackpropagation(ModelModifier):
    def __call__(self, model):
        for layer in model.layers:
            if getattr(layer, "activation", None) in (keras.activations.relu, keras.activations.relu6):
                layer.activation = self._rectified(layer.activation)

    @staticmethod
    def _rectified(activation):
        @tf.custom_gradient
        def forward(x):
            return activation(x), lambda dy: tf.nn.relu(dy)

        return forward''',
    "1.3": '''def gradcam_from(activations, gradients):
    g = np.asarray(gradients, np.float64)
    cam = np.einsum("nhwc,nc->nhw", np.asarray(activations, np.float64), g.mean(axis=(1, 2)))
    return np.clip(cam, 0, None)''',
    "2.1": '''def saliency_map(model, x, targets):
    net = models.logits_model(model)
    maps = []
    for image, t in zip(np.asarray(x, np.float32), targets):
        v = tf.Variable(image[None])
        with tf.GradientTape() as tape:
            score = tf.reduce_sum(net(v, training=False) * tf.one_hot([int(t)], net.output_shape[-1]))
        maps.append(np.abs(tape.gradient(score, v).numpy()[0].astype(np.float64)).max(axis=-1))
    return np.stack(maps)''',
    "2.2": '''def make_fooling_image(model, x, target, lr=1.0, max_iterations=100):
    net = models.logits_model(model)
    scale = 255.0 * np.asarray(models.IMAGENET_STD, np.float64)
    img, steps = np.asarray(x, np.float64), 0
    while steps < max_iterations:
        t = tf.convert_to_tensor(img[None].astype(np.float32))
        with tf.GradientTape() as tape:
            tape.watch(t)
            logits = net(t, training=False)
            score = logits[0, target]
        if int(np.argmax(logits.numpy()[0])) == target:
            break
        g = tape.gradient(score, t).numpy()[0].astype(np.float64) * scale
        img = np.clip(img + lr * g / np.linalg.norm(g) * scale, 0, 255)
        steps += 1
    return img, steps''',
    "2.3": '''def visualise_step(model, z, target, shift, l2_reg, lr, blur):
    net = models.logits_model(model)
    mean, std = np.asarray(models.IMAGENET_MEAN, np.float64), np.asarray(models.IMAGENET_STD, np.float64)
    dy, dx = shift
    zj = tf.Variable(tf.roll(tf.constant(z, tf.float32), (dy, dx), axis=(0, 1))[None])
    with tf.GradientTape() as tape:
        pixels = (zj * std.astype(np.float32) + mean.astype(np.float32)) * 255.0
        objective = net(pixels, training=False)[0, target] - l2_reg * tf.reduce_sum(zj ** 2)
    g = tape.gradient(objective, zj).numpy()[0].astype(np.float64)
    new = np.roll(zj.numpy()[0].astype(np.float64) + lr * g / np.sqrt((g ** 2).sum()), (-dy, -dx), axis=(0, 1))
    new = np.clip(new, -mean / std, (1 - mean) / std)
    return attacks.blur(new[None].astype(np.float32), 0.5)[0] if blur else new''',
    "3.1": '''def seed_noise(n, size=256, seed=0):
    np.random.seed(seed)
    draws = [np.random.standard_normal([size, size, 3]) for _ in range(n)]
    return np.stack([(d * 255).astype(np.int64).astype(np.uint8) for d in draws])''',
    "3.2": '''import pandas as pd


def confidence_stats(confidences):
    described = pd.Series(np.asarray(confidences, np.float32)).describe()
    return {k: float(v) for k, v in described.items()}''',
    "3.3": '''def occlusion_map(model, x, target, window, stride, baseline=0.0):
    net = models.logits_model(model)
    x = np.asarray(x, np.float32)
    h, w = x.shape[:2]
    boxes = [(t, l) for t in range(0, h - window + stride, stride) for l in range(0, w - window + stride, stride)]
    batch = np.repeat(x[None], len(boxes) + 1, axis=0)
    for b, (t, l) in enumerate(boxes, 1):
        batch[b, t:t + window, l:l + window] = baseline
    scores = net(batch, training=False).numpy()[:, target].astype(np.float64)
    total, count = np.zeros((h, w)), np.zeros((h, w))
    for (t, l), s in zip(boxes, scores[1:]):
        total[t:t + window, l:l + window] += scores[0] - s
        count[t:t + window, l:l + window] += 1
    return total / np.maximum(count, 1)''',
    "4.1": '''def stripe_masks(k, size):
    parts = np.array_split(np.arange(size), k)
    return np.stack([np.isin(np.arange(size), rows)[:, None] * np.ones(size) for rows in parts]).astype(int)''',
    "4.2": '''import math


def square_masks(k, size):
    rows = max(1, int(math.floor(math.sqrt(k) + 0.5)))
    per_row = [len(part) for part in np.array_split(np.arange(k), rows)]  # longer rows first
    out = np.zeros((k, size, size), dtype=np.uint8)
    i = 0
    for ys, n in zip(np.array_split(np.arange(size), rows), per_row):
        for xs in np.array_split(np.arange(size), n):
            out[i, ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1] = 1
            i += 1
    return out''',
    "4.3": '''def masked_copies_loss(model, image, masks, targets):
    net = models.logits_model(model)
    side = models.input_size(model)
    hidden = np.asarray(masks, np.float64)[..., None]
    copies = tf.image.resize(np.asarray(image, np.float64)[None] * (1.0 - hidden), (side, side))
    z = np.asarray(net(tf.cast(copies, tf.float32), training=False), np.float64)
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return -np.mean(log_p[np.arange(len(z)), np.asarray(targets)])''',
}


@cache
def solution_cells(lab_name: str) -> dict[str, str]:
    """Per coding exercise of a lab, the source of its solution cells in the master notebook."""
    from labkit import assign

    master = assign.parse_master(NOTEBOOKS / f"{lab_name}.ipynb")
    out: dict[str, list[str]] = {}
    for cell in master.solution.cells:
        meta = cell.metadata.get("labkit", {})
        if meta.get("kind") == "solution" and cell.cell_type == "code":
            out.setdefault(meta["exercise"], []).append(cell.source)
    return {name: "\n\n".join(sources) for name, sources in out.items()}


def source(name: str, bug: bool | str = False) -> str:
    """Exercise ``name``'s reference solution; with ``bug=True`` its planted bug, with ``bug="edge:i"`` its i-th
    edge bug, with ``bug="style"`` the correct solution in another style."""
    from labkit import labs

    if bug == "style":
        return STYLES[name]
    code = solution_cells(labs.get(labs.exercise(name).lab_number).name)[name]
    edits = [BUGS[name]] if bug is True else EDGE_BUGS[name][int(bug.split(":")[1])][1] if bug else []
    for old, new in edits:
        assert code.count(old) == 1, f"the planted bug of {name} no longer applies: {old!r} is not in its solution"
        code = code.replace(old, new)
    return code


def functions(name: str, bug: bool | str = False) -> dict:
    """The functions exercise ``name`` defines, from its reference solution (or a bug of it, or another style)."""
    from labkit import labs

    namespace: dict = {}
    exec(SETUP + source(name, bug), namespace)  # noqa: S102 - the repository's own notebook code
    return {n: namespace[n] for n in labs.exercise(name).defines}
