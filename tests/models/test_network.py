import pytest
import torch
import torch.nn.functional as F

from smolmamba.layers.block import Block
from smolmamba.layers.carry import BlockCarry
from smolmamba.layers.norms import ScaleNorm
from smolmamba.layers.mixer_cfg import SSMCfg
from smolmamba.layers.pruning import TokenPruner, gather_tokens
from smolmamba.layers.ssm import SpikingSSM
from smolmamba.models import ModelCfg, SpikingVisionNet, count_parameters, create_model, list_models
from smolmamba.models.network import calibrate_norms, stage_starts, tokens_per_stage
from smolmamba.models.summary import example_input

LIF_KW = {"tau": 2.0, "v_threshold": 1.0, "surrogate": "sigmoid", "detach_reset": False}
SMALL = dict(embed_dim=32, depth=4, d_state=4, img_size=16, patch_size=2, in_chans=1, num_classes=5)


def small_model(**overrides):
    return SpikingVisionNet(ModelCfg.from_flat(**{**SMALL, **overrides}))


def test_every_registered_model_builds_and_runs_on_its_own_input():
    names = list_models()
    assert {"smolmamba_tiny", "smolmamba_cifar", "smolmamba_imagenet", "smolmamba_dvs",
            "spiking_mamba_cifar", "smolmamba_naive_cifar"} <= set(names)
    for name in names:
        model = create_model(name).eval()
        cfg = model.cfg
        if cfg.input.img_size > 32:  # keep CI fast: the big ones are checked at a smaller input size
            model = create_model(name, img_size=32).eval()
            cfg = model.cfg
        x = example_input(cfg, 1)
        with torch.no_grad():
            out = model(x)
        assert out.shape == (1, cfg.num_classes), name
        assert torch.isfinite(out).all(), name


@pytest.mark.parametrize("events", [False, True])
def test_forward_backward_reaches_every_parameter(events):
    torch.manual_seed(0)
    kw = dict(in_chans=2, events=True, time_steps=3) if events else {}
    model = small_model(**kw)
    x = example_input(model.cfg, 4) * (1.0 if events else 3.0)
    loss = F.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, f"no gradient reached {missing}"


def test_tokens_per_stage_follow_keep_ratios_of_original():
    model = small_model(keep_ratios=(0.8, 0.6, 0.5, 0.4)).eval()
    n = model.cfg.input.num_tokens  # 64
    assert tokens_per_stage(model, example_input(model.cfg, 2)) == [n, 51, 38, 32, 26]
    dense = small_model(pruner=None).eval()
    assert tokens_per_stage(dense, example_input(dense.cfg, 2)) == [n]


def test_stage_starts_split_blocks_evenly():
    assert stage_starts(12, 4) == [0, 3, 6, 9]
    assert stage_starts(4, 4) == [0, 1, 2, 3]
    assert stage_starts(5, 2) == [0, 3]


def test_pruning_modes():
    x = example_input(ModelCfg.from_flat(**SMALL), 2)
    zero_shot = small_model(pruning_mode="zero_shot")
    _, trace = zero_shot.train().forward_features_with_info(x)
    assert trace.positions == ()
    _, trace = zero_shot.eval().forward_features_with_info(x)
    assert len(trace.positions) == 4
    _, trace = small_model(pruning_mode="off").eval().forward_features_with_info(x)
    assert trace.positions == ()


def make_block(align, keep=0.5, n=24, dim=16, pruner="sst_tp"):
    mixer = SpikingSSM(dim, SSMCfg(expand=2, d_state=4, scan_impl="reference"), LIF_KW)
    block = Block(dim, mixer, 2 * dim, LIF_KW, pruner=TokenPruner(pruner, keep, n), align=align)
    for m in block.modules():  # non-trivial eval statistics
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
        if isinstance(m, ScaleNorm):
            m.running_ms.uniform_(0.2, 0.5)
    block.mixer.in_proj.weight.data *= 3  # enough drive that u and z spike: the test is not trivial
    return block.double().eval()


def gate_rate(block, x):
    """Firing rate of the z gate, so a test can assert that the scan path is alive."""
    rates = []
    handle = block.mixer.z_lif.register_forward_hook(lambda m, a, out: rates.append(out.mean().item()))
    with torch.no_grad():
        block(x, BlockCarry(), prune=True)
    handle.remove()
    return rates[0]


def dense_block_with_silenced_tokens(block, x, positions):
    """The block run without pruning, where the pruned tokens' input spikes are set to zero."""
    s = block.in_lif(x)
    keep = torch.zeros(x.shape[1], x.shape[2], dtype=torch.bool).scatter(1, positions, True)
    s = s * keep[None, :, :, None].to(s.dtype)
    mixed, scan_out = block.mixer(s, None, True)
    out = x + mixed
    return out + block.mlp(out), scan_out


