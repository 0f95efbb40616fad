"""IST (Eq. 6-9, 17-23): shapes, information flow along edges, dense GATv2 == PyG GATv2Conv."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import GATv2Conv

from ovmlr.models import IST, DenseGATv2Conv, ISTConfig, batched_edge_index
from ovmlr.models.gatv2 import dense_edge_attention

# 6 categories, K = 2 in-neighbours each (row i: the sources j of edges j → i):
# 0 ← {1, 2}, 1 ← {2, 3}, 2 ← {3, 1}, 3 ← {1, 2}, 4 ← {5, 0}, 5 ← {0, 4}.
# Out-edges: 0 → {4, 5}, 1 → {0, 2, 3}, 2 → {0, 1, 3}, 3 → {1, 2}, 4 → {5}, 5 → {4}.
NEIGHBOURS = torch.tensor([[1, 2], [2, 3], [3, 1], [1, 2], [5, 0], [0, 4]])


def _ist(layers: int, implementation: str = "dense", seed: int = 0) -> IST:
    torch.manual_seed(seed)
    config = ISTConfig(implementation=implementation, layers=layers, heads=2, hidden_dim=8, dropout=0.0)
    return IST(config, embed_dim=4).eval()


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(3, 6, 4, generator=gen), torch.randn(6, 4, generator=gen)


def test_batched_edge_index_offsets_each_copy() -> None:
    edge_index = batched_edge_index(torch.tensor([[1], [0]]), batch_size=2)
    assert edge_index.tolist() == [[1, 0, 3, 2], [0, 1, 2, 3]]


@pytest.mark.parametrize("implementation", ["dense", "pyg"])
def test_output_shape(implementation: str) -> None:
    image, text = _inputs()
    assert _ist(2, implementation)(image, text, NEIGHBOURS).shape == (3, 6, 4)


def test_information_flows_only_along_edges() -> None:
    ist = _ist(layers=1)
    image, text = _inputs()
    base = ist(image, text, NEIGHBOURS)
    for source, changed in [(3, {1, 2}), (1, {0, 2, 3}), (0, {4, 5})]:
        perturbed = image.clone()
        perturbed[:, source] += 1.0
        out = ist(perturbed, text, NEIGHBOURS)
        differs = {c for c in range(6) if not torch.allclose(out[:, c], base[:, c])}
        assert differs == changed | {source}  # its out-neighbours, and itself through the skip


def test_two_layers_reach_two_hops_but_not_beyond() -> None:
    ist = _ist(layers=2)
    image, text = _inputs()
    base = ist(image, text, NEIGHBOURS)
    perturbed = image.clone()
    perturbed[:, 4] += 1.0  # 4 feeds 5 only and 5 feeds 4 only
    out = ist(perturbed, text, NEIGHBOURS)
    # Categories 0-3 never receive from 4 or 5 (their in-neighbours are within {1, 2, 3}).
    torch.testing.assert_close(out[:, :4], base[:, :4])
    assert not torch.allclose(out[:, 5], base[:, 5])


def test_images_do_not_interact() -> None:
    ist = _ist(layers=2)
    image, text = _inputs()
    perturbed = image.clone()
    perturbed[0] += 1.0
    torch.testing.assert_close(ist(perturbed, text, NEIGHBOURS)[1:], ist(image, text, NEIGHBOURS)[1:])


def test_dense_layer_equals_pyg_forward_and_backward() -> None:
    torch.manual_seed(0)
    pyg = GATv2Conv(5, 3, heads=2, add_self_loops=False, residual=True).double()
    dense = DenseGATv2Conv(5, 3, heads=2).double()
    dense.load_state_dict(pyg.state_dict())
    with torch.no_grad():  # non-zero bias so that it is compared too
        pyg.bias.normal_()
        dense.bias.copy_(pyg.bias)
    x = torch.randn(3, 6, 5, dtype=torch.float64, requires_grad=True)
    x_pyg = x.detach().clone().requires_grad_(True)
    out_dense = dense(x, NEIGHBOURS)
    out_pyg = pyg(x_pyg.reshape(18, 5), batched_edge_index(NEIGHBOURS, 3)).view(3, 6, 6)
    torch.testing.assert_close(out_dense, out_pyg)
    weights = torch.randn_like(out_dense)
    (out_dense * weights).sum().backward()
    (out_pyg * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_pyg.grad)
    for name, parameter in dense.named_parameters():
        torch.testing.assert_close(parameter.grad, dict(pyg.named_parameters())[name].grad, msg=name)


def test_ist_dense_and_pyg_share_state_dict_and_outputs() -> None:
    dense, pyg = _ist(2, "dense"), _ist(2, "pyg", seed=1)
    pyg.load_state_dict(dense.state_dict())
    image, text = _inputs()
    torch.testing.assert_close(
        dense(image, text, NEIGHBOURS), pyg(image, text, NEIGHBOURS), rtol=1e-5, atol=1e-5
    )


def test_checkpointed_chunks_match_the_unchunked_layer() -> None:
    torch.manual_seed(0)
    full = DenseGATv2Conv(5, 3, heads=2).double()
    chunked = DenseGATv2Conv(5, 3, heads=2, chunk_size=4).double()
    chunked.load_state_dict(full.state_dict())
    x = torch.randn(3, 6, 5, dtype=torch.float64, requires_grad=True)
    x_chunked = x.detach().clone().requires_grad_(True)
    out, out_chunked = full(x, NEIGHBOURS), chunked(x_chunked, NEIGHBOURS)
    torch.testing.assert_close(out_chunked, out)
    out.sum().backward()
    out_chunked.sum().backward()
    torch.testing.assert_close(x_chunked.grad, x.grad)
    torch.testing.assert_close(chunked.att.grad, full.att.grad)


def test_chunk_size_with_pyg_is_rejected() -> None:
    with pytest.raises(ValueError, match="ist.chunk_size must be null or >= 1 with implementation 'dense'"):
        ISTConfig(implementation="pyg", chunk_size=64)


@pytest.mark.parametrize("implementation", ["dense", "pyg"])
def test_attention_sums_to_one_over_the_neighbours(implementation: str) -> None:
    image, text = _inputs()
    _, attention = _ist(2, implementation)(image, text, NEIGHBOURS, return_attention=True)
    assert len(attention) == 2
    for alpha in attention:
        assert alpha.shape == (3, 6, 2, 2)  # [B, C, K, H]
        assert (alpha >= 0).all()
        torch.testing.assert_close(alpha.sum(dim=2), torch.ones(3, 6, 2))


@pytest.mark.parametrize("implementation", ["dense", "pyg"])
def test_returning_attention_leaves_the_output_unchanged(implementation: str) -> None:
    ist = _ist(2, implementation)
    image, text = _inputs()
    h, _ = ist(image, text, NEIGHBOURS, return_attention=True)
    torch.testing.assert_close(h, ist(image, text, NEIGHBOURS), rtol=0, atol=0)


def test_ist_dense_and_pyg_attention_agree() -> None:
    dense, pyg = _ist(2, "dense"), _ist(2, "pyg", seed=1)
    pyg.load_state_dict(dense.state_dict())
    image, text = _inputs()
    h_dense, attention_dense = dense(image, text, NEIGHBOURS, return_attention=True)
    h_pyg, attention_pyg = pyg(image, text, NEIGHBOURS, return_attention=True)
    torch.testing.assert_close(h_dense, h_pyg, rtol=1e-5, atol=1e-5)
    for layer, (alpha_dense, alpha_pyg) in enumerate(zip(attention_dense, attention_pyg, strict=True)):
        torch.testing.assert_close(alpha_dense, alpha_pyg, rtol=1e-5, atol=1e-5, msg=f"layer {layer}")


def test_attention_weights_the_messages_as_returned() -> None:
    """α is what the layer uses: Σ_k α_ik W_l h_{neighbours[i, k]} + W_res h_i + b reproduces h'."""
    torch.manual_seed(0)
    layer = DenseGATv2Conv(5, 3, heads=2).double().eval()
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    out, alpha = layer(x, NEIGHBOURS, return_attention=True)
    x_j = layer.lin_l(x).view(3, 6, 2, 3)[:, NEIGHBOURS]  # [B, C, K, H, F]
    messages = (alpha.unsqueeze(-1) * x_j).sum(dim=2).reshape(3, 6, 6)
    torch.testing.assert_close(out, messages + layer.res(x) + layer.bias)


