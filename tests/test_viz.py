"""gc.viz.to_dot: the structure of the DOT it writes (no renderer needed)."""
import re

import numpy as np
import pytest

import graphc as gc
from graphc.viz import style

NODE = re.compile(r"^\s*(\w+) \[(.*)\]$")
EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$")
SUBGRAPH = re.compile(r"^\s*subgraph (\w+) \{$")
ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)')


class Dot:
    """The nodes, edges and clusters of DOT text as written by graphviz.Digraph; edges
    in the direction the arrows point."""

    def __init__(self, source: str):
        self.nodes: dict[str, dict] = {}
        self.edges: list[tuple[str, str, dict]] = []
        self.clusters: dict[str, dict] = {}        # name -> attrs, plus parent / members
        stack: list[str] = []
        for line in source.splitlines():
            if m := SUBGRAPH.match(line):
                self.clusters[m.group(1)] = {"parent": stack[-1] if stack else None,
                                             "members": []}
                stack.append(m.group(1))
            elif line.strip() == "}":
                if stack:
                    stack.pop()
            elif m := EDGE.match(line):
                tail, head, edge = m.group(1), m.group(2), attrs(m.group(3) or "")
                if edge.get("dir") == "back":           # laid out reversed, drawn forward
                    tail, head = head, tail
                self.edges.append((tail, head, edge))
            elif m := NODE.match(line):
                name, body = m.groups()
                if name in ("graph", "node", "edge"):
                    continue
                self.nodes[name] = dict(attrs(body), cluster=stack[-1] if stack else None)
                if stack:
                    self.clusters[stack[-1]]["members"].append(name)
            elif stack and (m := ATTR.match(line.strip())):
                self.clusters[stack[-1]].update(attrs(line))

    def label(self, key: str) -> str:
        return self.nodes[key]["label"]

    def cluster_labels(self) -> list[str]:
        return sorted(c.get("label", "") for c in self.clusters.values())


def attrs(text: str) -> dict:
    out = {}
    for key, value in ATTR.findall(text):
        if value.startswith('"'):
            value = value[1:-1]
        out[key] = value.replace("\\n", "\n")
    return out


def node_key(node) -> str:
    return f"n{node.id}"


def parse(target, **options) -> Dot:
    return Dot(gc.viz.to_dot(target, **options).source)


# -- the lecture's circuits -------------------------------------------------------------------
def add_mul(graph):
    x = gc.placeholder(gc.float64, (), name="x")
    y = gc.placeholder(gc.float64, (), name="y")
    z = gc.placeholder(gc.float64, (), name="z")
    q = gc.add(x, y, name="q")
    f = gc.multiply(q, z, name="f")
    return x, y, z, q, f


def test_forward_circuit_has_one_box_per_node_and_one_edge_per_input(graph):
    x, y, z, q, f = add_mul(graph)
    dot = parse(f)
    assert set(dot.nodes) == {node_key(n) for n in (x, y, z, q, f)}
    assert sorted((a, b) for a, b, _ in dot.edges) == sorted(
        [(node_key(x), node_key(q)), (node_key(y), node_key(q)), (node_key(q), node_key(f)),
         (node_key(z), node_key(f))])
    assert dot.label(node_key(x)) == "x\nplaceholder f64[]"
    assert dot.label(node_key(q)) == "q\nadd f64[]"
    assert all(dot.nodes[node_key(n)]["shape"] == "ellipse" for n in (q, f))
    assert dot.clusters == {}


def test_fetches_draw_only_their_ancestors_and_a_graph_draws_everything(graph):
    x, y, z, q, f = add_mul(graph)
    unrelated = gc.exp(x, name="unrelated")
    assert node_key(unrelated) not in parse(f).nodes
    assert node_key(unrelated) in parse(graph).nodes
    assert len(parse(graph).nodes) == len(graph.nodes)
    assert set(parse(q).nodes) == {node_key(n) for n in (x, y, q)}


def backward_graph(graph):
    x, y, z, q, f = add_mul(graph)
    grads = gc.gradients(f, [x, y, z])
    return (x, y, z, q, f), grads


