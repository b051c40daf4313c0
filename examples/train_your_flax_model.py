# %% [markdown]
# # Your own flax model, trained with l2l's optimizers
#
# A flax MLP on Fashion-MNIST, trained with `flax.training.train_state.TrainState` three times:
# with `l2l.adam` (a hand-designed optimizer, optax's names), with `mnist-lstm` from l2l's zoo (a
# learned optimizer, meta-trained on MNIST MLPs, dropped into the same loop), and with a
# hyperoptimizer stack that learns Adam's step size by gradient descent as it trains (printed as
# it changes). Each optimizer is an optax transform, so nothing else in the loop changes.
#
#     python examples/train_your_flax_model.py [FASHION_MNIST_DIR]
#
# The data directory holds the four IDX files (`train-images-idx3-ubyte.gz`, ...); by default
# `$FASHION_MNIST_DIR`, `../shared/data/fashion-mnist` beside the repository, or Debian's
# `/usr/share/datasets/fashion-mnist`. `L2L_EXAMPLE_SMALL=1` runs a short version.

# %%
import os
import sys
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state

import l2l
from l2l import hyper
from l2l.data import read_idx

SMALL = os.environ.get("L2L_EXAMPLE_SMALL") == "1"
STEPS = 40 if SMALL else 1500
BATCH = 128


def data_dir() -> Path:
    candidates = [
        *sys.argv[1:2],
        os.environ.get("FASHION_MNIST_DIR", ""),
        Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist",
        "/usr/share/datasets/fashion-mnist",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    sys.exit(f"Fashion-MNIST not found; looked in: {', '.join(map(str, filter(None, candidates)))}")


def load(split: str, limit: int | None = None):
    directory = data_dir()
    images = read_idx(directory / f"{split}-images-idx3-ubyte.gz")[:limit]
    labels = read_idx(directory / f"{split}-labels-idx1-ubyte.gz")[:limit]
    return jnp.asarray(images.reshape(len(images), -1) / 255.0, jnp.float32), jnp.asarray(labels)


train_x, train_y = load("train", 5000 if SMALL else None)
test_x, test_y = load("t10k", 2000 if SMALL else None)
print(f"Fashion-MNIST: {len(train_x)} training and {len(test_x)} test images")


# %% [markdown]
# The model and one training step: the usual flax code, nothing l2l-specific.


# %%
class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.sigmoid(nn.Dense(64)(x))  # mnist-lstm was meta-trained on sigmoid MLPs
        return nn.Dense(10)(x)


def loss_fn(params, apply_fn, x, y):
    logits = apply_fn({"params": params}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


@jax.jit
def train_step(state, key):
    idx = jax.random.randint(key, (BATCH,), 0, train_x.shape[0])
    loss, grads = jax.value_and_grad(loss_fn)(
        state.params, state.apply_fn, train_x[idx], train_y[idx]
    )
    return state.apply_gradients(grads=grads), loss


def accuracy(state):
    return float(
        jnp.mean(jnp.argmax(state.apply_fn({"params": state.params}, test_x), -1) == test_y)
    )


def train(tx, name, callback=None):
    model = MLP()
    params = model.init(jax.random.key(0), train_x[:1])["params"]
    state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)
    losses = []
    for step, key in enumerate(jax.random.split(jax.random.key(1), STEPS)):
        state, loss = train_step(state, key)
        losses.append(float(loss))
        if callback is not None and (step + 1) % max(STEPS // 6, 1) == 0:
            callback(step + 1, state)
    final = np.mean(losses[-20:])
    print(f"{name}: final minibatch loss {final:.4f}, test accuracy {accuracy(state):.3f}")
    return state, losses


# %% [markdown]
# Three optimizers, one loop. The hyperoptimizer's state holds the step size it has learned so
# far: `hyper.hyperparams(state)` gives every level's current values. Adam's hyperparameters are
# learned in the paper's raw parameterization (Chandra et al., 2022: "Adam / SGD(1e-5)"); the
# default learns log(step size), whose hypergradient carries a factor of the step size, so a
# top level as timid as 1e-5 would barely move it.


# %%
def report_step_size(step, state):
    learned = float(hyper.hyperparams(state.opt_state)[0]["learning_rate"])
    print(f"  hyper step {step:4d}: Adam's learned learning_rate = {learned:.3e}")


runs = {
    "l2l.adam(1e-3)": train(l2l.adam(learning_rate=1e-3), "l2l.adam(1e-3)"),
    "mnist-lstm (zoo)": train(l2l.pretrained("mnist-lstm"), "mnist-lstm (zoo)"),
    "Adam(1e-3) / SGD(1e-5)": train(
        hyper.stack(hyper.adam(1e-3, reparam="raw"), hyper.sgd(1e-5)),
        "Adam(1e-3) / SGD(1e-5)",
        callback=report_step_size,
    ),
}

# %% [markdown]
# A small plot of the minibatch losses (smoothed over 20 steps).

# %%
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, (_, losses) in runs.items():
    smooth = np.convolve(losses, np.ones(20) / 20, mode="valid")
    ax.plot(smooth, label=name)
ax.set(xlabel="step", ylabel="minibatch loss", yscale="log", title="Fashion-MNIST MLP")
ax.legend()
fig.tight_layout()
out = Path(os.environ.get("L2L_EXAMPLE_OUT", "examples_out"))
out.mkdir(exist_ok=True)
fig.savefig(out / "train_your_flax_model.png", dpi=100)
print(f"wrote {out / 'train_your_flax_model.png'}")