def test_pyg_returns_the_edges_in_the_given_order() -> None:
    """With add_self_loops=False PyG keeps batched_edge_index's order (the mapping does not rely on it)."""
    torch.manual_seed(0)
    pyg = GATv2Conv(5, 3, heads=2, add_self_loops=False, residual=True)
    edge_index = batched_edge_index(NEIGHBOURS, 3)
    _, (returned, alpha) = pyg(torch.randn(18, 5), edge_index, return_attention_weights=True)
    assert torch.equal(returned, edge_index) and alpha.shape == (36, 2)


def test_dense_edge_attention_maps_edges_in_any_order() -> None:
    edge_index = batched_edge_index(NEIGHBOURS, 2)  # [2, 24]
    alpha = torch.arange(48.0).view(24, 2)  # edge e, head m → 2e + m
    expected = alpha.view(2, 6, 2, 2)
    torch.testing.assert_close(dense_edge_attention(edge_index, alpha, NEIGHBOURS, 2), expected)
    shuffled = torch.randperm(24, generator=torch.Generator().manual_seed(0))
    mapped = dense_edge_attention(edge_index[:, shuffled], alpha[shuffled], NEIGHBOURS, 2)
    torch.testing.assert_close(mapped, expected)


def test_dense_edge_attention_names_missing_edges() -> None:
    edge_index = batched_edge_index(NEIGHBOURS, 2)
    with pytest.raises(ValueError, match="lacks edges of the 2 copies of the 6-category, K=2 graph"):
        dense_edge_attention(edge_index[:, 1:], torch.ones(23, 2), NEIGHBOURS, 2)


