"""Model, data and optimiser shared by the distributed test scripts and the tests."""

import numpy as np

import retrograd as rg
from retrograd import nn

N_SAMPLES = 320


def make_model(bn: str = "") -> nn.Module:
    """The test MLP; ``bn="bn"`` adds a BatchNorm1d, ``bn="sync"`` a SyncBatchNorm."""
    if not bn:
        return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.Tanh(),
                          nn.Linear(16, 3)).double()
    if bn == "sync":
        from retrograd.distributed import SyncBatchNorm

        model = SyncBatchNorm.convert_sync_batchnorm(model)
        assert type(model[1]) is SyncBatchNorm
    return model


def make_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    X = rng.standard_normal((N_SAMPLES, 6))
    Y = np.sin(X[:, :3]) + 0.1 * rng.standard_normal((N_SAMPLES, 3))
    return X, Y


class _ManualSGD:
    """Plain SGD for when retrograd.optim is not there (test scaffolding, not library code)."""

    def __init__(self, params, lr):
        self.params, self.lr = params, lr

    def state_dict(self):
        return {"lr": self.lr}

    def load_state_dict(self, state):
        self.lr = state["lr"]

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self):
        for p in self.params:
            p.data -= self.lr * p.grad.data


def make_optimizer(name: str, params: list):
    if name == "manual_sgd":
        return _ManualSGD(params, lr=0.1)
    from retrograd import optim

    if name == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    if name == "adam":
        return optim.Adam(params, lr=0.01)
    raise ValueError(name)


def train_single(opt_name: str, steps: int, batch: int, to_none: bool = True,
                 bn: str = "", seed: int = 7) -> dict:
    """The reference: one process, the same samples in the same order, batch `batch`."""
    from retrograd.distributed import DistributedSampler

    rg.manual_seed(0)
    model = make_model(bn)
    X, Y = make_data()
    opt = make_optimizer(opt_name, list(model.parameters()))
    sampler = DistributedSampler(len(X), num_replicas=1, rank=0, seed=seed)
    for b in step_batches(sampler, batch, steps):
        loss = ((model(rg.tensor(X[b])) - rg.tensor(Y[b])) ** 2).mean()
        opt.zero_grad(set_to_none=to_none)
        loss.backward()
        opt.step()
    return {k: v.data.copy() for k, v in model.state_dict().items()}


def step_batches(sampler, batch: int, steps: int):
    """The sample indices of ``steps`` steps: each epoch's indices in whole batches."""
    step = epoch = 0
    while True:
        sampler.set_epoch(epoch)
        idx = sampler.indices()
        for s in range(0, len(idx) - batch + 1, batch):
            if step == steps:
                return
            yield idx[s:s + batch]
            step += 1
        epoch += 1


def fit_run(out: str | None, epochs: int, ckpt: str | None, resume: str | None,
            opt_name: str) -> dict:
    """``fit(..., distributed=True)`` on whatever world this process is in."""
    from retrograd import distributed as dist
    from retrograd.data import DataLoader, TensorDataset
    from retrograd.train import fit

    rg.manual_seed(0)
    model = make_model()
    X, Y = make_data()
    loader = DataLoader(TensorDataset(X, Y), batch_size=64, shuffle=True, seed=5)
    # 37 validation samples in batches of 16: on 2 ranks each evaluates its own 18 or 19
    # (uneven batches), and the sums must give what one process gets from all 37
    val = DataLoader(TensorDataset(X[:37], Y[:37]), batch_size=16)
    opt = make_optimizer(opt_name, list(model.parameters()))
    val_rows = [0]  # rows this process ran through the model in eval mode

    def count(module, args, output):
        if not module.training:
            val_rows[0] += len(output)

    model.register_forward_hook(count)
    history = fit(model, lambda o, y: ((o - y) ** 2).mean(), opt, loader, val_loader=val,
                  epochs=epochs, metrics=(), progress=False, checkpoint_dir=ckpt,
                  resume=resume, distributed=True)
    params = {k: v.data.copy() for k, v in model.state_dict().items()}
    losses = {"loss": np.array(history["loss"]), "val_loss": np.array(history["val_loss"])}
    if out is not None:
        np.savez(f"{out}{dist.rank()}.npz", val_rows=val_rows[0], **losses, **params)
    return {**losses, **params}
