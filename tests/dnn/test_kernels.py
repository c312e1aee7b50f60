"""The oneDNN float32 product of jetcalib.dnn.kernels: same numbers as nn.Linear, same state
dict, chosen only where it works."""

import pytest

torch = pytest.importorskip("torch")

from jetcalib.dnn import kernels  # noqa: E402

needs_onednn = pytest.mark.skipif(not kernels._onednn_works(), reason="no working oneDNN matmul in this torch")


@needs_onednn
@pytest.mark.parametrize("shape", [(37, 21), (5, 7, 21)])
def test_onednn_linear_matches_aten_forward_and_gradients(shape):
    torch.manual_seed(0)
    layer = kernels.Linear(21, 16)
    x = torch.randn(*shape, requires_grad=True)
    ref = layer(x)
    ref_grads = torch.autograd.grad(ref.square().sum(), (x, layer.weight, layer.bias))
    with kernels.use_gemm("onednn"):
        assert kernels.gemm_in_use() == "onednn"
        out = layer(x)
        grads = torch.autograd.grad(out.square().sum(), (x, layer.weight, layer.bias))
    assert kernels.gemm_in_use() == "aten"  # restored
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-4)


def test_linear_is_nn_linear_with_the_same_state_dict():
    layer = kernels.Linear(4, 3)
    assert isinstance(layer, torch.nn.Linear)
    assert sorted(layer.state_dict()) == sorted(torch.nn.Linear(4, 3).state_dict())


def test_choose_gemm():
    assert kernels.choose_gemm("aten") == "aten"
    assert kernels.choose_gemm("auto", "cuda") == "aten"  # the GPU keeps its own GEMM
    assert kernels.choose_gemm("auto") in ("aten", "onednn")
    assert kernels.choose_gemm("auto", width=16) == "aten"  # too small to repay oneDNN
    with pytest.raises(ValueError, match="unknown gemm"):
        kernels.choose_gemm("fast")
    with pytest.raises(ValueError, match="unknown gemm"), kernels.use_gemm("fast"):  # type: ignore[arg-type]
        pass


@needs_onednn
def test_training_with_onednn_records_its_phases(tmp_path):
    from jetcalib.dnn import DNNConfig, train
    from jetcalib.dnn.toys import toy_jets

    cfg = DNNConfig.model_validate({"training": {"epochs": 1, "batch_size": 512},
                                    "network": {"width": 16, "n_blocks": 1}, "closure": "none"})
    table = toy_jets(3000, seed=3)
    a = train(table, tmp_path / "a", cfg, progress=False, gemm="onednn")
    b = train(table, tmp_path / "b", cfg, progress=False, gemm="aten")
    assert a.summary["gemm"] == "onednn"
    assert b.summary["gemm"] == "aten"
    assert set(a.summary["phase_seconds"]) >= {"prepare", "fit", "epochs", "validation"}
    assert a.summary["phase_seconds"]["epochs"] > 0
    # the same fit up to summation order
    assert a.summary["best_val_loss"] == pytest.approx(b.summary["best_val_loss"], rel=1e-3)


@pytest.mark.slow
@needs_onednn
# torch's own compile stack imports a deprecated torch.jit helper (torch 2.13)
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_training_steps_learn_what_eager_ones_do(tmp_path):
    """--compile (torch.compile of the training steps, oneDNN custom ops inside the graph):
    the same fit as eager, and no compiled-module keys in the saved weights."""
    from jetcalib.dnn import DNNCalibration, DNNConfig, train
    from jetcalib.dnn.toys import toy_jets

    cfg = DNNConfig.model_validate({"training": {"epochs": 1, "batch_size": 512},
                                    "network": {"width": 16, "n_blocks": 1}, "closure": "none"})
    table = toy_jets(3000, seed=4)
    eager = train(table, tmp_path / "eager", cfg, progress=False, gemm="onednn")
    compiled = train(table, tmp_path / "compiled", cfg, progress=False, gemm="onednn", compile_network=True)
    assert compiled.summary["compiled"] is True
    assert compiled.summary["best_val_loss"] == pytest.approx(eager.summary["best_val_loss"], rel=1e-3)
    loaded = DNNCalibration.load(tmp_path / "compiled")
    assert set(loaded.net.state_dict()) == set(eager.net.state_dict())
