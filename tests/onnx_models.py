"""Small ONNX models for the ONNX tests: an MLP written with onnx.helper, and LeNet-5
and a VGG-style net exported from PyTorch (torch.onnx.export)."""
from __future__ import annotations

import io

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp(seed=0, sizes=(784, 64, 32, 10)) -> onnx.ModelProto:
    """MatMul + Add + Relu layers and a Gemm for the logits; batch size symbolic."""
    rng = np.random.default_rng(seed)
    nodes, inits, h = [], [], "x"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        b = (0.1 * rng.standard_normal(n_out)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"fc{i}.weight"),
                  numpy_helper.from_array(b, f"fc{i}.bias")]
        if i == len(sizes) - 2:
            nodes.append(helper.make_node("Gemm", [h, f"fc{i}.weight", f"fc{i}.bias"],
                                          ["logits"], name=f"fc{i}"))
        else:
            nodes += [helper.make_node("MatMul", [h, f"fc{i}.weight"], [f"mm{i}"]),
                      helper.make_node("Add", [f"mm{i}", f"fc{i}.bias"], [f"pre{i}"]),
                      helper.make_node("Relu", [f"pre{i}"], [f"h{i}"])]
            h = f"h{i}"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", sizes[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", sizes[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def torch_lenet5():
    import torch
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(400, 120), torch.nn.ReLU(),
        torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10))


def torch_vgg():
    """VGG-style: 3x3 convolutions with batch norm (eval mode) and ReLU, poolings,
    a global average pool and a dense head."""
    import torch
    torch.manual_seed(0)
    layers, c_in = [], 3
    for c_out, pool in ((16, False), (16, True), (32, False), (32, True)):
        layers += [torch.nn.Conv2d(c_in, c_out, 3, padding=1), torch.nn.BatchNorm2d(c_out),
                   torch.nn.ReLU()]
        if pool:
            layers.append(torch.nn.MaxPool2d(2))
        c_in = c_out
    layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(c_in, 10)]
    net = torch.nn.Sequential(*layers)
    with torch.no_grad():   # batch-norm statistics that are not the identity
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.8, 1.2)     # distinct: the exporter shares equal ones
                m.bias.uniform_(-0.1, 0.1)
    return net.eval()


def export_torch(net, input_shape, fold=True) -> onnx.ModelProto:
    import torch
    buf = io.BytesIO()
    torch.onnx.export(net, torch.zeros(input_shape), buf, dynamo=False, opset_version=17,
                      do_constant_folding=fold,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    return onnx.load_from_string(buf.getvalue())
