"""The lean IST (per-image FFN_in map, composed maps, memory-lean attention) against the dense and PyG
references: outputs, every parameter's gradient, the inputs' gradients and the attention coefficients."""

from __future__ import annotations

import pytest
import torch

from ovmlr.models import C2SRT, IST, C2SRTConfig, DenseGATv2Conv, ISRConfig, ISTConfig, MixedFeatures
from ovmlr.models import gatv2 as gatv2_module
from ovmlr.models.gatv2 import LeanGATv2Attention, gatv2_attend


def _neighbours(n_categories: int, k: int, gen: torch.Generator) -> torch.Tensor:
    scores = torch.rand(n_categories, n_categories, generator=gen)
    scores.fill_diagonal_(-1.0)
    return scores.topk(k, dim=1).indices


def _mixed(batch: int, categories: int, patches: int, dim: int, gen: torch.Generator) -> MixedFeatures:
    weights = torch.rand(batch, categories, patches, generator=gen, dtype=torch.float64)
    return MixedFeatures(
        torch.randn(batch, patches, dim, generator=gen, dtype=torch.float64, requires_grad=True),
        weights.requires_grad_(),
        torch.randn(batch, dim, generator=gen, dtype=torch.float64, requires_grad=True),
    )


def _grads(module: torch.nn.Module, inputs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    named = {name: p.grad for name, p in module.named_parameters()}
    return named | {f"input{i}": t.grad for i, t in enumerate(inputs)}


def _run(implementation: str, state: dict | None, feats: MixedFeatures, text, neighbours, heads: int):
    torch.manual_seed(0)
    config = ISTConfig(implementation=implementation, layers=2, heads=heads, hidden_dim=12, dropout=0.0)
    ist = IST(config, embed_dim=feats.patches.shape[-1]).double().eval()
    if state is not None:
        ist.load_state_dict(state)
    inputs = [feats.patches, feats.weights, feats.shared, text]
    for t in inputs:
        t.grad = None
    out, attention = ist(feats, text, neighbours, return_attention=True)
    (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
    return ist, out.detach(), attention, _grads(ist, inputs)


@pytest.mark.parametrize(("seed", "patches"), [(0, 3), (1, 5), (2, 9)])  # P < D (per image) and P >= D
@pytest.mark.parametrize("reference", ["dense", "pyg"])
def test_lean_ist_equals_the_references_forward_backward_and_attention(seed, patches, reference) -> None:
    gen = torch.Generator().manual_seed(seed)
    batch, categories, dim, k = 3, 7, 6, 3
    feats = _mixed(batch, categories, patches, dim, gen)
    text = torch.randn(categories, dim, generator=gen, dtype=torch.float64, requires_grad=True)
    neighbours = _neighbours(categories, k, gen)
    ref, out_ref, att_ref, grads_ref = _run(reference, None, feats, text, neighbours, heads=2)
    _, out, att, grads = _run("lean", ref.state_dict(), feats, text, neighbours, heads=2)
    torch.testing.assert_close(out, out_ref)
    for alpha, alpha_ref in zip(att, att_ref, strict=True):
        torch.testing.assert_close(alpha, alpha_ref)
    assert grads.keys() == grads_ref.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, grads_ref[name], msg=lambda m, name=name: f"grad of {name}: {m}")


def test_mixed_features_linear_equals_the_dense_features_mapped() -> None:
    gen = torch.Generator().manual_seed(3)
    for patches in (2, 8):  # per image (P < D) and through the dense features (P >= D)
        feats = _mixed(2, 5, patches, 4, gen)
        weight = torch.randn(6, 4, generator=gen, dtype=torch.float64)
        expected = torch.einsum("bcp,bpd->bcd", feats.weights, feats.patches) + feats.shared.unsqueeze(1)
        torch.testing.assert_close(feats.dense(), expected)
        torch.testing.assert_close(feats.linear(weight), expected @ weight.T)


@pytest.mark.parametrize("chunk_elements", [1, 50, 1 << 20])  # one target per chunk, a few, all at once
def test_lean_attention_equals_gatv2_attend_in_chunks(monkeypatch, chunk_elements: int) -> None:
    monkeypatch.setattr(gatv2_module, "LEAN_CHUNK_ELEMENTS", chunk_elements)
    gen = torch.Generator().manual_seed(4)
    x_l, x_r = (torch.randn(2, 9, 3, 4, generator=gen, dtype=torch.float64) for _ in range(2))
    att = torch.randn(1, 3, 4, generator=gen, dtype=torch.float64)
    neighbours = _neighbours(9, 4, gen)
    neighbours[0, 1] = neighbours[0, 0]  # a repeated neighbour: two messages from one source
    grad = torch.randn(2, 9, 3, 4, generator=gen, dtype=torch.float64)
    results = []
    for attend in (gatv2_attend, LeanGATv2Attention.apply):
        leaves = [t.clone().requires_grad_() for t in (x_l, x_r, att)]
        args = (leaves[0], leaves[1], neighbours, leaves[2], 0.2)
        out, alpha = attend(*args, 0.0, False) if attend is gatv2_attend else attend(*args)
        out.backward(grad)
        results.append((out.detach(), alpha, *(t.grad for t in leaves)))
    for got, expected in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, expected)


def test_lean_attention_passes_gradcheck() -> None:
    gen = torch.Generator().manual_seed(5)
    x_l, x_r = (torch.randn(2, 5, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True) for _ in "lr")
    att = torch.randn(1, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    neighbours = _neighbours(5, 2, gen)
    assert torch.autograd.gradcheck(
        lambda a, b, c: LeanGATv2Attention.apply(a, b, neighbours, c, 0.2)[0], (x_l, x_r, att)
    )


def test_lean_layer_uses_the_dense_formula_under_attention_dropout() -> None:
    torch.manual_seed(6)
    layer = DenseGATv2Conv(4, 3, heads=2, dropout=0.5).train()
    x, neighbours = torch.randn(2, 5, 4), _neighbours(5, 2, torch.Generator().manual_seed(6))
    torch.manual_seed(7)
    expected = layer(x, neighbours)
    torch.manual_seed(7)
    torch.testing.assert_close(layer.forward_lean(x, neighbours)[0], expected)


def test_lean_c2srt_head_scores_as_the_dense_head_and_trains_alike() -> None:
    gen = torch.Generator().manual_seed(8)
    batch, patches, dim, categories = 3, 4, 8, 6
    global_feats, patch_feats = (
        torch.randn(batch, dim, generator=gen),
        torch.randn(batch, patches, dim, generator=gen),
    )
    text, neighbours = torch.randn(categories, dim, generator=gen), _neighbours(categories, 2, gen)
    outs, grads = [], []
    for implementation in ("dense", "lean"):
        config = C2SRTConfig(
            embed_dim=dim,
            isr=ISRConfig(alpha=0.6, max_patches=3, temperature=10.0),
            ist=ISTConfig(implementation=implementation, heads=2, hidden_dim=8, dropout=0.0),
        )
        torch.manual_seed(0)
        head = C2SRT(config).eval()
        out = head(global_feats, patch_feats, text, neighbours)
        out["logits"].square().sum().backward()
        outs.append(out)
        grads.append({name: p.grad for name, p in head.named_parameters() if p.grad is not None})
    for key in ("logits", "f_img", "f_local", "node_feats"):
        torch.testing.assert_close(outs[1][key], outs[0][key], atol=2e-5, rtol=1e-4)
    assert grads[1].keys() == grads[0].keys() and grads[0]
    for name, grad in grads[1].items():
        torch.testing.assert_close(grad, grads[0][name], atol=2e-5, rtol=1e-4)