def test_backward_nodes_are_styled_apart_and_say_what_they_differentiate(graph):
    _, grads = backward_graph(graph)
    dot = parse(list(grads))
    backward = [n for n in graph.nodes if n.grad_of is not None]
    assert backward
    for n in backward:
        box = dot.nodes[node_key(n)]
        assert box["fillcolor"] == style.BACKWARD_FILL
        assert box["color"] == style.BACKWARD_LINE
        if n.op.name != "constant":
            assert box["shape"] == "box" and "rounded" in box["style"]
        info = n.grad_of
        if info.input_index is None:
            assert f"backward of {info.forward.name}" in box["label"]
        else:
            wrt = info.forward.inputs[info.input_index].name
            assert f"∂/∂{wrt} via {info.forward.name}" in box["label"]
    for n in graph.nodes:
        if n.grad_of is None and n.op.name in ("add", "mul"):
            assert dot.nodes[node_key(n)]["fillcolor"] == "#ffffff"
    # dz = q * upstream: the finished gradient of z says so
    dz = grads[2]
    assert "∂/∂z via f" in dot.label(node_key(dz))


def test_gradient_edges_are_highlighted(graph):
    _, grads = backward_graph(graph)
    dot = parse(list(grads))
    by_key = {node_key(n): n for n in graph.nodes}
    kinds = set()
    for a, b, edge in dot.edges:
        src, dst = by_key[a], by_key[b]
        if src.grad_of is not None:
            kinds.add("gradient")
            assert edge["color"] == style.EDGE_STYLE["gradient"]["color"]
            assert float(edge["penwidth"]) >= 2
        elif dst.grad_of is not None:
            kinds.add("saved")
            assert edge["style"] == "dashed"
        else:
            kinds.add("data")
            assert edge["color"] == style.EDGE_STYLE["data"]["color"]
            assert "penwidth" not in edge and "style" not in edge
    assert kinds == {"gradient", "saved", "data"}


def test_variables_placeholders_and_constants_show_shape_and_dtype():
    from graphc.examples_support import two_layer_graph
    g, t, _ = two_layer_graph()
    dot = parse([t["loss"], t["train"]])
    assert dot.label(node_key(t["x"])) == "x\nplaceholder f32[?,1000]"
    assert dot.label(node_key(t["w1"])) == "w1\nvariable f32[1000,100]"
    assert dot.nodes[node_key(t["w1"])]["shape"] == "box"
    lr = g.get_tensor_by_name("Const")
    assert dot.label(node_key(lr)) == "Const = 0.0001\nf32[]"
    update = g.get_tensor_by_name("assign_sub")
    assert "assign_sub → w1" in dot.label(node_key(update))
    train = t["train"]
    control = [e for a, b, e in dot.edges if b == node_key(train)]
    assert len(control) == 2 and all(e["style"] == "dotted" for e in control)


def test_array_constants_and_dtypes_in_labels(graph):
    c = gc.constant(np.ones((2, 3), np.int32), name="table")
    s = gc.reduce_sum(c, name="total")
    dot = parse(s)
    assert dot.label(node_key(c)) == "table\nconstant i32[2,3]"
    assert dot.label(node_key(s)) == "total\nreduce_sum i32[]"


# -- scopes, collapsing, kernels --------------------------------------------------------------
def scoped_net(graph, layers=3):
    """x -> layer_i/{dense/{matmul, add}, relu} for each i: three levels of scopes."""
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    h = x
    for i in range(layers):
        with gc.name_scope(f"layer{i}"):
            with gc.name_scope("dense"):
                w = gc.Variable(np.ones((4, 4), np.float32), name="w")
                h = gc.matmul(h, w) + 1.0
            h = gc.nn.relu(h, name="relu")
    loss = gc.reduce_sum(h, name="loss")
    return x, loss


def test_one_cluster_per_name_scope_nested_like_the_scopes(graph):
    x, loss = scoped_net(graph)
    dot = parse(loss, collapse_depth=None)
    labels = dot.cluster_labels()
    assert labels == sorted(["layer0/", "layer1/", "layer2/", "dense/", "dense/", "dense/"])
    w = graph.get_tensor_by_name("layer1/dense/w")
    relu = graph.get_tensor_by_name("layer1/relu")
    dense = dot.nodes[node_key(w)]["cluster"]
    layer = dot.nodes[node_key(relu)]["cluster"]
    assert dot.clusters[dense]["label"] == "dense/"
    assert dot.clusters[dense]["parent"] == layer
    assert dot.clusters[layer]["label"] == "layer1/"
    assert dot.nodes[node_key(x)]["cluster"] is None
    assert len(dot.nodes) == len(graph.nodes)