@pytest.mark.parametrize("keep", [0.3, 0.5, 0.9])
def test_aligned_pruned_block_equals_dense_block_with_silenced_tokens(keep):
    torch.manual_seed(3)
    t, b, n, d = 3, 2, 24, 16
    block = make_block(align=True, keep=keep, n=n, dim=d)
    x = torch.randn(t, b, n, d, dtype=torch.float64) * 2
    assert 0.02 < gate_rate(block, x) < 0.98
    with torch.no_grad():
        out, carry = block(x, BlockCarry(), prune=True)
        positions = carry.positions
        assert torch.all(positions[:, 1:] > positions[:, :-1])
        assert positions.shape[1] < n
        dense, dense_scan = dense_block_with_silenced_tokens(block, x, positions)
    kept_scan = gather_tokens(dense_scan, positions)
    assert kept_scan.abs().max() > 0.1  # the gated scan output is not trivially zero
    torch.testing.assert_close(carry.values, kept_scan, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(out, gather_tokens(dense, positions), atol=1e-10, rtol=1e-10)


def test_naive_pruning_differs_from_dense_with_silenced_tokens():
    torch.manual_seed(3)
    t, b, n, d = 3, 2, 24, 16
    block = make_block(align=False, keep=0.5, n=n, dim=d)
    x = torch.randn(t, b, n, d, dtype=torch.float64) * 2
    with torch.no_grad():
        _, carry = block(x, BlockCarry(), prune=True)
        positions = carry.positions
        _, dense_scan = dense_block_with_silenced_tokens(block, x, positions)
    assert (carry.values - gather_tokens(dense_scan, positions)).abs().max() > 1e-3


def test_align_flag_changes_the_scan_inside_the_model():
    """The flag reaches every pruned block's scan: its real-valued output y (before the output LIF, whose
    spikes may or may not flip for a given random model) differs between aligned and naive pruning."""
    torch.manual_seed(0)
    aligned = small_model(keep_ratios=(0.5, 0.5, 0.3, 0.3))
    x = example_input(aligned.cfg, 8) * 3
    calibrate_norms(aligned, [x])  # eval-mode statistics of this batch, so neurons fire in eval
    naive = small_model(keep_ratios=(0.5, 0.5, 0.3, 0.3), align=False).eval()
    naive.load_state_dict(aligned.state_dict())

    def scan_outputs(model):
        ys = []
        hooks = [b.mixer.register_forward_hook(lambda m, i, out: ys.append(out[1])) for b in model.blocks]
        with torch.no_grad():
            model(x)
        for h in hooks:
            h.remove()
        return ys

    differences = [(a - n).abs().max().item() for a, n in zip(scan_outputs(aligned), scan_outputs(naive))]
    assert differences[0] > 1e-3 and all(d > 1e-4 for d in differences[1:])  # block 0 prunes already


def test_deterministic_under_fixed_seed():
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = small_model()
        x = example_input(model.cfg, 2, torch.Generator().manual_seed(1))
        outs.append(model(x))
    assert torch.equal(outs[0], outs[1])


def test_batch_of_one_and_bf16_autocast():
    model = small_model().eval()
    x = example_input(model.cfg, 1)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (1, 5) and torch.isfinite(out.float()).all()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(img_size=30, patch_size=4), "not divisible"),
        (dict(patch_size=3), "power of two"),
        (dict(keep_ratios=(0.8, 0.9)), "must not increase"),
        (dict(keep_ratios=(0.5, 0.0)), r"\(0, 1\]"),
        (dict(keep_ratios=(1.5,)), r"\(0, 1\]"),
        (dict(time_steps=0), "time_steps"),
        (dict(pruner="topk"), "unknown pruner"),
        (dict(events=True, in_chans=3), "polarity"),
        (dict(depth=2, keep_ratios=(0.9, 0.8, 0.7)), "depth"),
    ],
)
def test_bad_configs_fail_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_model(**kwargs)


def test_bad_inputs_name_the_problem():
    model = small_model().eval()
    with pytest.raises(ValueError, match="channels"):
        model(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="doesn't match"):
        model(torch.rand(2, 1, 32, 32))
    events = small_model(in_chans=2, events=True, time_steps=4).eval()
    with pytest.raises(ValueError, match="T=3"):
        events(torch.rand(2, 3, 2, 16, 16))
    with pytest.raises(ValueError, match="polarity"):
        events(torch.rand(2, 4, 3, 16, 16))
    with pytest.raises(ValueError, match="unknown model option"):
        create_model("smolmamba_tiny", depht=3)
    with pytest.raises(ValueError, match="smolmamba_tiny"):
        create_model("smolmamba_tinny")