def test_checkpointed_chunks_return_the_same_attention() -> None:
    torch.manual_seed(0)
    full = DenseGATv2Conv(5, 3, heads=2).double()
    chunked = DenseGATv2Conv(5, 3, heads=2, chunk_size=4).double()
    chunked.load_state_dict(full.state_dict())
    x = torch.randn(3, 6, 5, dtype=torch.float64, requires_grad=True)
    out, alpha = full(x, NEIGHBOURS, return_attention=True)
    out_chunked, alpha_chunked = chunked(x, NEIGHBOURS, return_attention=True)
    torch.testing.assert_close(out_chunked, out)
    torch.testing.assert_close(alpha_chunked, alpha)
    alpha_chunked[:, :, 0].sum().backward()  # α is differentiable through the checkpointed chunks
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.slow
def test_the_compiled_attention_matches_the_eager_layer() -> None:
    torch.manual_seed(0)
    eager = DenseGATv2Conv(5, 4, heads=2)
    compiled = DenseGATv2Conv(5, 4, heads=2, compile_attention=True)
    compiled.load_state_dict(eager.state_dict())
    x = torch.randn(3, 6, 5, requires_grad=True)
    x_compiled = x.detach().clone().requires_grad_(True)
    (out, alpha), (out_c, alpha_c) = (
        eager(x, NEIGHBOURS, return_attention=True),
        compiled(x_compiled, NEIGHBOURS, return_attention=True),
    )
    torch.testing.assert_close(out_c, out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(alpha_c, alpha, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    out_c.sum().backward()
    torch.testing.assert_close(x_compiled.grad, x.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled.att.grad, eager.att.grad, rtol=1e-4, atol=1e-5)


def test_compile_with_pyg_is_rejected() -> None:
    with pytest.raises(ValueError, match="ist.compile needs implementation 'dense'"):
        ISTConfig(implementation="pyg", compile=True)