def test_collapse_depth_turns_deep_scopes_into_summary_boxes(graph):
    x, loss = scoped_net(graph)
    depth1 = parse(loss, collapse_depth=1)
    summaries = [k for k, n in depth1.nodes.items() if n["shape"] == "folder"]
    assert len(summaries) == 3                                 # one dense/ per layer
    for key in summaries:
        label = depth1.label(key)
        assert label.startswith("dense/\n4 ops: ")        # variable, matmul, constant, add
        assert "matmul" in label and "variable" in label
    assert depth1.cluster_labels() == ["layer0/", "layer1/", "layer2/"]
    # x, 3 × (summary + relu), loss
    assert len(depth1.nodes) == 1 + 3 * 2 + 1
    # edges: x->dense0, dense_i->relu_i, relu_i->dense_{i+1}, relu2->loss; none inside
    assert len(depth1.edges) == 1 + 3 + 2 + 1
    assert all(a != b for a, b, _ in depth1.edges)

    depth0 = parse(loss, collapse_depth=0)
    assert depth0.clusters == {}
    first_lines = sorted(depth0.label(k).split("\n")[0] for k in depth0.nodes)
    assert first_lines == ["layer0/", "layer1/", "layer2/", "loss", "x"]
    assert "5 ops" in depth0.label("s0")


def test_auto_collapse_keeps_the_picture_within_budget(graph):
    x, loss = scoped_net(graph, layers=6)
    full = parse(loss, collapse_depth=None)
    assert len(parse(loss).nodes) == len(full.nodes)          # small: nothing collapsed
    small = parse(loss, max_items=20)
    assert len(small.nodes) <= 20 and any(n["shape"] == "folder" for n in small.nodes.values())
    tiny = parse(loss, max_items=3)                            # cannot fit: depth 0
    assert small.clusters and not tiny.clusters


def test_fetched_tensors_are_never_hidden_in_a_summary(graph):
    x, loss = scoped_net(graph)
    relu = graph.get_tensor_by_name("layer1/relu")
    dot = parse([loss, relu], collapse_depth=0)
    assert node_key(relu) in dot.nodes


def test_kernels_are_drawn_as_clusters_of_their_member_ops(graph):
    from graphc.examples_support import two_layer_graph
    g, t, _ = two_layer_graph()
    h = g.get_tensor_by_name("h")
    mm = g.get_tensor_by_name("matmul")
    sub = g.get_tensor_by_name("sub")
    square = g.get_tensor_by_name("square")
    loss = t["loss"]
    kernels = {mm: 0, h: 0, sub: "ew1", square: "ew1", loss: "ew1"}
    dot = parse([t["loss"], t["train"]], kernels=kernels)
    frames = {name: c for name, c in dot.clusters.items() if "kernel" in c.get("label", "")}
    assert len(frames) == 2
    members = {c["label"]: sorted(c["members"]) for c in frames.values()}
    assert members == {"kernel 0 · 2 ops": sorted([node_key(mm), node_key(h)]),
                       "kernel ew1 · 3 ops": sorted(node_key(n) for n in (sub, square, loss))}
    assert all(c["style"].startswith("dashed") for c in frames.values())
    assert len(dot.nodes) == len(g.ancestors([t["loss"], t["train"]]))


def test_kernel_members_stay_visible_inside_collapsed_scopes(graph):
    x, loss = scoped_net(graph)
    mm = graph.get_tensor_by_name("layer1/dense/matmul")
    add = graph.get_tensor_by_name("layer1/dense/add")
    relu = graph.get_tensor_by_name("layer1/relu")
    dot = parse(loss, collapse_depth=1, kernels={mm: 7, add: 7, relu: 7})
    frame = next(name for name, c in dot.clusters.items() if c.get("label", "").startswith(
        "kernel 7"))
    assert sorted(dot.clusters[frame]["members"]) == sorted(map(node_key, (mm, add, relu)))
    parent = dot.clusters[frame]["parent"]
    assert dot.clusters[parent]["label"] == "layer1/"       # the members' common scope
    # the rest of layer1/dense (variable, constant) is still one summary box
    assert any(n["shape"] == "folder" and n["cluster"] == parent for n in dot.nodes.values())


def test_kernels_must_map_tensors(graph):
    x, loss = scoped_net(graph)
    with pytest.raises(TypeError, match="not a graphc tensor"):
        gc.viz.to_dot(loss, kernels={"layer1/relu": 0})
    with pytest.raises(TypeError, match="kernel id"):
        gc.viz.to_dot(loss, kernels=[loss])