def test_parameter_counts_match_the_spikformer_peers_within_10_percent():
    assert abs(count_parameters(create_model("smolmamba_cifar")) / 9.32e6 - 1) < 0.10
    assert abs(count_parameters(create_model("smolmamba_dvs")) / 2.57e6 - 1) < 0.10


def test_torch_compile_smoke():
    model = small_model(depth=1, keep_ratios=(0.5,)).eval()
    x = example_input(model.cfg, 2)
    try:
        compiled = torch.compile(model, backend="eager")
    except RuntimeError as err:  # platform without compile support
        pytest.skip(f"torch.compile unavailable: {err}")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.slow
def test_tiny_model_overfits_64_random_labels():
    torch.manual_seed(0)
    model = small_model(embed_dim=32, depth=2, keep_ratios=(0.7, 0.5), time_steps=2, img_size=8)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 8, 8, generator=gen)
    y = torch.randint(5, (64,), generator=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    for step in range(1000):  # the step it memorises at depends on the CPU's float rounding (> 400 on some)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if step % 25 == 24:
            calibrate_norms(model, [x])
            with torch.no_grad():
                acc = (model(x).argmax(1) == y).float().mean().item()
            model.train()
            if acc == 1.0:
                break
    assert acc == 1.0, f"train accuracy {acc} after {step + 1} steps, loss {loss.item():.3f}"


@pytest.mark.parametrize("ste", [True, False])
def test_pruner_ste_reaches_every_pruner_with_fused_tokens(ste):
    """pruner_ste=False switches the straight-through factor off in the fusing (EViT) pruners too:
    SST-TP's alpha, beta then get no gradient through the kept tokens' spikes."""
    from smolmamba.neurons import LIF

    model = create_model("spikformer_evit_tiny", pruner_ste=ste)
    pruners = [b.pruner for b in model.blocks if b.pruner is not None]
    assert len(pruners) == 4 and all(p.straight_through is ste for p in pruners)
    torch.manual_seed(0)
    x = torch.randn(3, 2, 8, 4) * 2
    pruner = pruners[0].__class__("sst_tp", 0.5, 8, LIF_KW, straight_through=ste)
    _, kept_spikes, _, _ = pruner(x, LIF(**LIF_KW)(x), torch.arange(8).expand(2, -1))
    kept_spikes[:, :, :-1].sum().backward()  # the regular tokens' spikes, not the fused token's
    grad = pruner.score.raw_weights.grad
    assert (grad is not None and grad.abs().sum() > 0) if ste else (grad is None or not grad.any())


BAD_OPTIONS = [dict(scan_impl="trtion"), dict(lif_kernel="nmba"), dict(surrogate="sigmod"), dict(tau=0),
               dict(expand=0), dict(d_state=0), dict(dt_rank=0), dict(embed_dim=0), dict(mlp_ratio=0),
               dict(in_chans=0), dict(num_heads=0), dict(attn_scale=float("nan")), dict(dt_max=0.0),
               dict(u_gain=-1.0), dict(gate_bias=float("inf")), dict(detach_reset="yes"), dict(align="maybe"),
               dict(num_classes=-1), dict(patch_size=3), dict(keep_ratios=()), dict(pruning_mode="x")]


@pytest.mark.parametrize("bad", BAD_OPTIONS, ids=lambda bad: next(iter(bad)))
def test_create_model_rejects_a_bad_option_at_build(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):  # the message names the option
        create_model("smolmamba_tiny", **bad)


def test_pruning_trace_counts_tokens_per_stage():
    model = small_model().eval()
    x = example_input(model.cfg, 2)
    _, trace = model.forward_features_with_info(x)
    assert trace.num_tokens == 64 and len(trace.positions) == len(trace.importance) == 4
    assert trace.input_pruning is None
    assert trace.tokens_per_stage() == [64] + [p.shape[1] for p in trace.positions] == tokens_per_stage(model, x)


def test_rebuild_carries_the_weights_and_only_pruner_keys_may_differ():
    from smolmamba.models import rebuild

    torch.manual_seed(0)
    trained = create_model("smolmamba_tiny").eval()
    x = example_input(trained.cfg, 2)
    same = rebuild(trained, "smolmamba_tiny").eval()
    torch.testing.assert_close(same(x), trained(x), rtol=0, atol=0)
    dense = rebuild(trained, "smolmamba_tiny", pruning_mode="off")  # drops the pruners' alpha, beta
    assert not any(".pruner." in k for k in dense.state_dict())
    with pytest.raises(ValueError, match="does not fit the model: mismatched keys"):
        rebuild(trained, "smolmamba_tiny", depth=5, keep_ratios=(0.8,))
