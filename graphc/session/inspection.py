"""`Session.inspect`: the stages of a compiled run, as text, for debugging and docs."""
from __future__ import annotations

from dataclasses import dataclass

from ..runtime.fetches import flatten_fetches
from ..runtime.program import Program


@dataclass
class Inspection:
    passes: str            # per-pass node counts, statistics and timings
    program: str           # the optimised program: kernels, views and memory plan
    loop_ir: str | None = None
    llvm_ir: str | None = None
    assembly: str | None = None

    def __str__(self) -> str:
        parts = [("passes", self.passes), ("kernels", self.program),
                 ("loop IR", self.loop_ir), ("LLVM IR", self.llvm_ir)]
        return "\n\n".join(f"// ---- {title}\n{text}" for title, text in parts if text)


def inspect_run(session, fetches, feed_dict) -> Inspection:
    from .. import passes
    flat = list(dict.fromkeys(flatten_fetches(session.graph, fetches)))
    feeds = session._convert_feeds(feed_dict)
    program = Program.build(session.graph, flat, sorted(feeds, key=_node_id))
    shapes = {ph: value.shape for ph, value in feeds.items()}
    if session.backend.name == "llvm":
        from ..codegen.llvm.jit import assembly_of
        exe = session.backend.executable(program, shapes)
        return Inspection(exe.pipeline.report(), passes.describe(exe.program),
                          str(exe.lowered), exe.llvm_ir, assembly_of(exe.llvm_ir))
    result = passes.run_pipeline(program, passes.default_passes(shapes), print_after=())
    return Inspection(result.report(), passes.describe(result.program))


def _node_id(node):
    return node.id