# -- options ----------------------------------------------------------------------------------
def test_show_backward_false_draws_the_backward_graph_as_one_box(graph):
    (x, y, z, q, f), grads = backward_graph(graph)
    dot = parse([f] + list(grads), show_backward=False)
    assert "hidden_backward" in dot.nodes
    hidden = [n for n in graph.nodes if n.grad_of is not None and n not in grads]
    assert f"{len(hidden)} ops hidden" in dot.label("hidden_backward")
    for g in grads:                                             # fetched: still drawn
        assert node_key(g) in dot.nodes
    assert not [e for e in dot.edges if e[1] == "hidden_backward"]
    out = [e for e in dot.edges if e[0] == "hidden_backward"]
    assert out and all(e[2]["color"] == style.EDGE_STYLE["gradient"]["color"] for e in out)


def test_values_are_printed_small_and_as_norms_when_large(graph):
    (x, y, z, q, f), grads = backward_graph(graph)
    big = gc.placeholder(gc.float64, (3, 4), name="big")
    total = gc.reduce_sum(big * 2.0, name="total")
    feed = {x: -2.0, y: 5.0, z: -4.0, big: np.full((3, 4), 0.5)}
    fetches = [f, q, total, big] + list(grads)
    values = dict(zip(fetches, gc.Session(graph).run(fetches, feed)))
    dot = parse([f, total] + list(grads), values=values)
    assert dot.label(node_key(f)).endswith("= -12")
    assert dot.label(node_key(q)).endswith("= 3")
    assert dot.label(node_key(grads[2])).endswith("= 3")       # df/dz = q
    assert dot.label(node_key(grads[0])).endswith("= -4")      # df/dx = z
    assert dot.label(node_key(big)).endswith("‖·‖ = 1.732")


def test_legend_lists_only_what_the_picture_uses(graph):
    _, grads = backward_graph(graph)
    source = gc.viz.to_dot(list(grads), legend=True).source
    assert "legend [label=<<table" in source
    for text in ("placeholder (fed)", "forward op", "gradient (backward value)",
                 "forward value read by backward", "made by the backward pass"):
        assert text in source
    assert "variable update" not in source and "runs after" not in source
    assert "legend" not in gc.viz.to_dot(list(grads)).source


def test_programs_draw_the_nodes_they_run():
    from graphc.examples_support import two_layer_graph
    from graphc.runtime.program import Program
    g, t, _ = two_layer_graph()
    program = Program.build(g, [t["loss"], t["train"]], [t["x"], t["y"]])
    dot = parse(program)
    assert set(dot.nodes) == {node_key(n) for n in program.nodes}


def test_title_and_direction(graph):
    x, y, z, q, f = add_mul(graph)
    source = gc.viz.to_dot(f, title="(x+y)*z", rankdir="LR").source
    assert 'label="(x+y)*z"' in source and "rankdir=LR" in source


def test_bad_arguments_get_clear_errors(graph):
    x, y, z, q, f = add_mul(graph)
    with pytest.raises(TypeError, match="cannot draw"):
        gc.viz.to_dot("f")
    with pytest.raises(ValueError, match="collapse_depth"):
        gc.viz.to_dot(f, collapse_depth=-1)
    with pytest.raises(ValueError, match="rankdir"):
        gc.viz.to_dot(f, rankdir="down")
    with pytest.raises(ValueError, match="empty"):
        gc.viz.to_dot([])
    other = gc.Graph()
    with other.as_default():
        w = gc.placeholder(gc.float32, (), name="w")
    with pytest.raises(ValueError, match="two graphs"):
        gc.viz.to_dot([f, w])


def test_a_fused_program_is_drawn_with_one_cluster_per_kernel():
    from graphc.examples_support import two_layer_graph
    from graphc.passes import compile_program
    g, t, _ = two_layer_graph()
    result = compile_program([t["loss"], t["train"]], {t["x"]: (8, 1000), t["y"]: (8, 10)})
    program = result.program
    kernels = program.annotations["kernels"].kernels
    dot = parse(program)
    frames = {c["label"]: sorted(c["members"]) for c in dot.clusters.values()
              if c.get("label", "").startswith("kernel ")}
    assert len(frames) == len(kernels)
    for i, kernel in enumerate(kernels):
        count = len(kernel.members)
        label = f"kernel {i} {kernel.kind} · {count} op" + ("" if count == 1 else "s")
        assert frames[label] == sorted(node_key(m) for m in kernel.members)
    assert not any(c.get("label", "").startswith("kernel ")
                   for c in parse(program, kernels={}).clusters.values())


