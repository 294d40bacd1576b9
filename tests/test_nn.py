"""tapegrad.nn: PyTorch's module bookkeeping, layers and losses (checked
against PyTorch where installed), and micrograd's MLP over Values."""

import math
import random

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad import nn, optim

from conftest import FD_ATOL, FD_RTOL, PEER_RTOL, central_difference, requires_torch


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU())
        self.head = nn.Linear(4, 2, rng=1)
        self.scale = nn.Parameter(np.ones(2))
        self.constant = tg.tensor(np.ones(2))  # a plain Tensor: not a parameter
        self.note = "not a parameter either"

    def forward(self, x):
        return self.head(self.body(x)) * self.scale


# --- Parameter and Module ------------------------------------------------------


def test_parameter_is_a_tensor_leaf_that_requires_grad():
    p = nn.Parameter(np.arange(3, dtype=np.float32))
    assert isinstance(p, tg.Tensor) and p.is_leaf and p.requires_grad
    assert p.dtype == np.float32
    (p * 2.0).sum().backward()
    (p * 2.0).sum().backward()
    np.testing.assert_array_equal(p.grad, [4.0, 4.0, 4.0])
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not nn.Parameter(np.ones(1), requires_grad=False).requires_grad


def test_named_parameters_are_pytorchs_dotted_names():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == [
        "scale", "body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    assert [p.shape for p in net.parameters()] == [(2,), (4, 3), (4,), (2, 4), (2,)]
    assert [name for name, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "head"]
    assert [name for name, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert list(net.children()) == [net.body, net.head]


def test_a_shared_parameter_is_listed_once_but_saved_under_each_name():
    a = nn.Linear(2, 2, rng=0)
    model = nn.Sequential(a, nn.Tanh(), a)
    assert len(list(model.parameters())) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_assignment_registers_and_replaces():
    net = Net()
    net.head = nn.Linear(4, 2, bias=False, rng=2)
    assert "head.bias" not in dict(net.named_parameters())
    net.scale = None  # a registered parameter may be set to None...
    assert "scale" not in dict(net.named_parameters())
    with pytest.raises(TypeError, match="as parameter 'scale'"):
        net.scale = np.ones(2)  # ...but not to a plain array
    with pytest.raises(TypeError, match="as child module 'head'"):
        net.head = "linear"
    del net.head
    assert not hasattr(net, "head")
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        net.missing


def test_assigning_before_init_is_an_error():
    class Forgetful(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgetful()


def test_zero_grad():
    net = Net()
    net(np.ones((5, 3))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all((p.grad == 0).all() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_is_copies():
    net = Net()
    state = net.state_dict()
    assert list(state) == [name for name, _ in net.named_parameters()]
    state["scale"][:] = 7.0
    assert (net.scale.value == 1.0).all()
    net.scale.value = np.full(2, 3.0)
    assert (state["scale"] == 7.0).all()


def test_load_state_dict_round_trip_and_casts():
    a, b = Net(), Net()
    for p in b.parameters():
        p.value = p.value + 1.0
    assert b.load_state_dict(a.state_dict()) == ([], [])
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_array_equal(p.value, q.value, err_msg=name)
    c = nn.Linear(3, 4, dtype=np.float32)
    c.load_state_dict(nn.Linear(3, 4, rng=0).state_dict())  # float64 into float32
    assert c.weight.dtype == np.float32


def test_load_state_dict_errors_name_every_problem_and_change_nothing():
    net = Net()
    state = net.state_dict()
    before = net.state_dict()
    state["head.weight"] = np.zeros((3, 3))
    del state["scale"]
    state["extra"] = np.zeros(1)
    with pytest.raises(RuntimeError) as error:
        net.load_state_dict(state)
    message = str(error.value)
    assert "Error(s) in loading state_dict for Net" in message
    assert "Unexpected key(s) in state_dict: 'extra'" in message
    assert "Missing key(s) in state_dict: 'scale'" in message
    assert "size mismatch for head.weight" in message and "(3, 3)" in message
    for name, array in net.state_dict().items():
        np.testing.assert_array_equal(array, before[name])
    del state["head.weight"]
    assert net.load_state_dict(state, strict=False) == (["scale", "head.weight"], ["extra"])


def test_train_and_eval_reach_every_module():
    class Seedlike(Net):
        def train(self, X, y):  # the seed notebook shadows train(); eval() must still work
            raise AssertionError("eval() called the override")

    net = Seedlike()
    assert net.training and net.body[0].training
    assert net.eval() is net and not net.training and not net.body[1].training
    assert nn.Module.train(net) is net and net.head.training


def test_repr_is_pytorchs():
    model = nn.Sequential(nn.Linear(5, 25, rng=0), nn.ReLU(), nn.Linear(25, 2, bias=False, rng=0))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=5, out_features=25, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=25, out_features=2, bias=False)\n"
        ")")


# --- Linear and Sequential ----------------------------------------------------


def test_linear_initialisation_is_pytorchs_default():
    layer = nn.Linear(400, 300, rng=0)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.value, layer.bias.value
    assert w.shape == (300, 400) and b.shape == (300,)
    for x in (w, b):
        assert -bound <= x.min() < -0.95 * bound and 0.95 * bound < x.max() < bound
    assert abs(w.mean()) < 0.01 * bound and abs(w.var() / (bound**2 / 3) - 1) < 0.02
    np.testing.assert_array_equal(w, nn.Linear(400, 300, rng=0).weight.value)  # seeded
    assert nn.Linear(3, 2, dtype=np.float32).weight.dtype == np.float32


def test_linear_forward_and_gradient():
    layer = nn.Linear(3, 2, rng=0)
    x = np.arange(12.0).reshape(4, 3)
    out = layer(x)
    np.testing.assert_allclose(out.value, x @ layer.weight.value.T + layer.bias.value)
    out.sum().backward()
    np.testing.assert_allclose(layer.weight.grad, np.tile(x.sum(axis=0), (2, 1)))
    np.testing.assert_allclose(layer.bias.grad, [4.0, 4.0])


def test_sequential_indexing():
    a, b, c = nn.Linear(2, 3, rng=0), nn.Tanh(), nn.Linear(3, 1, rng=1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c] and seq[0] is a and seq[-1] is c
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    assert [name for name, _ in tail.named_parameters()] == ["2.weight", "2.bias"]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    assert seq.append(nn.Sigmoid()) is seq and len(seq) == 4
    named = nn.Sequential({"hidden": a, "act": b})
    assert [name for name, _ in named.named_parameters()] == ["hidden.weight", "hidden.bias"]
    x = np.ones((2, 2))
    np.testing.assert_allclose(seq(x).value, 1 / (1 + np.exp(-c(np.tanh(a(x).value)).value)))


def test_activations():
    x = np.array([[-2.0, 0.0, 1.5]])
    for module, expected in [(nn.ReLU(), np.maximum(x, 0)), (nn.Tanh(), np.tanh(x)),
                             (nn.Sigmoid(), 1 / (1 + np.exp(-x)))]:
        np.testing.assert_allclose(module(tg.tensor(x)).value, expected, rtol=1e-15)


# --- losses and functional -------------------------------------------------------


def test_cross_entropy_rejects_bad_labels():
    logits = tg.tensor(np.zeros((2, 3)), requires_grad=True)
    for reduction in ("mean", "sum", "none"):
        with pytest.raises(ValueError, match="out of range"):
            F.cross_entropy(logits, np.array([0, 3]), reduction=reduction)
        with pytest.raises(TypeError, match="integer"):
            F.cross_entropy(logits, np.array([0.0, 1.0]), reduction=reduction)
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="average")


def test_mse_loss_needs_equal_shapes():
    with pytest.raises(ValueError, match=r"\(2, 1\) and \(2,\)"):
        nn.MSELoss()(tg.tensor(np.ones((2, 1))), np.ones(2))


def test_linear_without_bias():
    w = tg.tensor(np.ones((2, 3)), requires_grad=True)
    out = F.linear(np.ones((4, 3)), w)
    assert out.shape == (4, 2) and (out.value == 3.0).all()


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    return torch


def torch_value_and_grad(torch, fn, *arrays):
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    out.sum().backward()
    return out.detach().numpy(), [leaf.grad.numpy() for leaf in leaves]


def tapegrad_value_and_grad(fn, *arrays):
    leaves = [tg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    (out.sum() if out.ndim else out).backward()
    return out.value, [leaf.grad for leaf in leaves]


LABELS = np.array([0, 2, 1, 2, 2])
PEERS = {
    "linear": (lambda F, x, w, b: F.linear(x, w, b), [(5, 3), (4, 3), (4,)]),
    "relu": (lambda F, x: F.relu(x), [(5, 3)]),
    "tanh": (lambda F, x: F.tanh(x), [(5, 3)]),
    "sigmoid": (lambda F, x: F.sigmoid(x), [(5, 3)]),
    "softmax": (lambda F, x: F.softmax(x, dim=1) * x, [(5, 3)]),  # times x: a non-trivial grad
    "log_softmax": (lambda F, x: F.log_softmax(x, dim=0) * x, [(5, 3)]),
    "cross_entropy-mean": (lambda F, x: F.cross_entropy(x, LABELS), [(5, 3)]),
    "cross_entropy-sum": (lambda F, x: F.cross_entropy(x, LABELS, reduction="sum"), [(5, 3)]),
    "cross_entropy-none": (lambda F, x: F.cross_entropy(x, LABELS, reduction="none"), [(5, 3)]),
    "mse_loss-mean": (lambda F, x, y: F.mse_loss(x, y), [(5, 3), (5, 3)]),
    "mse_loss-sum": (lambda F, x, y: F.mse_loss(x, y, reduction="sum"), [(5, 3), (5, 3)]),
    "mse_loss-none": (lambda F, x, y: F.mse_loss(x, y, reduction="none"), [(5, 3), (5, 3)]),
}


@requires_torch
@pytest.mark.parametrize("name", list(PEERS))
def test_functional_matches_torch(name, torch, rng):
    import torch.nn.functional as torch_F

    fn, shapes = PEERS[name]
    arrays = [rng.standard_normal(shape) for shape in shapes]
    labels = torch.from_numpy(LABELS)
    torch_fn = (lambda *a: fn(torch_F, *a)) if "cross" not in name else (
        lambda x: fn(_TorchCE(torch_F, labels), x))
    value, grads = tapegrad_value_and_grad(lambda *a: fn(F, *a), *arrays)
    expected, expected_grads = torch_value_and_grad(torch, torch_fn, *arrays)
    np.testing.assert_allclose(value, expected, rtol=PEER_RTOL, atol=1e-15)
    for g, e in zip(grads, expected_grads):
        np.testing.assert_allclose(g, e, rtol=PEER_RTOL, atol=1e-15)


class _TorchCE:
    """torch.nn.functional with cross_entropy's NumPy labels made tensors."""

    def __init__(self, torch_F, labels):
        self.F, self.labels = torch_F, labels

    def cross_entropy(self, x, _labels, reduction="mean"):
        return self.F.cross_entropy(x, self.labels, reduction=reduction)


@requires_torch
def test_state_dict_moves_between_tapegrad_and_torch(torch):
    model = nn.Sequential(nn.Linear(5, 25, rng=0), nn.ReLU(), nn.Linear(25, 2, rng=1))
    twin = torch.nn.Sequential(torch.nn.Linear(5, 25), torch.nn.ReLU(),
                               torch.nn.Linear(25, 2)).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((7, 5))
    np.testing.assert_allclose(model(x).value, twin(torch.from_numpy(x)).detach().numpy(),
                               rtol=PEER_RTOL)
    fresh = nn.Sequential(nn.Linear(5, 25), nn.ReLU(), nn.Linear(25, 2))
    fresh.load_state_dict(twin.state_dict())  # torch tensors straight in
    np.testing.assert_array_equal(fresh[2].bias.value, model[2].bias.value)


# --- micrograd's MLP -------------------------------------------------------------


def mlp_loss(model, xs, ys):
    return sum((model(x) - y) ** 2 for x, y in zip(xs, ys)) / len(xs)


XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]  # micrograd's README example


def test_mlp_has_micrographs_shapes():
    model = nn.MLP(3, [4, 4, 1], rng=0)
    assert len(model.parameters()) == 4 * 4 + 4 * 5 + 5
    assert [type(layer).__name__ for layer in model.layers] == ["Layer"] * 3
    assert isinstance(model(XS[0]), tg.Value)  # one output neuron: a Value, not a list
    assert len(nn.MLP(3, [4, 2], rng=0)(XS[0])) == 2
    assert repr(model.layers[2]) == "Layer of [LinearNeuron(4)]"
    assert [p.data for p in model.parameters()] == [p.data for p in nn.MLP(3, [4, 4, 1],
                                                                           rng=0).parameters()]
    random.seed(5)
    a = [p.data for p in nn.MLP(2, [2]).parameters()]  # rng=None: the random module's
    random.seed(5)
    assert a == [p.data for p in nn.MLP(2, [2]).parameters()]


def test_mlp_records_onto_the_tape():
    model = nn.MLP(3, [4, 4, 1], rng=0)
    with tg.Tape() as tape:
        loss = mlp_loss(model, XS, YS)
    assert len(tape) > len(model.parameters())
    loss.backward()
    tape.reset()
    with pytest.raises(tg.StaleValueError):
        loss.backward()


def test_mlp_gradients_match_finite_differences(rng):
    model = nn.MLP(3, [4, 4, 1], rng=1)
    params = model.parameters()
    for p in params:  # biases start at 0: keep pre-activations off relu's kink
        p.data = rng.uniform(-1.0, 1.0)
    loss = mlp_loss(model, XS, YS)
    model.zero_grad()
    loss.backward()
    grads = [p.grad for p in params]

    def f(*values):
        for p, v in zip(params, values):
            p.data = v
        return mlp_loss(model, XS, YS).data

    start = [p.data for p in params]
    for k in range(len(params)):
        expected = central_difference(f, start, k)
        assert grads[k] == pytest.approx(expected, rel=FD_RTOL, abs=FD_ATOL), f"parameter {k}"
    f(*start)


def test_mlp_trains_as_in_micrograds_readme():
    model = nn.MLP(3, [4, 4, 1], rng=2)
    losses = []
    for _ in range(50):
        loss = mlp_loss(model, XS, YS)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.05 * p.grad
        losses.append(loss.data)
    assert losses[-1] < 0.05 * losses[0]


def test_mlp_trains_with_an_optimizer():
    model = nn.MLP(3, [4, 4, 1], rng=3)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    first = None
    for _ in range(50):
        opt.zero_grad()
        loss = mlp_loss(model, XS, YS)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.data
    assert loss.data < 0.05 * first
    assert any(p.grad != 0.0 for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
