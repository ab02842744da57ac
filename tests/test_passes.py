"""Each pass on small hand-written graphs, with the exact IR it must produce."""
import numpy as np
import pytest

import graphc as gc
from graphc import passes
from graphc.passes import (CommonSubexpressions, FoldConstants, Fuse, PlanMemory, Prune, Simplify,
                           Specialize)


def run_passes(fetches, feed_shapes, *extra):
    fixed = [Prune(), Specialize(feed_shapes)]
    return passes.compile_program(fetches, feed_shapes, passes=fixed + list(extra)).program


def text(program):
    return program.format(locations=False)


def lines(*rows):
    return "\n".join(rows)


def test_prune_keeps_what_the_fetches_need(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    gc.exp(x, name="unused")
    y = gc.negative(x, name="y")
    result = passes.compile_program([y], {x: (4, 3)}, passes=[Prune()])
    assert text(result.program) == lines("%x = placeholder() : f32[?,3]",
                                         "%y = neg(%x) : f32[?,3]",
                                         "// roots: %y")
    assert result.records[0].stats == {"graph nodes": 3, "kept": 2}


def test_specialize_gives_concrete_shapes(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    y = gc.reduce_sum(x, axis=0, name="y")
    assert text(run_passes([y], {x: (4, 3)})) == lines(
        "%x = placeholder() : f32[4,3]",
        "%y = reduce_sum(%x) {axes=(0,), keepdims=False} : f32[3]",
        "// roots: %y")


def test_fold_constants_and_shape_only_ops(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    c = gc.constant(2.0, name="c")
    y = x * (c * 3.0) + gc.cast(gc.size(x), gc.float32)
    assert text(run_passes([y], {x: (4, 3)}, FoldConstants())) == lines(
        "%x = placeholder() : f32[4,3]",
        "%mul = constant() {value=6.} : f32[]",
        "%mul_1 = mul(%x, %mul) : f32[4,3]",
        "%cast = constant() {value=12.} : f32[]",
        "%add = add(%mul_1, %cast) : f32[4,3]",
        "// roots: %add")


def test_fold_leaves_large_results_as_ops(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    y = x * gc.ones_like(x)
    small = run_passes([y], {x: (2, 3)}, FoldConstants(max_elements=6))
    big = run_passes([y], {x: (4, 3)}, FoldConstants(max_elements=6))
    assert [n.op.name for n in small.nodes] == ["placeholder", "constant", "mul"]
    assert [n.op.name for n in big.nodes] == ["placeholder", "fill_like", "mul"]


def test_cse_merges_equal_expressions(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    y = gc.exp(x) + gc.exp(x) * gc.constant(2.0) + gc.constant(2.0)
    assert text(run_passes([y], {x: (4, 3)}, CommonSubexpressions())) == lines(
        "%x = placeholder() : f32[4,3]",
        "%exp = exp(%x) : f32[4,3]",
        "%Const = constant() {value=2.} : f32[]",
        "%mul = mul(%exp, %Const) : f32[4,3]",
        "%add = add(%exp, %mul) : f32[4,3]",
        "%add_1 = add(%add, %Const) : f32[4,3]",
        "// roots: %add_1")


def test_cse_never_merges_random_or_stateful_ops(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    v = gc.Variable(np.zeros(3, np.float32), name="v")
    w = gc.Variable(np.zeros(3, np.float32), name="w")
    a = gc.nn.dropout(x, rate=0.5, seed=1)
    b = gc.nn.dropout(x, rate=0.5, seed=1)
    u1, u2 = gc.assign_add(v, gc.reduce_sum(a, 0)), gc.assign_add(w, gc.reduce_sum(b, 0))
    program = run_passes([a + b, u1, u2], {x: (4, 3)}, CommonSubexpressions())
    random_ops = [n for n in program.nodes if n.op.stateful and n.op.name != "variable"]
    assert len([n for n in random_ops if "assign" not in n.op.name]) == 2
    assert len([n for n in random_ops if "assign" in n.op.name]) == 2


def test_simplify_identities(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    y = gc.negative(gc.negative(gc.identity(x * 1.0 + 0.0) / 1.0 - 0.0))
    assert text(run_passes([y], {x: (4, 3)}, Simplify())) == lines(
        "%x = placeholder() : f32[4,3]",
        "// roots: %x")


def test_simplify_never_drops_multiplication_by_zero(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    y = x * 0.0
    program = run_passes([y], {x: (4, 3)}, Simplify())
    assert [n.op.name for n in program.nodes] == ["placeholder", "constant", "mul"]
    out, _ = passes.execute_program(program, {x: np.array([[np.inf, np.nan, 1.0]] * 4)}, {})
    assert np.isnan(out[0][0, 0]) and np.isnan(out[0][0, 1]) and out[0][0, 2] == 0.0


def test_simplify_transpose_and_reshape_chains(graph):
    x = gc.placeholder(gc.float32, (3, 4, 5), name="x")
    t = gc.transpose(gc.transpose(x, (1, 2, 0)), (1, 2, 0))
    back = gc.transpose(gc.transpose(x, (2, 0, 1)), (1, 2, 0))
    r = gc.reshape(gc.reshape(gc.reshape(x, (12, 5)), (60,)), (5, 12))
    same = gc.reshape(gc.reshape(x, (60,)), (3, 4, 5))
    assert text(run_passes([t, back, r, same], {}, Simplify())) == lines(
        "%x = placeholder() : f32[3,4,5]",
        "%transpose_1 = transpose(%x) {perm=(2, 0, 1)} : f32[5,3,4]",
        "%reshape_2 = reshape(%x) {shape=(5, 12)} : f32[5,12]",
        "// roots: %transpose_1, %x, %reshape_2")


def test_simplify_gradient_of_a_sum_over_a_broadcast(graph):
    b = gc.placeholder(gc.float32, (3,), name="b")
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    loss = gc.reduce_sum(x + b)
    (db,) = gc.gradients(loss, [b])
    program = passes.compile_program([db], {x: (4, 3)}).program
    # d/db Σ(x + b) = a count of rows: one constant, no reduction over a broadcast left
    assert [n.op.name for n in program.nodes] == ["constant"]
    np.testing.assert_array_equal(program.nodes[0].attrs["value"], [4.0, 4.0, 4.0])


def test_simplify_ones_from_the_seed_gradient_disappear(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    w = gc.Variable(np.ones((3, 2), np.float32), name="w")
    loss = gc.reduce_sum(gc.matmul(x, w))
    (dw,) = gc.gradients(loss, [w])
    ops = [n.op.name for n in passes.compile_program([dw], {x: (4, 3)}).program.nodes]
    assert "fill_like" not in ops and ops.count("mul") == 0


def test_a_rewritten_node_keeps_its_scope_and_the_name_the_user_gave_it(graph):
    z = gc.placeholder(gc.float32, (None, 3), name="z")
    y = gc.placeholder(gc.int32, (None,), name="y")
    with gc.name_scope("head"):
        loss = gc.negative(gc.reduce_sum(gc.one_hot(y, 3) * gc.log(gc.nn.softmax(z)),
                                          axis=1), name="xent")
        log_p = gc.log(gc.nn.softmax(z, axis=0))
    program = run_passes([loss, log_p], {z: (2, 3), y: (2,)}, Simplify())
    named, auto = program.outputs
    assert (named.op.name, named.name) == ("sparse_softmax_cross_entropy", "head/xent")
    assert auto.op.name == "log_softmax" and auto.name.startswith("head/log_softmax")


def test_simplify_log_softmax_and_cross_entropy_patterns(graph):
    z = gc.placeholder(gc.float32, (None, 3), name="z")
    y = gc.placeholder(gc.int32, (None,), name="y")
    naive = -gc.reduce_sum(gc.one_hot(y, 3) * gc.log(gc.nn.softmax(z)), axis=1)
    log_p = gc.log(gc.nn.softmax(z, axis=0))
    assert text(run_passes([naive, log_p], {z: (2, 3), y: (2,)}, Simplify())) == lines(
        "%z = placeholder() : f32[2,3]",
        "%y = placeholder() : i32[2]",
        "%sparse_softmax_cross_entropy = sparse_softmax_cross_entropy(%z, %y) : f32[2]",
        "%log_softmax_1 = log_softmax(%z) {axis=0} : f32[2,3]",
        "// roots: %sparse_softmax_cross_entropy, %log_softmax_1")


def test_simplified_cross_entropy_is_stable(graph):
    z = gc.placeholder(gc.float32, (None, 3), name="z")
    y = gc.placeholder(gc.int32, (None,), name="y")
    naive = -gc.reduce_sum(gc.one_hot(y, 3) * gc.log(gc.nn.softmax(z)), axis=1)
    feed = {z: np.array([[200.0, 0.0, -200.0]], np.float32), y: np.array([2])}
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = gc.Session(graph, backend="numpy").run(naive, feed)
    assert not np.isfinite(raw[0])                # log(0) in the composition: 0 · −inf
    program = passes.compile_program([naive], {z: (1, 3), y: (1,)}).program
    out, _ = passes.execute_program(program, feed, {})
    np.testing.assert_allclose(out[0], [400.0])   # the fused op does not


def test_fusion_epilogue_into_gemm(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    w = gc.Variable(np.ones((3, 2), np.float32), name="w")
    b = gc.Variable(np.zeros(2, np.float32), name="b")
    y = gc.nn.relu(gc.matmul(x, w, name="mm") + b, name="act")
    program = run_passes([y], {x: (4, 3)}, Fuse())
    assert program.annotations["kernels"].format(locations=False) == lines(
        "%x = placeholder() : f32[4,3]",
        "%w = variable() : f32[3,2]",
        "%b = variable() : f32[2]",
        "kernel 0 gemm -> %act (fetched) reads %x, %w, %b",
        "    %mm = matmul(%x, %w) : f32[4,2]",
        "    %add = add(%mm, %b) : f32[4,2]",
        "    %act = relu(%add) : f32[4,2]")


def test_fusion_prologue_into_reduction(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    y = gc.reduce_sum(gc.square(x - 1.0), name="ss")
    kernels = run_passes([y], {x: (4, 3)}, Fuse()).annotations["kernels"].kernels
    assert len(kernels) == 1 and kernels[0].kind == "reduction"
    assert kernels[0].fused_ops == ["sub", "square", "reduce_sum"]


def test_multi_consumer_policy(graph):
    """A cheap shared value is recomputed in each kernel; a costly one is materialised."""
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    w = gc.Variable(np.ones((3, 3), np.float32), name="w")
    cheap = gc.exp(x, name="cheap")
    costly = gc.matmul(x, w, name="costly")
    outs = [gc.reduce_sum(cheap, name="s1"), gc.reduce_max(cheap, name="m1"),
            gc.reduce_sum(costly, name="s2"), gc.reduce_max(costly, name="m2")]
    kg = run_passes(outs, {x: (4, 3)}, Fuse()).annotations["kernels"]
    by_root = {k.root.name: k for k in kg.kernels}
    assert by_root["s1"].fused_ops == ["exp", "reduce_sum"]
    assert by_root["m1"].fused_ops == ["exp", "reduce_max"]
    assert "cheap" not in by_root
    assert by_root["costly"].fused_ops == ["matmul"]
    assert "used by 2" in kg.reasons[by_root["costly"].root]
    assert by_root["s2"].fused_ops == ["reduce_sum"]


def test_a_small_value_broadcast_into_a_large_loop_is_computed_once(graph):
    """Batch norm's per-channel scale (rsqrt of the variance, times gamma) is a kernel of
    its own, not an rsqrt at every element; a one-op value (x − c) stays fused."""
    x = gc.placeholder(gc.float32, (None, 8, 8, 4), name="x")
    var = gc.Variable(np.ones(4, np.float32), name="var")
    gamma = gc.Variable(np.ones(4, np.float32), name="gamma")
    scale = gc.multiply(gc.rsqrt(var + 1e-3), gamma, name="scale")
    y = gc.identity((x - 1.0) * scale, name="y")
    kg = run_passes([y], {x: (16, 8, 8, 4)}, Fuse()).annotations["kernels"]
    by_root = {k.root.name: k for k in kg.kernels}
    assert by_root["scale"].fused_ops == ["add", "rsqrt", "mul"]
    assert "4-element value broadcast" in kg.reasons[by_root["scale"].root]
    assert by_root["y"].fused_ops == ["sub", "mul", "identity"]
    x2 = gc.placeholder(gc.float32, (None, 2, 4), name="x2")
    y2 = gc.identity((x2 - 1.0) * scale, name="y2")
    small = run_passes([y2], {x2: (1, 2, 4)}, Fuse()).annotations["kernels"]
    assert len(small.kernels) == 1           # a loop only twice its size: fused as before


def test_fusion_stops_at_a_broadcast_of_a_reduction(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    centred = x - gc.reduce_mean(x, axis=1, keepdims=True)
    kg = run_passes([centred], {x: (4, 3)}, Fuse()).annotations["kernels"]
    assert [k.kind for k in kg.kernels] == ["reduction", "elementwise"]
    assert "broadcast" in kg.reasons[kg.kernels[0].root]


def test_updates_run_after_every_reader_of_their_variable(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    w = gc.Variable(np.ones((3, 3), np.float32), name="w")
    y = gc.matmul(x, w, name="y")
    update = gc.assign_sub(w, gc.matmul(x, y, transpose_a=True) * 0.1, name="update")
    late_reader = gc.reduce_sum(gc.matmul(y, w, transpose_b=True, name="late_mm"), name="late")
    kg = run_passes([late_reader, update], {x: (4, 3)}, Fuse()).annotations["kernels"]
    roots = [k.root.name for k in kg.kernels]
    assert roots.index("update") > roots.index("late_mm")   # made later, reads w: runs first
    readers = [k.root.name for k in kg.kernels if "w" in [x.name for x in k.inputs]]
    assert readers == ["y", "late_mm", "update"]
    assert kg.kernels[roots.index("update")].fused_ops == ["matmul", "mul", "assign_sub"]


def test_memory_reuses_dead_buffers_and_works_in_place(graph):
    """Values never live together share memory; one live with another never does."""
    x = gc.placeholder(gc.float32, (None, 16), name="x")
    w = gc.Variable(np.eye(16, dtype=np.float32), name="w")
    m1 = gc.matmul(x, w, name="m1")
    m2 = gc.matmul(m1, w, name="m2")
    m3 = gc.matmul(m2, w, name="m3")
    program = run_passes([m3], {x: (16, 16)}, Fuse(), PlanMemory())
    plan = program.annotations["memory"]
    size = 16 * 16 * 4
    assert plan.naive_bytes == 3 * size
    m1, m3 = (n for n in plan.offsets if n.name in ("m1", "m3"))
    assert plan.offsets[m3] == plan.offsets[m1]        # m3 takes m1's memory
    assert plan.peak_bytes == 2 * size

    g2 = gc.Graph()
    with g2.as_default():
        x = gc.placeholder(gc.float32, (None, 16), name="x")
        w = gc.Variable(np.eye(16, dtype=np.float32), name="w")
        m = gc.matmul(x, w, name="m")
        total = gc.reduce_sum(m, name="total")
        z = gc.exp(m, name="z")
        program = run_passes([total, z], {x: (16, 16)}, Fuse(), PlanMemory())
    plan = program.annotations["memory"]
    assert [(a.name, b.name) for a, b in plan.in_place] == [("z", "m")]


def test_memory_never_writes_in_place_over_elements_of_another_width(graph):
    # the bool mask dies in the kernel that makes y: a float64 row fits its 64-byte slot,
    # but y[i] written over mask[8i..8i+7] would clobber elements not read yet
    x = gc.placeholder(gc.float64, (None, 3), name="x")
    mask = gc.greater_equal(gc.reduce_max(x, 1, keepdims=True), x, name="mask")
    total = gc.reduce_sum(gc.where(mask, x, 0.0), name="total")
    y = gc.multiply(gc.where(mask, 0.0, x), x, name="y")
    program = run_passes([total, y], {x: (2, 3)}, Fuse(), PlanMemory())
    plan = program.annotations["memory"]
    assert ("y", "mask") not in [(a.name, b.name) for a, b in plan.in_place]
    for value, donor in plan.in_place:
        assert value.dtype.itemsize == donor.dtype.itemsize


def test_memory_plan_never_overlaps_live_values(graph, rng):
    x = gc.placeholder(gc.float32, (None, 8), name="x")
    h = x
    for i in range(4):
        w = gc.Variable(rng.standard_normal((8, 8)).astype(np.float32), name=f"w{i}")
        h = gc.tanh(gc.matmul(h, w))
    loss = gc.reduce_sum(h * h)
    grads = gc.gradients(loss, gc.trainable_variables(graph))
    program = passes.compile_program([loss] + grads, {x: (5, 8)}).program
    kernels = program.annotations["kernels"].kernels
    plan = program.annotations["memory"]
    born = {k.root: i for i, k in enumerate(kernels)}
    last = {}
    for i, k in enumerate(kernels):
        for v in k.inputs:
            last[v] = i
    for out in program.outputs:
        last[out] = len(kernels)
    donors = {d for _, d in plan.in_place}
    values = list(plan.slot_of)
    for a in values:
        for b in values:
            if a is b or plan.slot_of[a] != plan.slot_of[b] or born[a] > born[b]:
                continue
            # b is written while a is still needed only if b took a's slot in place
            assert last.get(a, born[a]) <= born[b], (a.name, b.name)
            if last.get(a, born[a]) == born[b]:      # a dies where b is made: in place only
                assert (b, a) in plan.in_place and a in donors
    assert plan.peak_bytes < plan.naive_bytes


def test_dump_prints_after_every_pass(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    y = gc.reduce_sum(gc.exp(x) * 1.0)
    text_out = gc.passes.dump([y], {x: (2, 3)})
    for name in ["prune", "specialize", "fold", "cse", "simplify", "fuse", "memory"]:
        assert f"// after {name}:" in text_out
    assert "kernel 0 reduction" in text_out and "// memory: arena" in text_out


def test_print_after_from_the_environment(graph, monkeypatch, capsys):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    monkeypatch.setenv("GRAPHC_PRINT_AFTER", "fuse")
    gc.passes.compile_program([gc.exp(x)], {x: (2, 3)})
    err = capsys.readouterr().err
    assert "// after fuse:" in err and "// after simplify:" not in err


def test_a_broken_pass_is_caught_by_verification(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")

    class DropRoots:
        name = "drop-roots"

        def run(self, program):
            return program.with_changes(nodes=program.nodes[:1]), {}

    with pytest.raises(passes.PassError, match="after drop-roots: root 'exp' is missing"):
        passes.compile_program([gc.exp(x)], {x: (2, 3)}, passes=[Prune(), DropRoots()])