def test_updates_point_at_the_variable_they_write_without_ranking_it(graph):
    w = gc.Variable(np.ones(3, np.float32), name="w")
    step = gc.assign_sub(w, gc.constant(np.full(3, 0.5, np.float32), name="delta"),
                         name="step")
    dot = parse(step)
    (write,) = [e for a, b, e in dot.edges if a == node_key(step) and b == node_key(w)]
    assert write["constraint"] == "false" and write["style"] == "dashed"
    assert not [e for a, b, e in dot.edges if a == node_key(w)]


def test_backward_edges_are_laid_out_upwards_beside_the_forward_pass(graph):
    _, grads = backward_graph(graph)
    source = gc.viz.to_dot(list(grads)).source
    chain = [line for line in source.splitlines() if "->" in line and "dir=back" in line]
    assert chain                                 # backward-to-backward edges, reversed
    by_key = {node_key(n): n for n in graph.nodes}
    for line in chain:
        head, tail = EDGE.match(line).group(1, 2)  # written dst -> src
        assert by_key[head].grad_of is not None and by_key[tail].grad_of is not None
        assert by_key[head].id > by_key[tail].id
    assert "dir=back" not in gc.viz.to_dot(list(grads), backward_up=False).source


def test_boxes_with_many_inputs_do_not_rank_them(graph):
    xs = [gc.placeholder(gc.float32, (), name=f"x{i}") for i in range(14)]
    total = gc.add_n(xs, name="total")
    dot = parse(total)
    assert all(e["constraint"] == "false" for a, b, e in dot.edges if b == node_key(total))
    few = gc.add_n(xs[:3], name="few")
    assert all("constraint" not in e for a, b, e in parse(few).edges)


def test_optimizer_state_is_labelled_as_such_and_updates_are_named_after_their_layer(graph):
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    h = gc.layers.dense(x, 3, name="hidden")
    loss = gc.reduce_mean(gc.layers.dense(h, 2, name="out") ** 2)
    train = gc.train.MomentumOptimizer(0.1, momentum=0.9).minimize(loss)
    scopes = {n.name.split("/")[1] for n in graph.ancestors([train])
              if n.name.startswith("Momentum/update_")}
    assert scopes == {"update_hidden_kernel", "update_hidden_bias", "update_out_kernel",
                      "update_out_bias"}
    source = gc.viz.to_dot(train, collapse_depth=None).source
    assert "(frozen)" not in source
    assert source.count("Momentum momentum f32") == 4     # one velocity per variable


def test_updates_fold_into_one_box_per_layer_and_backward_frames_follow_layers(graph):
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    h = gc.layers.dense(x, 3, name="hidden")
    loss = gc.reduce_mean(gc.layers.dense(h, 2, name="out") ** 2)
    train = gc.train.MomentumOptimizer(0.1, momentum=0.9).minimize(loss)
    view = gc.viz.view.build_view([loss, train])
    boxes = {i.scope: i for i in view.items if view.is_update_box(i)}
    assert set(boxes) == {"Momentum/update_hidden", "Momentum/update_out"}
    slots = [n for n in boxes["Momentum/update_hidden"].nodes if "slot_of" in n.attrs]
    assert sorted(n.name for n in slots) == ["hidden/bias/Momentum", "hidden/kernel/Momentum"]
    label = style.label_lines(boxes["Momentum/update_out"])
    assert label[0] == "update_out/" and label[-1] == "updates out/kernel, out/bias"
    # the backward pass is framed by the layer each node differentiates
    matmul_grads = [n for n in view.path
                    if n.grad_of is not None and n.grad_of.forward.name == "hidden/matmul"]
    assert matmul_grads and all(view.path[n][:2] == ("gradients", "hidden")
                                for n in matmul_grads)
    # asked for, the updates open like any frame
    opened = gc.viz.view.build_view([loss, train], show_updates=True)
    assert not any(opened.is_update_box(i) for i in opened.items)
    assert ("Momentum", "update_hidden") in opened.expanded


def test_a_collapsed_layer_shows_its_shapes_and_variables(graph):
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    h = gc.layers.dense(x, 3, name="hidden", activation=gc.nn.relu)
    loss = gc.reduce_mean(h, name="loss")
    dot = parse(loss, collapse_depth=0)
    (layer,) = [k for k, n in dot.nodes.items() if n["label"].startswith("hidden/")]
    lines = dot.label(layer).split("\n")
    assert lines[2:] == ["f32[?,4] → f32[?,3]", "kernel f32[4,3], bias f32[3]"]
