"""Writes the tiny ONNX graphs the tests use to prove the loader rejects mismatched models.

    /usr/bin/python3 tools/make_fixture_models.py test/fixtures/onnx

wrong-inputs.onnx: takes `ids` instead of `input_ids`/`attention_mask`.
three-logits.onnx: right inputs, but `logits` is [batch, 3].
"""
import sys

import onnx
from onnx import TensorProto, helper


def graph_with(inputs, width, name):
    # logits = ReduceSum(cast(first input), axis 1, keepdims) tiled to `width` columns
    nodes = [
        helper.make_node("Cast", [inputs[0]], ["as_float"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["as_float", "axes"], ["summed"], keepdims=1),
        helper.make_node("Tile", ["summed", "repeats"], ["logits"]),
    ]
    initializers = [
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        helper.make_tensor("repeats", TensorProto.INT64, [2], [1, width]),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in inputs],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", width])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


out = sys.argv[1]
onnx.save(graph_with(["ids"], 4, "wrong_inputs"), f"{out}/wrong-inputs.onnx")
onnx.save(graph_with(["input_ids", "attention_mask"], 3, "three_logits"), f"{out}/three-logits.onnx")
